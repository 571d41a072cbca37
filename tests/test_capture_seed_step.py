"""The seed's step (784-256-10, ReLU, cross-entropy, Adam, float32, batch 64) replays bit for bit what eager computes.

Its first layer takes the weight-first product (ops.linear._weight_first) and the fused turn-back pass, the
shapes the small models of test_capture.py never reach.
"""
from __future__ import annotations

import warnings

import numpy as np

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, ops
from tinygrad_opt.capture import CaptureWarning

BATCH, IN, HIDDEN, OUT = 64, 784, 256, 10


def seed_step(seed: int = 0):
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    optimizer = tg.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    return model, optimizer, step


def test_the_seed_step_replays_bit_for_bit():
    # OpenBLAS's bits for the K=784 forward differ between one and two threads, and "auto" may change the count
    # between an eager and a replayed step on a busy machine (benchmarks/README.md, the 64-row products): fix it
    policy = tg.kernels.get_blas_threads()
    tg.kernels.set_blas_threads(2)
    try:
        _seed_step_replays_bit_for_bit()
    finally:
        tg.kernels.set_blas_threads(policy)


def _seed_step_replays_bit_for_bit():
    rng = np.random.default_rng(1)
    data = [(tg.Tensor(rng.random((BATCH, IN), dtype=np.float32)), tg.Tensor(rng.integers(0, OUT, BATCH)))
            for _ in range(3)]
    assert ops.linear._weight_first(data[0][0].data, np.zeros((HIDDEN, IN), np.float32))
    eager_model, eager_opt, eager_step = seed_step()
    model, optimizer, step = seed_step()
    compiled = tg.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        for i in range(6):
            x, y = data[i % len(data)]
            assert compiled(x, y).data.tobytes() == eager_step(x, y).data.tobytes(), i
    assert compiled.replaying and compiled.plan.ops == ["LinearReLULinear", "CrossEntropy"]
    for p, q in zip(eager_model.parameters(), model.parameters()):
        assert p.data.tobytes() == q.data.tobytes()
        for key in ("exp_avg", "exp_avg_sq"):
            assert eager_opt.state[p][key].tobytes() == optimizer.state[q][key].tobytes()
