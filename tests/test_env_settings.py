"""The package's environment variables (kernels/environment.py): each one checked the same way where it is read,
a bad value a clear EnvironmentSettingError in Python and one line with exit code 2 on the command line."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_opt as tg
from tinygrad_opt import cli
from tinygrad_opt.capture import fusion, into
from tinygrad_opt.kernels import background, blas_threads, environment, gemm_job, heap, parallel, registry

ROOT = Path(__file__).resolve().parents[1]
VARIABLES = sorted(environment.VARIABLES)
BAD = {  # a value each variable refuses (for a switch, one that used to mean "on" silently)
    "TINYGRAD_OPT_KERNELS": "bogus",
    "TINYGRAD_OPT_BLAS_THREADS": "0",
    "TINYGRAD_OPT_BACKGROUND_COMPILE": "off",
    "TINYGRAD_OPT_SHARED_UPDATES": "false",
    "TINYGRAD_OPT_TEAM_PRODUCTS": "no",
    "TINYGRAD_OPT_CAPTURE_BUFFERS": "yes",
    "TINYGRAD_OPT_CAPTURE_FUSION": "2",
    "TINYGRAD_OPT_MALLOC": "sometimes",
    "TINYGRAD_OPT_QUIET": "on",
    "TINYGRAD_OPT_DEBUG": "true",
}


@pytest.fixture
def clean_environment(monkeypatch):
    """No variable of the table set, so each test sets only the ones it means to."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_variable_the_package_reads_is_in_the_table_and_the_readme():
    sources = [*ROOT.joinpath("tinygrad_opt").rglob("*.py"), *ROOT.joinpath("kernels").rglob("*.py")]
    named = {name for path in sources for name in re.findall(r"TINYGRAD_OPT_[A-Z_]+", path.read_text())}
    assert named == set(VARIABLES) | {"TINYGRAD_OPT_DATA"}  # a folder, checked where the data is read
    readme = ROOT.joinpath("README.md").read_text()
    for name in [*VARIABLES, "TINYGRAD_OPT_DATA"]:
        assert f"| `{name}`" in readme, f"README's settings table lacks {name}"


@pytest.mark.parametrize("name", VARIABLES)
def test_a_bad_value_names_the_variable_the_value_what_it_accepts_and_what_to_do(clean_environment, name):
    clean_environment.setenv(name, BAD[name])
    with pytest.raises(tg.EnvironmentSettingError) as caught:
        environment.read(name)
    error = caught.value
    assert isinstance(error, ValueError) and error.variable == name and error.value == BAD[name]
    message = str(error)
    assert f"environment variable {name} must be {environment.VARIABLES[name].accepted()}" in message
    assert f"got {BAD[name]!r}" in message and "unset it for the default" in message
    assert "\n" not in message


@pytest.mark.parametrize("name, value, expected", [
    ("TINYGRAD_OPT_KERNELS", "auto", "auto"), ("TINYGRAD_OPT_KERNELS", "numba", "numba"),
    ("TINYGRAD_OPT_KERNELS", " Reference ", "reference"), ("TINYGRAD_OPT_KERNELS", "", "auto"),
    ("TINYGRAD_OPT_BLAS_THREADS", "auto", "auto"), ("TINYGRAD_OPT_BLAS_THREADS", "OFF", "off"),
    ("TINYGRAD_OPT_BLAS_THREADS", "1", 1), ("TINYGRAD_OPT_BLAS_THREADS", " 12 ", 12),
    ("TINYGRAD_OPT_BLAS_THREADS", "", "auto"),
    ("TINYGRAD_OPT_MALLOC", "keep", "keep"), ("TINYGRAD_OPT_MALLOC", "System", "system"),
    ("TINYGRAD_OPT_BACKGROUND_COMPILE", "0", False), ("TINYGRAD_OPT_BACKGROUND_COMPILE", "1", True),
    ("TINYGRAD_OPT_BACKGROUND_COMPILE", "", True), ("TINYGRAD_OPT_SHARED_UPDATES", " 0 ", False),
    ("TINYGRAD_OPT_TEAM_PRODUCTS", "1", True),
    ("TINYGRAD_OPT_CAPTURE_BUFFERS", "0", False), ("TINYGRAD_OPT_CAPTURE_FUSION", "1", True),
    ("TINYGRAD_OPT_QUIET", "1", True), ("TINYGRAD_OPT_QUIET", "", False), ("TINYGRAD_OPT_DEBUG", "0", False),
])
def test_each_documented_spelling_is_read_as_its_value_and_empty_as_the_default(clean_environment, name, value,
                                                                                 expected):
    clean_environment.setenv(name, value)
    assert environment.read(name) == expected and type(environment.read(name)) is type(expected)


@pytest.mark.parametrize("value", ["-1", "2.5", "+", "three", "²", "auto1", "1 2"])
def test_a_thread_count_is_a_whole_number_from_1(clean_environment, value):
    clean_environment.setenv("TINYGRAD_OPT_BLAS_THREADS", value)
    with pytest.raises(tg.EnvironmentSettingError, match="'auto', 'off' or a thread count >= 1"):
        environment.read("TINYGRAD_OPT_BLAS_THREADS")


