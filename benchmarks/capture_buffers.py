"""Replay into buffers allocated once vs a fresh output per op: captured steps/s with and without (same process).

The seed MLP step (784-256-10, ReLU, cross-entropy, Adam) at batch 64, 512 and 4096 and the CLI's CNN
(conv32-BN-ReLU-pool-conv64-BN-ReLU-pool-fc128-dropout-fc10, Adam) at batch 64, each through tg.compile
twice: once with the replay writing op outputs into buffers allocated at capture (capture/into.py),
once allocating them afresh as eager does. Rounds alternate between the two (ABBA); medians are reported.
Both replays give the same numbers (tests/test_capture_buffers.py), so only the time differs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/capture_buffers.py

Any other script compares the same way with TINYGRAD_OPT_CAPTURE_BUFFERS=0 (fresh outputs) against
the default, e.g. peers.py's capture row:

    for b in 1 0 1 0; do TINYGRAD_OPT_CAPTURE_BUFFERS=$b python benchmarks/peers.py \
        --frameworks tinygrad_opt-capture --rounds 1; done
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout without installing

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import nn  # noqa: E402
from tinygrad_opt.capture import into  # noqa: E402
from tinygrad_opt.train.models import build_cnn  # noqa: E402


def mlp_case(batch: int):
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    rng = np.random.default_rng(0)
    data = [(tg.Tensor(rng.standard_normal((batch, 784)).astype(np.float32)), tg.Tensor(rng.integers(0, 10, batch)))
            for _ in range(4)]
    return model, data


def cnn_case(batch: int):
    model = build_cnn(1, 10, image_size=28)
    rng = np.random.default_rng(0)
    data = [(tg.Tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)),
             tg.Tensor(rng.integers(0, 10, batch))) for _ in range(4)]
    return model, data


def compiled_step(make, batch: int, buffers: bool, min_bytes: int):
    """A captured training step (recorded on two batches, then replaying) and its batches."""
    tg.manual_seed(0)
    model, data = make(batch)
    optimizer = tg.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    into.enabled, default = buffers, into.MIN_BYTES
    into.MIN_BYTES = min_bytes
    try:
        compiled = tg.compile(step)
        for x, y in data[:3]:
            compiled(x, y)
    finally:
        into.enabled, into.MIN_BYTES = True, default
    if not compiled.replaying:
        raise RuntimeError(f"capture_buffers: the step did not replay: {compiled.eager_reason}")
    return compiled, data


def steps_per_second(compiled, data, steps: int) -> float:
    start = time.perf_counter()
    for i in range(steps):
        x, y = data[i % len(data)]
        compiled(x, y)
    return steps / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per case (median reported)")
    parser.add_argument("--seconds", type=float, default=0.5, help="about how long one round of one variant runs")
    parser.add_argument("--cases", default="mlp64,mlp512,mlp4096,cnn64", help="comma-separated cases")
    parser.add_argument("--min-bytes", type=int, default=into.MIN_BYTES,
                        help="smallest array that gets a buffer (default: the replay's own threshold)")
    args = parser.parse_args(argv)
    makers = {"mlp": mlp_case, "cnn": cnn_case}
    print(f"{'case':<10}{'buffers':>12}{'fresh':>12}{'ratio':>8}{'outputs':>9}{'grads':>7}   "
          f"(captured steps/s, median of {args.rounds}; how many op outputs / gradients have buffers)")
    for case in args.cases.split(","):
        kind, batch = case[:3], int(case[3:])
        variants = {name: compiled_step(makers[kind], batch, name == "buffers", args.min_bytes)
                    for name in ("buffers", "fresh")}
        probe = steps_per_second(*variants["fresh"], 3)
        steps = max(3, int(probe * args.seconds))
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]  # neither always runs first
            for name in order:
                rates[name].append(steps_per_second(*variants[name], steps))
        with_buffers, fresh = statistics.median(rates["buffers"]), statistics.median(rates["fresh"])
        plan = variants["buffers"][0].plan
        print(f"{case:<10}{with_buffers:>12.1f}{fresh:>12.1f}{with_buffers / fresh:>8.3f}"
              f"{len(plan.buffered):>9}{len(plan.grad_buffered):>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
