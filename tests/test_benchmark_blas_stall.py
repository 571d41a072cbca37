"""benchmarks/blas_stall.py runs: the captured step with BLAS's stall check on and off (smoke run)."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "blas_stall.py"


def test_both_arms_are_timed():
    result = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "0.2", "--rounds", "1", "--competitors", "0",
                             "--blind"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in result.stdout.splitlines()
            if line.startswith("| on ") or line.startswith("| off ")}
    assert set(rows) == {"on", "off"}
    assert all(float(cells[0]) > 0 for cells in rows.values())  # steps/s
