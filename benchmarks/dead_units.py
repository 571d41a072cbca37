"""The first layer's weight gradient with and without skipping dead units' rows (ops/linear.py _weight_grad).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dead_units.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dead_units.py --batches 64 512 --warmup 300

For each batch size, peers.py's step (784-256-10, ReLU, cross-entropy, Adam lr 1e-3, its four batches) is
trained `--warmup` steps in the engine; then, on the gradient dL/dz of the hidden layer and the batch of the
last step, dW1 = dL/dz^T x is timed as the whole product (one BLAS call) and as _weight_grad computes it
(live units' rows only), alternating in `--blocks` blocks: the share of dead units (no gradient on any row),
median microseconds of each and their ratio, and whether the two agree (dead rows bit for bit, live rows to
float32 roundoff).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import HIDDEN, IN, OUT, batches  # noqa: E402

import tinygrad_opt as tg  # noqa: E402
import tinygrad_opt.nn.functional as F  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
from tinygrad_opt.ops import linear  # noqa: E402


def trained_gradient(batch: int, warmup: int):
    """(dL/dz of the hidden layer, x) after `warmup` steps of peers.py's loop."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    data = [(tg.Tensor(x), tg.Tensor(y)) for x, y in batches(batch)]
    for i in range(warmup):
        x, y = data[i % len(data)]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    x, y = data[warmup % len(data)]
    first, last = model[0], model[2]
    z = x.data @ first.weight.data.T + first.bias.data
    a = np.maximum(z, 0)
    logits = a @ last.weight.data.T + last.bias.data
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(batch), y.data] -= 1
    g = (p / batch).astype(np.float32) @ last.weight.data
    g[z <= 0] = 0
    return np.ascontiguousarray(g, np.float32), x.data


def timed(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 512, 4096])
    parser.add_argument("--warmup", type=int, default=1000, help="training steps before the gradient is taken")
    parser.add_argument("--blocks", type=int, default=9)
    args = parser.parse_args()
    print(f"skipping from {linear.SKIP_DEAD_FROM_ROWS} rows; numpy {np.__version__}")
    print("| batch | dead units | whole product (us) | live rows only (us) | ratio | agree |")
    print("|---:|---:|---:|---:|---:|---|")
    for batch in args.batches:
        g, x = trained_gradient(batch, args.warmup if batch < 4096 else min(args.warmup, 300))
        dead = float((g == 0).all(axis=0).mean())
        out = np.empty((HIDDEN, IN), np.float32)
        whole = g.T @ x
        skipped = linear._weight_grad(g, x)
        dead_rows = (g == 0).all(axis=0)
        agree = (np.array_equal(whole[dead_rows].view(np.uint32), skipped[dead_rows].view(np.uint32))
                 and np.allclose(whole, skipped, rtol=1e-4, atol=1e-6))
        calls = max(3, int(2e5 // batch))
        whole_us, skip_us = [], []
        for _ in range(args.blocks):
            whole_us.append(timed(lambda: np.matmul(g.T, x, out=out), calls))
            skip_us.append(timed(lambda: linear._weight_grad(g, x, out), calls))
        w, s = statistics.median(whole_us), statistics.median(skip_us)
        print(f"| {batch} | {dead:.0%} | {w:.1f} | {s:.1f} | {s / w:.2f} | {'yes' if agree else 'NO'} |", flush=True)
        if not agree:
            sys.exit(f"B={batch}: the skipped product does not agree with the whole one")


if __name__ == "__main__":
    main()
