"""benchmarks/gemm_forms.py runs: every product of the seed's step in each of its forms, and torch's (smoke run)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gemm_forms.py"


def test_every_product_is_timed_in_each_form():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--budget", "0.002", "--blocks", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| 8 |")]
    forms = {(cells[1].strip(), cells[3].strip()) for cells in rows}
    assert {product for product, _ in forms} == {"fwd1", "fwd2", "dW2", "da", "dW1"}
    assert ("fwd1", "(W1 x^T)^T (N,T), out turned, BLAS x2") in forms
    assert ("dW1", "g1^T x, split by dW1 columns, caller + resident helper") in forms
    assert ("dW1", "(x^T g1)^T, turned back (Numba, 16 columns a store), BLAS x2") in forms
    assert ("da", "g W2, a Numba loop over rows (BLAS not used), BLAS x1") in forms
    assert "B=8 dW1 as (x^T g1)^T turned back: the same bits as g1^T x" in result.stdout
    assert all(float(cells[4]) > 0 for cells in rows)  # median microseconds
    if importlib.util.find_spec("torch") is not None:
        assert ("dW1", "torch.mm g1^T x, x2") in forms
    assert "SGEMM 2048^3:" in result.stdout
