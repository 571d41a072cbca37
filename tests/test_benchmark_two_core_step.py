"""benchmarks/two_core_step.py runs: each form of the two-core step either matches the replay's bits or is marked as
giving other bits on this CPU, and each is timed (smoke run)."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "two_core_step.py"
FORMS = ["lean", "halves", "halves-wholefwd", "halves-backward"]
OTHER_BITS = "other bits on this CPU"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_every_form_gives_the_replays_parameters_bit_for_bit_or_is_marked():
    result = _run("--check", "--batches", "16,100", "--steps", "3")
    assert result.returncode == 0, result.stdout + result.stderr  # non-zero where a compared form's bits differ
    if "out of reach" in result.stdout:
        pytest.skip("threadpoolctl is not installed (scikit-learn of the dev extra brings it): the probe times nothing")
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("    ")]
    assert [words[0] for words in lines] == FORMS * 2
    for words in lines:
        line = " ".join(words)
        marked = f"{OTHER_BITS}: no inner-axis blocking" in line and line.endswith("not compared")
        assert "bit for bit: True" in line or marked
        if words[0] == "lean":  # the replay's own schedule: its bits on any CPU
            assert "bit for bit: True" in line


def test_each_form_is_timed_against_the_replay():
    result = _run("--batches", "16", "--rounds", "1", "--seconds", "0.01")
    assert result.returncode == 0, result.stderr
    if "out of reach" in result.stdout:
        pytest.skip("threadpoolctl is not installed (scikit-learn of the dev extra brings it): the probe times nothing")
    summary = next(line for line in result.stdout.splitlines() if line.startswith("B=16: replay"))
    for form in FORMS:
        assert f"{form} " in summary
    assert summary.count("x lean)") + summary.count(f"x lean, {OTHER_BITS})") == len(FORMS)
    assert "1.000x lean)" in summary  # lean itself, never marked
    blocks = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("    ")}
    assert set(blocks) == {"replay", *FORMS}
    assert all(float(v) > 0 for line in blocks.values() for v in line.split("[")[1].rstrip("]").split(","))
