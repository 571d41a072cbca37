"""benchmarks/switch_ab.py: one engine switch off and on in alternating blocks of one process, each block checked
to have reached (or not) the code the switch turns on."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "switch_ab.py"
sys.path.insert(0, str(SCRIPT.parent))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the register tiles run on the engine's two threads")
@pytest.mark.parametrize("switch, batch", [("fused-forward", 64), ("live-rows", 64), ("two-ended", 64),
                                           ("live-tiles", 128)])
def test_a_switch_that_switches_gives_both_sides_and_their_paired_ratio(switch, batch):
    result = _run(switch, "--batch", str(batch), "--blocks", "2", "--steps", "3")
    assert result.returncode == 0, result.stderr
    line = re.search(rf"^{switch}: off ([0-9.]+) us, on ([0-9.]+) us per step \(medians of 2 blocks\); on/off paired: "
                     r"median ([0-9.]+), mean ([0-9.]+), quartiles ([0-9.]+)-([0-9.]+); fastest block off ([0-9.]+), "
                     r"on ([0-9.]+) us$", result.stdout, re.MULTILINE)
    assert line, result.stdout
    off, on, median, mean, low, high, fastest_off, fastest_on = map(float, line.groups())
    assert 0 < fastest_off <= off and 0 < fastest_on <= on
    assert low <= median <= high and median == pytest.approx(mean, abs=1e-3)  # two pairs: their mean is the median


def test_a_switch_that_does_not_switch_stops_the_run():
    import switch_ab  # noqa: PLC0415

    inert = switch_ab.Switch("inert", "turns nothing", lambda: (lambda on: None, lambda: 0))
    with pytest.raises(SystemExit, match="with inert on, the code it turns on was not reached: the switch does not"):
        switch_ab.measure(inert, batch=16, blocks=1, steps=2)


@pytest.mark.parametrize("args, message", [
    (["fused-forward", "--blocks", "0"], "--blocks must be at least 1, got 0"),
    (["no-such-switch"], "invalid choice: 'no-such-switch'"),
])
def test_bad_arguments_exit_2_with_one_line(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert message in result.stderr
