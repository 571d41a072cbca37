"""benchmarks/profile_step.py --capture runs: the captured step's phases and its replay line by line (smoke run)."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "profile_step.py"


def test_capture_profiles_the_replayed_step_line_by_line():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--capture", "--repeats", "1",
                             "--budget", "0.002", "--line-steps", "20", "--threads", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "the replay's calls, guard" in out  # the step timed is the captured one
    lines = [row.split("|")[1].strip() for row in out.split("line by line", 1)[1].splitlines() if row.startswith("| `")]
    assert any(line.startswith("`s2 = f0(") for line in lines)  # the first layer's forward
    assert any(line.startswith("`r = e") for line in lines)  # the optimizer's step, an effect
    assert "| the call around it (guard, arguments, result) |" in out
