"""benchmarks/first_step.py: the cold worker compiles the first step's kernels, the warm one only loads them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("import", "build", "forward", "backward", "optimizer step", "zero_grad + item")


def test_the_cold_worker_compiles_the_steps_kernels_and_the_warm_one_only_loads_them(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "first_step.py"), "--runs", "1", "--batch", "8",
                           "--threads", "1", "--json", str(tmp_path / "runs.json")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "cold cache" in done.stdout and "warm cache" in done.stdout
    for phase in PHASES:
        assert f"\n  {phase} " in done.stdout
    saved = json.loads((tmp_path / "runs.json").read_text())
    (cold,), (warm,) = saved["cold"], saved["warm"]
    compiled = [e["what"] for e in cold["events"] if e["kind"] == "compile" and e["depth"] == 0]
    loaded = [e["what"] for e in warm["events"] if e["kind"] == "cache load" and e["depth"] == 0]
    assert compiled and loaded == compiled  # the same kernels, in the same order
    assert not [e for e in warm["events"] if e["kind"] == "compile"]
    assert any("adam" in name for name in compiled)
    assert cold["loss"] == warm["loss"]
    for run in (cold, warm):
        assert set(run["phases"]) == set(PHASES)
        assert run["first_step_s"] <= run["to_first_step_s"] <= run["from_launch_s"]
