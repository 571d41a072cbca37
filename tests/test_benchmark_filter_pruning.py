"""benchmarks/filter_pruning.py runs end to end on a small CNN checkpoint (8x8 digits) and reports consistent
figures: the shrunk model's accuracy equals the masked one's, and a speed-up for each timed model."""
import json
import subprocess
import sys
from pathlib import Path

from tinygrad_opt import cli

ROOT = Path(__file__).resolve().parent.parent


def test_filter_pruning_benchmark_runs(tmp_path):
    assert cli.main(["train", "--model", "cnn", "--epochs", "1", "--batch-size", "128", "--quiet",
                     "--out", str(tmp_path / "run")]) == 0
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "filter_pruning.py"), "--checkpoint",
                           str(tmp_path / "run"), "--threads", "1", "--rounds", "2", "--batch", "64", "--int8",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["filters"] == {"dense": [32, 64], "shrunk": [16, 32]}
    assert results["parameters"]["shrunk"] < results["parameters"]["dense"]
    accuracy = results["accuracy"]
    assert accuracy["shrunk"] == accuracy["after pruning"] and "after 1 fine-tuning epochs" in accuracy
    assert set(results["speedup"]) == {"dense", "shrunk", "dense int8", "shrunk int8"}
    assert results["speedup"]["dense"] == 1.0 and results["bytes"]["dense int8"] * 4 < results["bytes"]["dense"] * 1.1
    assert "the dense model's speed" in done.stdout
