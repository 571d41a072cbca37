"""TINYGRAD_OPT_BLAS_THREADS=N takes any count >= 1, as torch.set_num_threads takes any positive count: BLAS
applies its own maximum (OpenBLAS: the thread limit it was built with), and the engine's parallel loops start
no more threads than they have pieces of work, so a huge count is neither refused nor a thread explosion."""
import os
import subprocess
import sys

import pytest

from tinygrad_opt.kernels import environment

HUGE = 100_000


def test_a_huge_thread_count_is_accepted_as_torch_accepts_it(monkeypatch):
    monkeypatch.setenv("TINYGRAD_OPT_BLAS_THREADS", str(HUGE))
    assert environment.read("TINYGRAD_OPT_BLAS_THREADS") == HUGE


PROBE = f"""
import threading
import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.kernels import blas_threads
x = tg.randn(128, 256, requires_grad=True)
nn.Linear(256, 256)(x).sum().backward()
nn.Conv2d(1, 8, 3)(tg.randn(16, 1, 12, 12)).sum().backward()
blas = blas_threads._blas()
print(blas_threads.get_blas_threads(), blas.get_num_threads() if blas is not None else 0, threading.active_count())
"""


def test_blas_caps_a_huge_count_and_the_engine_starts_few_threads():
    pytest.importorskip("threadpoolctl")
    env = dict(os.environ, TINYGRAD_OPT_BLAS_THREADS=str(HUGE))
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    policy, blas_count, alive = map(int, done.stdout.split())
    assert policy == HUGE
    assert blas_count < HUGE  # BLAS's own limit (0: no BLAS threadpoolctl reaches)
    assert alive < 64  # the conv's loops: at most one thread per piece of work, not one per requested thread
