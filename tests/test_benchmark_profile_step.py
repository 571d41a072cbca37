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


def test_the_rows_add_up_to_the_step_with_the_phases_back_to_back_apart_from_python():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--repeats", "1", "--budget", "0.002",
                             "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    step_ms = float(out.split("engine step ", 1)[1].split(" ms", 1)[0])
    rows = {cells[1].strip(): cells for cells in (line.split("|") for line in out.splitlines()
                                                   if line.startswith("| ") and not line.startswith("| phase"))}
    assert {"back to back", "Python + rest", "Adam x4"} <= set(rows)
    total_us = sum(float(cells[4]) for cells in rows.values())
    assert abs(total_us / 1e3 - step_ms) < 0.001 + 0.0001 * len(rows)  # each row rounded to 0.1 us
    assert float(rows["Adam x4"][8]) > 0  # each phase's time inside the sequence
    assert float(rows["Adam x4"][9]) > 0 and rows["Python + rest"][9].strip() == "-"  # each phase from memory
