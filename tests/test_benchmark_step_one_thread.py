"""benchmarks/step_one_thread.py runs every framework variant peers.py knows (a smoke run, no timings judged)."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "step_one_thread.py"


def test_variants_of_a_framework_run_and_print_a_row_each():
    # its own process: the script pins every library to one thread before importing them
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--steps", "2", "--frameworks",
                             "tinygrad_opt", "tinygrad_opt-flush", "numpy"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[1].strip() for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["tinygrad_opt", "tinygrad_opt-flush", "numpy"]
