"""What subnormal floats cost the engine's step, and what tg.set_flush_denormal(True) gives back.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/flush_denormal.py

1. The fused Adam update of the seed's first weight (256 x 784) with the moments of dead units:
   the rows of `--subnormal` (0.42) of the units in the state peers.py's batches leave them in
   after 1500 steps (exp_avg +-4 smallest subnormals, exp_avg_sq 3e-10, no gradient); against the
   same update with normal moments.
2. The seed's whole step (784-256-10, ReLU, cross-entropy, Adam, float32) at `--batch` (64) on
   peers.py's uniform batches: two copies of the model trained `--warm` (1500) steps, one with
   subnormals kept and one with them flushed, then timed in alternating blocks (the mode switched
   between blocks), so load from other processes falls on both alike. The count of subnormal
   exp_avg entries of each copy is printed too.
Medians of `--rounds` blocks; one thread (`--threads`) by default, so the comparison is of the
arithmetic, not of how threads survive load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPDATES = 50  # Adam updates per timed block in part 1
SETTLE = 0.3  # seconds after a change of mode: OpenBLAS's restarted threads spin a moment before they sleep


def set_mode(flush: bool) -> None:
    import tinygrad_opt as tg  # noqa: PLC0415

    tg.set_flush_denormal(flush)
    time.sleep(SETTLE)


def subnormal_count(a) -> int:
    import numpy as np  # noqa: PLC0415

    return int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))


def adam_kernel(rounds: int, share: float) -> dict:
    """Seconds per fused Adam update of a 256x784 float32 weight: normal moments, and `share` of them subnormal."""
    import numpy as np  # noqa: PLC0415

    import tinygrad_opt as tg  # noqa: PLC0415

    update = tg.kernels.get("adam_update", np.empty(1, np.float32))
    rng = np.random.default_rng(0)
    shape = (256, 784)

    def state(subnormal_share: float) -> tuple:
        param = rng.standard_normal(shape, dtype=np.float32)
        grad = np.zeros(shape, np.float32)
        exp_avg = np.full(shape, 1e-4, np.float32)
        exp_avg_sq = np.full(shape, 1e-6, np.float32)
        dead_rows = rng.random(shape[0]) < subnormal_share  # a dead unit's whole row of weights
        # where the seed's dead units settle (peers.py's batches, 1500 steps): exp_avg at +-4 of the smallest
        # subnormal (m + (1 - beta1) * (0 - m) rounds back to m from there), exp_avg_sq near their median 3e-10,
        # so that m / denominator and the step are subnormal too
        dead = int(dead_rows.sum())
        exp_avg[dead_rows] = (4 * np.finfo(np.float32).smallest_subnormal
                              * rng.choice(np.array([-1, 1], np.float32), (dead, shape[1])))
        exp_avg_sq[dead_rows] = 3e-10
        return param, grad, exp_avg, exp_avg_sq

    cases = {}  # name: (flush, arrays); the mode switches between blocks, so all four interleave
    for flush in (False, True):
        for share_here in (0.0, share):
            name = ("normal moments" if share_here == 0 else f"{share:.0%} subnormal") + (", flushed" if flush else "")
            cases[name] = (flush, state(share_here))
    times = {name: [] for name in cases}
    options = dict(step=1000, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                   maximize=False)
    for _ in range(rounds):
        for name, (flush, (param, grad, exp_avg, exp_avg_sq)) in cases.items():
            set_mode(flush)
            saved = exp_avg.copy()  # every block starts from the same moments (a flushed update zeroes them)
            begin = time.perf_counter()
            for _ in range(UPDATES):
                update(param, grad, exp_avg, exp_avg_sq, None, **options)
            times[name].append((time.perf_counter() - begin) / UPDATES)
            exp_avg[...] = saved
    tg.set_flush_denormal(False)
    return {name: statistics.median(t) for name, t in times.items()}


def whole_step(batch: int, warm: int, rounds: int, block: int) -> tuple[dict, dict]:
    import tinygrad_opt as tg  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import peers  # noqa: PLC0415

    cases, counts = {}, {}
    for flush in (False, True):
        tg.set_flush_denormal(flush)
        step, _, _ = peers.tinygrad_opt_case(batch)
        for _ in range(warm):
            step()
        name = "subnormals flushed" if flush else "subnormals kept"
        cases[name] = (flush, step)
        counts[name] = subnormal_count(step.optimizer.state[step.model[0].weight]["exp_avg"])
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (flush, step) in cases.items():
            set_mode(flush)
            begin = time.perf_counter()
            for _ in range(block):
                step()
            times[name].append(block / (time.perf_counter() - begin))
    tg.set_flush_denormal(False)
    return {name: statistics.median(t) for name, t in times.items()}, counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warm", type=int, default=1500, help="steps before timing (moments reach subnormals ~800)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=int, default=200, help="steps per timed block")
    parser.add_argument("--subnormal", type=float, default=0.42, help="share of subnormal moments in part 1")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ["TINYGRAD_OPT_BLAS_THREADS"] = str(args.threads)  # before the engine reads it
    sys.path.insert(0, str(ROOT))  # a checkout without installing

    print(f"{os.cpu_count()} cores, {args.threads} thread(s); load average {os.getloadavg()[0]:.2f}")
    times = adam_kernel(args.rounds, args.subnormal)
    print("\n1. fused Adam update of a 256x784 float32 weight, microseconds per update (median):")
    base = times["normal moments"]
    for name, seconds in times.items():
        print(f"   {name:>29}: {seconds * 1e6:8.1f} us  ({seconds / base:.2f}x)")

    rates, counts = whole_step(args.batch, args.warm, args.rounds, args.block)
    print(f"\n2. the seed's step at batch {args.batch} on peers.py's batches after {args.warm} steps, "
          "steps/s (median):")
    for name, rate in rates.items():
        print(f"   {name:>29}: {rate:8.1f}  ({rate / rates['subnormals kept']:.2f}x); "
              f"subnormal W1 exp_avg entries {counts[name]:,} of {256 * 784:,}")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
