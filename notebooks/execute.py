"""Re-run notebooks top to bottom and store their outputs in place (they are committed executed).

    python notebooks/execute.py                     # every notebook
    python notebooks/execute.py 03_optimizers.ipynb # some

Uses nbclient and ipykernel (both in the dev extra) with a kernel running the interpreter
that runs this script, in the notebooks folder, and prints each notebook's run time. Run
it after editing a notebook, so the committed outputs match its code (tests/test_notebooks.py
checks that every code cell was executed, in order, without errors).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNEL = "tinygrad-opt-notebooks"


def execute(path: Path, timeout: int = 300) -> float:
    """Execute the notebook at `path` in place; returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    kernelspec = dict(nb.metadata.get("kernelspec", {}))
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "kernels" / KERNEL  # a kernel that runs this very interpreter
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python"}))
        os.environ["JUPYTER_PATH"] = folder + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        os.environ["PYTHONPATH"] = str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")  # as tests/test_notebooks.py: steady on a shared machine
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        elapsed = time.perf_counter() - start
    nb.metadata["kernelspec"] = kernelspec or {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                               "language": "python"}
    nbformat.write(nb, path)
    return elapsed


def main(names: list[str]) -> int:
    paths = [HERE / Path(n).name for n in names] if names else sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"{path.name}: ", end="", flush=True)
        print(f"{execute(path):.1f} s, {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
