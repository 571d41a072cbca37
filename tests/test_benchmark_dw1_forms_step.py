"""benchmarks/dw1_forms_step.py runs: dW1's forms inside the whole step, each checked for the engine's bits (smoke run)."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "dw1_forms_step.py"


def test_each_form_of_dw1_is_timed_in_the_plain_and_the_captured_step():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--blocks", "1", "--steps", "24"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # it exits non-zero where a form's bits differ from g1^T x
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| 8 |")]
    assert [cells[1].strip() for cells in rows] == ["plain", "captured"]
    assert all(float(cell) > 0 for cells in rows for cell in cells[2:])  # steps/s of four forms, three ratios
    assert len(rows[0]) == 2 + 4 + 3
