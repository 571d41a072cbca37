"""benchmarks/tree_ab.py: trees alternate round by round, and a worker that imported another tree's package is caught."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import tree_ab  # noqa: E402


def test_the_order_alternates_between_rounds():
    assert list(tree_ab.alternating(["a", "b"], 3)) == [(0, "a"), (0, "b"), (1, "b"), (1, "a"), (2, "a"), (2, "b")]


def test_a_worker_reporting_another_package_is_refused(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text('import json; print(json.dumps({"package": "/somewhere/else", "total": 1.0}))\n')
    with pytest.raises(SystemExit, match="imported the package from /somewhere/else"):
        tree_ab.worker_figures(str(script), str(ROOT), [])


def test_a_failing_worker_stops_the_comparison_with_its_error(tmp_path):
    script = tmp_path / "broken_worker.py"
    script.write_text('raise RuntimeError("broken on purpose")\n')
    with pytest.raises(SystemExit, match="broken on purpose"):
        tree_ab.worker_figures(str(script), str(ROOT), [])


def test_step_python_compares_two_trees():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_python.py"), "--compare", str(ROOT),
                             str(ROOT), "--rounds", "2", "--blocks", "1", "--steps", "20", "--warmup", "20"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith(ROOT.name + " r")] \
        == ["r1", "r1", "r2", "r2"]
    assert f"total {ROOT.name} / {ROOT.name}: 1.000" in result.stdout


def test_a_worker_imports_the_kernels_from_its_own_tree_under_an_editable_install(tmp_path):
    """The engine's kernels/ sits beside tinygrad_opt/ and loads as tinygrad_opt.kernels; an editable install of
    this checkout maps that name here through its own import finder, so another tree's worker got this tree's
    kernels. A stand-in tree (its own tinygrad_opt and kernels) must come back whole."""
    (tmp_path / "tinygrad_opt").mkdir()
    (tmp_path / "kernels").mkdir()
    (tmp_path / "tinygrad_opt" / "_kernels_import.py").write_text(
        (ROOT / "tinygrad_opt" / "_kernels_import.py").read_text())
    (tmp_path / "tinygrad_opt" / "__init__.py").write_text(
        "from ._kernels_import import load_kernels\nkernels = load_kernels()\n")
    (tmp_path / "kernels" / "__init__.py").write_text("")
    probe = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import tree_ab; "
             f"tree_ab.use_tree({str(tmp_path)!r}); print(tree_ab.imported_from())")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/tmp", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path.resolve())
