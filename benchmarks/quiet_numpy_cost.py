"""What NumPy-silence costs an op: Function.apply of an op with its forward as NumPy runs it vs wrapped in
quiet_numpy.silent (the forward of division, log, exp, ... is; +, -, *, @ are not: README, Differences from
PyTorch), and `with np.errstate(all="ignore")`, the obvious alternative. Tiny tensors, so the per-op
overhead is all there is; the three forms are timed interleaved and the median of REPEATS rounds is printed.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/quiet_numpy_cost.py
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import tinygrad_opt as tg
from tinygrad_opt import ops
from tinygrad_opt.quiet_numpy import silent

CALLS, REPEATS = 20000, 7


def _with_errstate(forward):
    def run(*args, **options):
        with np.errstate(all="ignore"):
            return forward(*args, **options)

    return run


def _variants(op):
    forward = getattr(op.forward, "__wrapped__", op.forward)  # the bare forward, also of a @silent op
    return {
        "numpy": type(op.__name__, (op,), {"forward": staticmethod(forward)}),
        "silent": type(op.__name__, (op,), {"forward": staticmethod(silent(forward))}),
        "errstate": type(op.__name__, (op,), {"forward": staticmethod(_with_errstate(forward))}),
    }


def _per_call_us(op, inputs) -> float:
    start = time.perf_counter()
    for _ in range(CALLS):
        op.apply(*inputs)
    return (time.perf_counter() - start) / CALLS * 1e6


def main() -> None:
    a = tg.tensor(np.linspace(0.5, 1.5, 16, dtype=np.float32))
    b = tg.tensor(np.linspace(1.5, 0.5, 16, dtype=np.float32))
    print(f"{'op':6} {'numpy us':>9} {'silent us':>10} {'errstate us':>12} {'silent/numpy':>13}")
    for name, op, inputs in [("mul", ops.Mul, (a, b)), ("add", ops.Add, (a, b)), ("div", ops.Div, (a, b)),
                             ("log", ops.Log, (a,)), ("exp", ops.Exp, (a,))]:
        variants = _variants(op)
        times = {key: [] for key in variants}
        for _ in range(REPEATS):
            for key, variant in variants.items():
                times[key].append(_per_call_us(variant, inputs))
        t = {key: statistics.median(values) for key, values in times.items()}
        print(f"{name:6} {t['numpy']:9.3f} {t['silent']:10.3f} {t['errstate']:12.3f} {t['silent'] / t['numpy']:13.2f}")


if __name__ == "__main__":
    with tg.no_grad():  # the forward alone: what the decorator adds
        main()
