"""benchmarks/step_ab.py: two trees' plain steps in alternating fresh workers, the paired ratio per batch size."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "step_ab.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_a_tree_against_itself_alternates_and_pairs_the_rounds():
    result = _run(str(ROOT), str(ROOT), "--rounds", "2", "--batches", "16", "--budget", "0.02", "--blocks", "1")
    assert result.returncode == 0, result.stderr
    order = re.findall(r"^round (\d) batch 16 ([AB]) ", result.stdout, re.MULTILINE)
    assert order == [("1", "A"), ("1", "B"), ("2", "B"), ("2", "A")]
    rates = [float(x) for x in re.findall(r"\): ([0-9.]+) steps/s", result.stdout)]
    summary = re.search(r"^batch 16: A ([0-9.]+), B ([0-9.]+) steps/s \(medians\); B/A paired by round: median "
                        r"([0-9.]+) \(range ([0-9.]+)-([0-9.]+), 2 rounds\)$", result.stdout, re.MULTILINE)
    assert summary, result.stdout
    a_median, b_median, ratio, low, high = map(float, summary.groups())
    assert a_median == pytest.approx((rates[0] + rates[3]) / 2, rel=1e-3)
    assert b_median == pytest.approx((rates[1] + rates[2]) / 2, rel=1e-3)
    pair_ratios = sorted([rates[1] / rates[0], rates[2] / rates[3]])
    assert (low, high) == pytest.approx(pair_ratios, abs=1e-3)
    assert ratio == pytest.approx(sum(pair_ratios) / 2, abs=1e-3)


@pytest.mark.parametrize("args, message", [
    ([str(ROOT)], "give two trees"),
    ([str(ROOT), "/nonexistent/tree"], "not a checkout of the engine"),
    ([str(ROOT), str(ROOT), "--rounds", "0"], "--rounds must be at least 1, got 0"),
])
def test_bad_arguments_exit_2_with_one_line(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert message in result.stderr
