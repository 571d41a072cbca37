"""Forward + backward time of the nn layers and losses: the engine vs PyTorch CPU, same inputs.

One row per op and size: median microseconds per call over REPEATS interleaved blocks, and
the ratio engine / torch (below 1: the engine is faster). The cross_entropy row is the
fused training path (N, C) with integer targets; "cross_entropy_w" takes class weights and
ignore_index, the general path (log_softmax + weighted NLL).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/nn_overhead.py
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import tinygrad_opt as tg  # noqa: E402
import tinygrad_opt.nn.functional as F  # noqa: E402

OPS = ["cross_entropy", "cross_entropy_w", "nll_loss", "gelu", "gelu_tanh", "silu", "mish", "softplus", "elu",
       "leaky_relu", "layer_norm", "embedding", "smooth_l1_loss", "binary_cross_entropy"]


def inputs(op: str, n: int, rng: np.random.Generator):
    """(float input array, extra arguments) for an n-row case; classes/features are 10 and 64."""
    if op in ("cross_entropy", "cross_entropy_w", "nll_loss"):
        return rng.standard_normal((n, 10)).astype(np.float32), rng.integers(0, 10, n)
    if op == "embedding":
        return rng.standard_normal((1000, 64)).astype(np.float32), rng.integers(0, 1000, n)
    if op in ("smooth_l1_loss", "binary_cross_entropy"):
        return rng.uniform(0.05, 0.95, (n, 64)).astype(np.float32), rng.uniform(0, 1, (n, 64)).astype(np.float32)
    return rng.standard_normal((n, 64)).astype(np.float32), None


def engine_call(op: str, x, extra):
    weight = tg.Tensor(np.linspace(0.5, 1.5, 10).astype(np.float32))
    target = tg.Tensor(extra) if extra is not None else None
    return {
        "cross_entropy": lambda: F.cross_entropy(x, target),
        "cross_entropy_w": lambda: F.cross_entropy(x, target, weight, ignore_index=3),
        "nll_loss": lambda: F.nll_loss(x, target),
        "gelu": lambda: F.gelu(x).sum(), "gelu_tanh": lambda: F.gelu(x, approximate="tanh").sum(),
        "silu": lambda: F.silu(x).sum(), "mish": lambda: F.mish(x).sum(), "softplus": lambda: F.softplus(x).sum(),
        "elu": lambda: F.elu(x).sum(), "leaky_relu": lambda: F.leaky_relu(x).sum(),
        "layer_norm": lambda: F.layer_norm(x, (64,)).sum(),
        "embedding": lambda: F.embedding(target, x).sum(),
        "smooth_l1_loss": lambda: F.smooth_l1_loss(x, target),
        "binary_cross_entropy": lambda: F.binary_cross_entropy(x, target),
    }[op]


def torch_call(op: str, x, extra):
    import torch  # noqa: PLC0415
    import torch.nn.functional as TF  # noqa: PLC0415

    weight = torch.linspace(0.5, 1.5, 10)
    target = torch.from_numpy(extra) if extra is not None else None
    return {
        "cross_entropy": lambda: TF.cross_entropy(x, target),
        "cross_entropy_w": lambda: TF.cross_entropy(x, target, weight, ignore_index=3),
        "nll_loss": lambda: TF.nll_loss(x, target),
        "gelu": lambda: TF.gelu(x).sum(), "gelu_tanh": lambda: TF.gelu(x, approximate="tanh").sum(),
        "silu": lambda: TF.silu(x).sum(), "mish": lambda: TF.mish(x).sum(), "softplus": lambda: TF.softplus(x).sum(),
        "elu": lambda: TF.elu(x).sum(), "leaky_relu": lambda: TF.leaky_relu(x).sum(),
        "layer_norm": lambda: TF.layer_norm(x, (64,)).sum(),
        "embedding": lambda: TF.embedding(target, x).sum(),
        "smooth_l1_loss": lambda: TF.smooth_l1_loss(x, target),
        "binary_cross_entropy": lambda: TF.binary_cross_entropy(x, target),
    }[op]


def timed(call, x, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        x.grad = None
        call().backward()
    return (time.perf_counter() - start) / inner * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 4096], help="rows of each input")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing blocks per engine")
    parser.add_argument("--ops", nargs="+", default=OPS, choices=OPS)
    args = parser.parse_args()
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    print(f"{'op':22s} {'rows':>6s} {'engine us':>10s} {'torch us':>10s} {'ratio':>6s}")
    for op in args.ops:
        for n in args.sizes:
            array, extra = inputs(op, n, np.random.default_rng(0))
            ours = tg.Tensor(array, requires_grad=True)
            theirs = torch.tensor(array, requires_grad=True)
            engine, reference = engine_call(op, ours, extra), torch_call(op, theirs, extra)
            inner = max(3, int(20000 / n))
            timed(engine, ours, inner), timed(reference, theirs, inner)  # warm-up (Numba compiles)
            e_times, t_times = [], []
            for _ in range(args.repeats):
                e_times.append(timed(engine, ours, inner))
                t_times.append(timed(reference, theirs, inner))
            e, t = statistics.median(e_times), statistics.median(t_times)
            print(f"{op:22s} {n:6d} {e:10.1f} {t:10.1f} {e / t:6.2f}", flush=True)


if __name__ == "__main__":
    main()
