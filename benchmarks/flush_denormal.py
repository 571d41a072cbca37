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
3. With --optimizers (a list or `all`), only a table over the engine's CPU optimizer updates (the Numba
   kernels, and the array-level `update` of the optimizers without one: ASGD, Rprop, Adafactor, Muon;
   Adadelta's kernel against its array expressions as `adadelta-numpy`): each one's update of that weight
   without gradient, its normal state against `--subnormal` of the rows with the state that decays
   geometrically without a gradient (momentum buffer, first moment, running averages...) at +-4 smallest
   subnormals (the second moments at +40):
       python benchmarks/flush_denormal.py --optimizers all
   ASGD's and Rprop's state does not decay without a gradient (ASGD's average follows the weight; Rprop's
   step sizes stay within step_sizes, its `prev` is the last gradient): their rows give what a weight or
   a last gradient in the subnormal range would cost.
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


def _dead_state(rng, shape, share: float, decayed: dict, normal: dict, shapes: dict | None = None) -> dict:
    """State arrays `normal` (name: value; None passes None) with the rows of dead units (`share` of them) at
    `decayed`'s values; `shapes` gives the arrays not shaped like the weight (Adafactor's row and column factors)."""
    import numpy as np  # noqa: PLC0415

    tiny = np.finfo(np.float32).smallest_subnormal
    dead_rows = rng.random(shape[0]) < share
    arrays = {}
    for name, value in normal.items():
        if value is None:
            arrays[name] = None
            continue
        a = np.full((shapes or {}).get(name, shape), value, np.float32)
        if name in decayed and dead_rows.any() and a.shape[0] == shape[0]:
            # a value decaying by a factor near 1 settles a few smallest subnormals from zero, where rounding
            # gives it back unchanged: +-4 of them (both signs for a first moment, positive for a second)
            signs = rng.choice(np.array([-1, 1], np.float32), (int(dead_rows.sum()), a.shape[1]))
            a[dead_rows] = decayed[name] * tiny * (signs if decayed[name] < 0 else 1)
        arrays[name] = a
    return arrays


# optimizer: (kernel, normal state, which state decays (multiples of the smallest subnormal; negative: both signs),
# options); a dead unit's decayed state otherwise as in part 1 (a second moment stays normal far longer)
OPTIMIZERS = {
    "sgd": ("sgd_update", {"momentum_buffer": 1e-4}, {"momentum_buffer": -4},
            dict(lr=1e-2, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
                 first_step=False)),
    "rmsprop": ("rmsprop_update", {"square_avg": 1e-6, "grad_avg": 0.0, "momentum_buffer": 0.0},
                {"square_avg": 40}, dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                                         centered=False, maximize=False)),
    "rmsprop+momentum": ("rmsprop_update", {"square_avg": 1e-6, "grad_avg": 0.0, "momentum_buffer": 1e-4},
                         {"momentum_buffer": -4}, dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                                                       momentum=0.9, centered=False, maximize=False)),
    "adam": ("adam_update", {"exp_avg": 1e-4, "exp_avg_sq": 1e-6, "max_exp_avg_sq": 0.0}, {"exp_avg": -4},
             dict(step=1000, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                  maximize=False)),
    "adamw": ("adam_update", {"exp_avg": 1e-4, "exp_avg_sq": 1e-6, "max_exp_avg_sq": 0.0}, {"exp_avg": -4},
              dict(step=1000, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=False,
                   maximize=False, decoupled_weight_decay=True)),
    "adamax": ("adamax_update", {"exp_avg": 1e-4, "exp_inf": 1e-3}, {"exp_avg": -4},
               dict(step=1000, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, maximize=False)),
    "nadam": ("nadam_update", {"exp_avg": 1e-4, "exp_avg_sq": 1e-6}, {"exp_avg": -4},
              dict(step=1000, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, mu=0.95,
                   mu_next=0.95, mu_product=1e-20, decoupled_weight_decay=False, maximize=False)),
    "radam": ("radam_update", {"exp_avg": 1e-4, "exp_avg_sq": 1e-6}, {"exp_avg": -4},
              dict(step=1000, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                   decoupled_weight_decay=False, maximize=False)),
    "lion": ("lion_update", {"exp_avg": 1e-4}, {"exp_avg": -4},
             dict(lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0, maximize=False)),
    "adadelta": ("adadelta_update", {"square_avg": 1e-6, "acc_delta": 1e-6}, {"square_avg": 40, "acc_delta": 40},
                 dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False)),
    # Adadelta's array expressions (its NumPy path before its kernel, and the kernel's reference twin)
    "adadelta-numpy": ("reference.adadelta_update", {"square_avg": 1e-6, "acc_delta": 1e-6},
                       {"square_avg": 40, "acc_delta": 40}, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                                                                maximize=False)),
    # the optimizers without a Numba kernel: their array-level update (optim/NAME.py)
    "asgd": ("asgd", {"ax": 1e-2}, {"ax": -4},
             dict(eta=1e-2, mu=0.5, lambd=1e-4, weight_decay=0.0, maximize=False)),
    "rprop": ("rprop", {"prev": 1e-4, "step_size": 1e-3}, {"prev": -4},
              dict(etaminus=0.5, etaplus=1.2, step_size_min=1e-6, step_size_max=50.0, maximize=False)),
    "adafactor": ("adafactor", {"row_var": 1e-6, "col_var": 1e-6, "variance": None}, {"row_var": 40},
                  dict(step=1000, lr=1e-2, beta2_decay=-0.8, eps1=None, eps2=1e-3, d=1.0, weight_decay=0.0,
                       maximize=False)),
    "muon": ("muon", {"momentum_buffer": 1e-4}, {"momentum_buffer": -4},
             dict(lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, ns_coefficients=(3.4445, -4.7750, 2.0315),
                  ns_steps=5, eps=1e-7, adjust_lr_fn=None)),
}
# state arrays not shaped like the 256x784 weight
STATE_SHAPES = {"adafactor": {"row_var": (256, 1), "col_var": (1, 784)}}


