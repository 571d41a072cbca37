"""benchmarks/two_core_step.py runs: each form of the two-core step matches the replay's bits and is timed (smoke run)."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "two_core_step.py"
FORMS = ["lean", "halves", "halves-wholefwd", "halves-backward"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_every_form_gives_the_replays_parameters_bit_for_bit():
    result = _run("--check", "--batches", "16,100", "--steps", "3")
    assert result.returncode == 0, result.stdout + result.stderr  # non-zero where a form's bits differ
    if "out of reach" in result.stdout:
        pytest.skip("threadpoolctl is not installed (scikit-learn of the dev extra brings it): the probe times nothing")
    verdicts = [line.split()[0] for line in result.stdout.splitlines() if "bit for bit: True" in line]
    assert verdicts == FORMS * 2


def test_each_form_is_timed_against_the_replay():
    result = _run("--batches", "16", "--rounds", "1", "--seconds", "0.01")
    assert result.returncode == 0, result.stderr
    if "out of reach" in result.stdout:
        pytest.skip("threadpoolctl is not installed (scikit-learn of the dev extra brings it): the probe times nothing")
    summary = next(line for line in result.stdout.splitlines() if line.startswith("B=16: replay"))
    for form in FORMS:
        assert f"{form} " in summary and "x lean)" in summary
    blocks = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("    ")}
    assert set(blocks) == {"replay", *FORMS}
    assert all(float(v) > 0 for line in blocks.values() for v in line.split("[")[1].rstrip("]").split(","))
