"""benchmarks/gemm_forms.py runs: every product of the seed's step in each of its forms, and torch's, each NumPy form
marked with whether it gives the engine's bits on this CPU (smoke run)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gemm_forms.py"
sys.path.insert(0, str(SCRIPT.parent))
import gemm_forms  # noqa: E402

ENGINE_FORMS = {"fwd1": "(W1 x^T)^T (N,T), out turned, BLAS x2", "fwd2": "a W2^T (N,T), BLAS x2",
                "dW2": "g^T a (T,N), BLAS x2", "da": "g W2 (N,N), BLAS x2", "dW1": "g1^T x (T,N), BLAS x2"}


def test_every_product_is_timed_in_each_form():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--budget", "0.002", "--blocks", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("| 8 |")]
    forms = {(cells[1], cells[3]) for cells in rows}
    assert {product for product, _ in forms} == {"fwd1", "fwd2", "dW2", "da", "dW1"}
    assert ("fwd1", "(W1 x^T)^T (N,T), out turned, BLAS x2") in forms
    assert ("dW1", "g1^T x, split by dW1 columns, caller + resident helper") in forms
    assert ("dW1", "(x^T g1)^T, turned back (Numba, 16 columns a store), BLAS x2") in forms
    assert ("da", "g W2, a Numba loop over rows (BLAS not used), BLAS x1") in forms
    assert ("B=8 dW1 as (x^T g1)^T turned back: the same bits as g1^T x" in result.stdout
            or "B=8 dW1 as (x^T g1)^T turned back: other bits on this CPU than g1^T x" in result.stdout)
    assert all(float(cells[4]) > 0 for cells in rows)  # median microseconds
    for cells in rows:  # every NumPy form is marked: the engine's bits or other bits; the engine's own form agrees
        if cells[3].startswith("torch.mm"):
            assert cells[8] == "not compared"
        elif cells[3] == ENGINE_FORMS[cells[1]]:  # at B = 8 the engine computes the first layer weight first
            assert cells[8] == "the engine's"
        else:
            assert cells[8] in ("the engine's", "other bits on this CPU")
    if importlib.util.find_spec("torch") is not None:
        assert ("dW1", "torch.mm g1^T x, x2") in forms
    assert "SGEMM 2048^3:" in result.stdout


def test_a_form_with_other_bits_is_marked(monkeypatch):
    monkeypatch.setattr(gemm_forms, "set_blas_threads", lambda threads: None)  # this process's BLAS left alone
    product = np.arange(6.0).reshape(2, 3)
    cases = {"g1^T x (T,N), BLAS x2": (2, lambda: None, lambda: product),
             "rounded": (1, lambda: None, lambda: np.nextafter(product, np.inf)),
             "equal": (1, lambda: None, lambda: product.copy())}
    assert gemm_forms.engine_bits("dW1", 64, cases) == {"g1^T x (T,N), BLAS x2": "the engine's",
                                                        "rounded": "other bits on this CPU", "equal": "the engine's"}