def update_function(kernel: str):
    """A CPU kernel of kernels/cpu.py ("..._update"), a reference ("reference.NAME"), or the array-level `update`
    of optim/KERNEL.py."""
    import importlib  # noqa: PLC0415

    if kernel.startswith("reference."):
        from tinygrad_opt.kernels import reference  # noqa: PLC0415

        return getattr(reference, kernel.partition(".")[2])
    if kernel.endswith("_update"):
        from tinygrad_opt.kernels import cpu  # noqa: PLC0415

        return getattr(cpu, kernel)
    return importlib.import_module(f"tinygrad_opt.optim.{kernel}").update


def optimizer_table(names: list, rounds: int, share: float) -> dict:
    """Seconds per CPU update of a 256x784 float32 weight with no gradient, per optimizer: normal state, and
    `share` of the rows (dead units) with their decaying state subnormal; the cases interleave."""
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(0)
    shape = (256, 784)
    cases = {}
    for name in names:
        kernel, normal, decayed, options = OPTIMIZERS[name]
        for share_here in (0.0, share):
            param = rng.standard_normal(shape, dtype=np.float32)
            state = _dead_state(rng, shape, share_here, decayed, normal, STATE_SHAPES.get(name))
            cases[name, share_here > 0] = (update_function(kernel), param, state, options)
    times = {case: [] for case in cases}
    grad = np.zeros(shape, np.float32)
    set_mode(False)
    for update, param, state, options in cases.values():  # compile (or load) each loop before the timing
        update(param.copy(), grad, *(None if a is None else a.copy() for a in state.values()), **options)
    for _ in range(rounds):
        for case, (update, param, state, options) in cases.items():
            saved = {k: a.copy() for k, a in state.items() if a is not None}
            saved_param = param.copy()
            begin = time.perf_counter()
            for _ in range(UPDATES):
                update(param, grad, *state.values(), **options)
            times[case].append((time.perf_counter() - begin) / UPDATES)
            for k, a in saved.items():
                state[k][...] = a
            param[...] = saved_param
    return {case: statistics.median(t) for case, t in times.items()}


def whole_step(batch: int, warm: int, rounds: int, block: int) -> tuple[dict, dict]:
    import tinygrad_opt as tg  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import peers  # noqa: PLC0415

    cases, counts = {}, {}
    for flush in (False, True):
        tg.set_flush_denormal(flush)
        step, _, wait_for_background = peers.tinygrad_opt_case(batch)
        for _ in range(warm):
            step()
        wait_for_background()  # the timed steps run the loops, not their first-call twins
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
    parser.add_argument("--optimizers", default="",
                        help=f"comma-separated ({','.join(OPTIMIZERS)}) or 'all': only part 3, the table over these")
    args = parser.parse_args(argv)
    names = list(OPTIMIZERS) if args.optimizers == "all" else [n for n in args.optimizers.split(",") if n]
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown:
        parser.error(f"--optimizers: unknown {', '.join(unknown)}; choose from {', '.join(OPTIMIZERS)} or all")
    os.environ["TINYGRAD_OPT_BLAS_THREADS"] = str(args.threads)  # before the engine reads it
    sys.path.insert(0, str(ROOT))  # a checkout without installing

    print(f"{os.cpu_count()} cores, {args.threads} thread(s); load average {os.getloadavg()[0]:.2f}")
    if names:
        table = optimizer_table(names, args.rounds, args.subnormal)
        print(f"\n3. CPU update of a 256x784 float32 weight without gradient, {args.subnormal:.0%} of its rows' "
              "decaying state subnormal, microseconds per update (median):")
        print(f"   {'optimizer':>17}  {'normal':>8}  {'subnormal':>9}  ratio")
        for name in names:
            normal, subnormal = table[name, False], table[name, True]
            print(f"   {name:>17}  {normal * 1e6:8.1f}  {subnormal * 1e6:9.1f}  {subnormal / normal:5.2f}x")
        print(f"\nload average at end {os.getloadavg()[0]:.2f}")
        return
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
