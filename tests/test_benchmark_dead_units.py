"""benchmarks/dead_units.py runs: after a short training the skipped dW1 agrees with the whole product (smoke run)."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "dead_units.py"


def test_the_skipped_and_the_whole_weight_gradient_are_timed_and_agree():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "128", "--warmup", "60", "--blocks", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # it exits non-zero where the two disagree
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| 128 |")]
    assert len(rows) == 1
    dead, whole_us, skip_us, _, agree = (cell.strip() for cell in rows[0][1:])
    assert dead.endswith("%") and float(whole_us) > 0 and float(skip_us) > 0 and agree == "yes"
