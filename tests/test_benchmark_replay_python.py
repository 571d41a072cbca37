"""benchmarks/replay_python.py runs: the tiny step is captured, timed, and --compare checks which package it imported."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "replay_python.py"
# min of 5 blocks of 400 calls: a spike of the machine in one block does not decide, and a block outlasts
# the scheduler's slices (with 50 calls a block, a CI run timed the replay alone above the whole call)
SMALL = ["--blocks", "5", "--calls", "400", "--warmup", "20"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_the_replayed_tiny_step_is_timed():
    result = _run(*SMALL)
    assert result.returncode == 0, result.stderr
    figures = next(line for line in result.stdout.splitlines() if line.strip().startswith("replayed")).split()[1:]
    call, guard, replay = map(float, figures)
    # each the fastest of its own blocks: the replay alone and the whole call are close enough that load can
    # order them either way (two CI runs timed the replay above the call), the guard is a small part
    assert 0 < guard < call and 0 < replay


def test_compare_alternates_two_trees_and_names_the_ratio():
    result = _run("--compare", str(ROOT), str(ROOT), "--rounds", "2", *SMALL)
    assert result.returncode == 0, result.stderr
    rounds = [line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith(ROOT.name + " r")]
    assert rounds == ["r1", "r1", "r2", "r2"]
    assert f"call {ROOT.name} / {ROOT.name}: " in result.stdout
