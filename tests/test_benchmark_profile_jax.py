"""benchmarks/profile_jax.py: a smoke run where JAX is installed, and its one-line exit where it is not."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "profile_jax.py"


def test_without_jax_it_says_so_and_exits_0(tmp_path):
    (tmp_path / "jax.py").write_text("raise ImportError('no JAX here', name='jax')\n")  # shadows any real JAX
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8"], capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "profile_jax: JAX or optax is not installed (jax); nothing to profile"]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("optax") is None,
                    reason="JAX and optax are not installed")
def test_every_piece_of_the_step_is_read_and_timed():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--budget", "0.002", "--blocks", "1",
                             "--gap-us", "0", "--trace-steps", "5"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.splitlines() if line.startswith("| ")}
    for piece in ("fwd1", "fwd2", "dW2", "da", "dW1", "Adam x4", "sum of the pieces", "whole step",
                  "10 steps back to back, per step"):
        assert float(rows[piece][1]) > 0 and float(rows[piece][3]) > 0, piece  # JAX us, engine us
    assert "YNNPACK fusion" in rows["fwd1"][0] or "XLA dot" in rows["fwd1"][0]
    assert "contracting 0,0" in rows["dW1"][0]  # g1^T x, as the step's HLO has it
    assert "Adam:" in out and "inside the step" in out and "dW1 inside JAX's step:" in out
    inside = out.split("inside the step", 1)[1].split("\n\n", 1)[0]
    assert "fwd1:" in inside and "dW1:" in inside and "Adam x4:" in inside  # the trace found the step's operations