def test_check_environment_reports_the_bad_one_and_passes_the_defaults(clean_environment):
    tg.kernels.check_environment()
    clean_environment.setenv("TINYGRAD_OPT_CAPTURE_FUSION", "no")
    with pytest.raises(tg.EnvironmentSettingError, match="TINYGRAD_OPT_CAPTURE_FUSION"):
        tg.kernels.check_environment()


# Where each setting is first used: (the module's cached value to forget, the first use, its value for "0"-ish)
FIRST_USES = {
    "TINYGRAD_OPT_KERNELS": ((registry, "_mode"), registry.get_mode, "reference", "reference"),
    "TINYGRAD_OPT_BLAS_THREADS": ((blas_threads, "_policy"), blas_threads.get_blas_threads, "3", 3),
    "TINYGRAD_OPT_BACKGROUND_COMPILE": ((background, "_enabled"), background.enabled, "0", False),
    "TINYGRAD_OPT_SHARED_UPDATES": ((parallel, "shared_updates"), parallel.shares_updates, "0", False),
    "TINYGRAD_OPT_TEAM_PRODUCTS": ((gemm_job, "team_products"), gemm_job.takes_products, "0", False),
    "TINYGRAD_OPT_CAPTURE_BUFFERS": ((into, "enabled"), into.is_enabled, "0", False),
    "TINYGRAD_OPT_CAPTURE_FUSION": ((fusion, "enabled"), fusion.is_enabled, "0", False),
    "TINYGRAD_OPT_MALLOC": ((heap, "_applied"), heap.keep_freed_memory, "system", False),
}


@pytest.mark.parametrize("name", sorted(FIRST_USES))
def test_the_first_use_reads_the_variable_once_through_the_table(clean_environment, name):
    (module, cached), first_use, good, value = FIRST_USES[name]
    clean_environment.setattr(module, cached, None)  # as in a fresh process
    clean_environment.setenv(name, BAD[name])
    with pytest.raises(tg.EnvironmentSettingError, match=name):
        first_use()
    clean_environment.setenv(name, good)
    assert first_use() == value
    clean_environment.setenv(name, BAD[name])
    assert first_use() == value  # kept: the environment is not read again


# ---- the command line ---------------------------------------------------------------------------------

def one_line_naming(code: int, err: str, name: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    assert err.startswith(f"tinygrad-opt: error: environment variable {name} ") and repr(BAD[name]) in err, err


@pytest.mark.parametrize("name", VARIABLES)
def test_the_cli_reports_a_bad_variable_in_one_line_before_any_work(clean_environment, capsys, tmp_path, name):
    clean_environment.setenv(name, BAD[name])
    out = tmp_path / "run"
    code = cli.main(["train", "--hidden", "8", "--epochs", "1", "--quiet", "--out", str(out)])
    one_line_naming(code, capsys.readouterr().err, name)
    assert not out.exists()


def test_the_debug_variable_shows_the_traceback_of_a_bad_setting(clean_environment):
    clean_environment.setenv("TINYGRAD_OPT_DEBUG", "1")
    clean_environment.setenv("TINYGRAD_OPT_MALLOC", "sometimes")
    with pytest.raises(tg.EnvironmentSettingError, match="TINYGRAD_OPT_MALLOC"):
        cli.main(["--help"])


def console_script() -> str:
    script = shutil.which("tinygrad-opt", path=str(Path(sys.executable).parent)) or shutil.which("tinygrad-opt")
    if script is None:
        pytest.skip("the tinygrad-opt console script is not installed (pip install -e .)")
    return script


@pytest.mark.parametrize("entry", ["console script", "python -m"])
@pytest.mark.parametrize("name", VARIABLES)
def test_a_fresh_process_exits_2_with_one_line(tmp_path, name, entry):
    """A fresh process: the package's import reads no variable, and both entry points check them all first."""
    command = [console_script()] if entry == "console script" else [sys.executable, "-m", "tinygrad_opt"]
    env = {k: v for k, v in os.environ.items() if k not in environment.VARIABLES}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")  # this checkout's package
    out = tmp_path / "run"
    done = subprocess.run([*command, "train", "--epochs", "1", "--out", str(out)], capture_output=True, text=True,
                          env={**env, name: BAD[name]}, cwd=tmp_path, timeout=120)
    one_line_naming(done.returncode, done.stderr, name)
    assert done.stdout == "" and not out.exists()


def test_a_fresh_library_import_succeeds_and_the_first_use_raises_the_error():
    code = ("import tinygrad_opt as tg\nfrom tinygrad_opt import nn\nprint('imported', flush=True)\n"
            "nn.Linear(3, 2)(tg.randn(4, 3))\n")
    env = {k: v for k, v in os.environ.items() if k not in environment.VARIABLES}
    env = {**env, "TINYGRAD_OPT_BLAS_THREADS": "many", "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stdout == "imported\n", done.stderr
    assert "tinygrad_opt.errors.EnvironmentSettingError: environment variable TINYGRAD_OPT_BLAS_THREADS" in done.stderr
