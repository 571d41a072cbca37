"""The notebooks run top to bottom without error, and are committed executed (they read well online).

Each notebook is executed with nbclient in a fresh kernel running this interpreter, so
`python -m pytest` (README's test command, CI's too) executes all of them. They need
nbclient and ipykernel, from the dev extra; without them the execution tests are
skipped with that reason. Run times are printed (`pytest -s tests/test_notebooks.py`)
and kept as the test's `duration` property.
"""
from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL = "tinygrad-opt-tests"
CELL_TIMEOUT = 300  # seconds per cell; each whole notebook is meant to take well under 2 minutes
MAX_IMAGE_KB = 120
EXPECTED = ["00_build_an_engine", "01_backprop_by_hand", "02_gradient_checking", "03_optimizers",
            "04_regularization_schedules_batch_size", "05_pruning_and_compression", "06_cpu_vs_gpu",
            "07_convolutions", "08_gradient_flow"]


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_notebooks_are_there():
    stems = [p.stem for p in NOTEBOOKS]
    for name in EXPECTED:
        assert name in stems, f"notebooks/{name}.ipynb is missing"


def test_the_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Notebooks", 1)[-1].split("\n## ", 1)[0]
    for path in NOTEBOOKS:
        assert f"(notebooks/{path.name})" in section, f"README's Notebooks section does not list {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_outputs_small_and_portable(path):
    nb = _read(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code"
    counts = [c["execution_count"] for c in code]
    assert None not in counts, f"{path.name}: cells {[i for i, n in enumerate(counts) if n is None]} were not executed"
    assert counts == list(range(1, len(code) + 1)), f"{path.name} was not executed top to bottom in one run: {counts}"
    for cell in code:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name} was committed with an error: {out.get('ename')}"
            text = json.dumps(out.get("text", "")) + json.dumps(out.get("data", {}).get("text/plain", ""))
            assert "/work/" not in text and "/home/" not in text, f"{path.name}: an output shows a local path"
            png = out.get("data", {}).get("image/png")
            if png:
                size = len(base64.b64decode(png)) / 1024
                assert size <= MAX_IMAGE_KB, f"{path.name}: a {size:.0f} KB plot; keep figures small (dpi 72)"


def test_build_an_engine_has_exercises_checked_by_gradcheck_and_collapsed_solutions():
    nb = _read(ROOT / "notebooks" / "00_build_an_engine.ipynb")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    source = lambda c: "".join(c["source"])  # noqa: E731
    exercise = next(c for c in code if "return None  # your code" in source(c))
    check = code[code.index(exercise) + 1]
    solution = code[code.index(exercise) + 2]
    assert "tg.gradcheck" in source(check) and "not done yet" in "".join(check["outputs"][0]["text"])
    assert solution["metadata"]["jupyter"]["source_hidden"] is True  # collapsed until the learner opens it
    printed = "".join(solution["outputs"][0]["text"])
    assert printed.count("correct (gradcheck passes)") == 3, printed


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> str:
    """A Jupyter data folder with a kernelspec that starts *this* interpreter (and so this package)."""
    pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks (pip install -e '.[dev]')")
    pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebooks (pip install -e '.[dev]')")
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tinygrad_opt tests", "language": "python",
    }))
    return str(folder)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, kernel_path, monkeypatch, record_property):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", kernel_path + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets a debugger warning on stderr
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        # one BLAS thread: the notebooks' matrices are small, and on a busy CI machine BLAS threads
        # waiting for cores held by other jobs make them many times slower
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError with the failing cell and its traceback
    elapsed = time.perf_counter() - start
    record_property("duration", round(elapsed, 1))
    print(f"\n{path.name}: {elapsed:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
