"""The optimizer step of the seed MLP (784-256-10, Adam) at batch 64: its Python, and two threads against one.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/optimizer_step.py

Three measurements, each in this one process with the variants interleaved block by block (min and
median of the blocks' mean times, microseconds):
1. `opt.step()` on four tiny parameters (the seed model's count): what the step costs besides its kernel, and
   the same step bound to its groups, state and plan as tg.compile's replay calls it (optim/adam_bound.py);
2. `opt.step()` on the seed model's 203,530 parameters right after a 64x784x256 product (as in training,
   BLAS's threads have just worked), the update on the calling thread, shared with the resident helper
   (kernels/parallel.share: what the update does where the spinning team's helper sleeps), and shared with the
   spinning team's helper while it polls (kernels/spin_team.py: here the product runs on one BLAS thread and a
   no-op team job after it, as a product run in halves on the team would leave the machine); sharing is on by
   default, TINYGRAD_OPT_SHARED_UPDATES=0 switches it off for a whole run;
3. the captured training step (peers.py's tinygrad_opt-capture-flush), sharing off and on, with the replay's
   first-layer forward (f0), its backward (b0) and the optimizer step (e4) timed line by line.
`--blocks N` (default 40) blocks per variant.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import optim  # noqa: E402
from tinygrad_opt.kernels import blas_threads, lazy_jit, parallel, spin_team  # noqa: E402


def interleaved(variants: dict, blocks: int, per_block: int) -> dict:
    """{name: [mean seconds per call of each block]}, the variants' blocks alternating in order and reverse."""
    names = list(variants)
    times = {name: [] for name in names}
    for b in range(blocks):
        for name in names if b % 2 == 0 else reversed(names):
            setup, fn = variants[name]
            setup()
            start = time.perf_counter()
            for _ in range(per_block):
                fn()
            times[name].append((time.perf_counter() - start) / per_block)
    return times


def row(label: str, seconds: list) -> str:
    return f"| {label} | {min(seconds) * 1e6:.1f} | {statistics.median(seconds) * 1e6:.1f} |"


def python_overhead(blocks: int) -> list[str]:
    params = [tg.Tensor(np.ones(shape, np.float32), requires_grad=True) for shape in [(3, 2), (3,), (2, 3), (2,)]]
    opt = optim.Adam(params, lr=1e-3)
    for p in params:
        p.grad = tg.Tensor(np.full(p.shape, 1e-2, np.float32))
    opt.step()
    bound = opt._replay_step()  # what a replayed step calls instead (optim/adam_bound.py)
    bound()  # binds
    times = interleaved({"opt.step, four tiny parameters": (lambda: None, opt.step),
                         "the same step bound, as a replay calls it": (lambda: None, bound)}, blocks, 500)
    return [row(name, t) for name, t in times.items()]


def seed_update(blocks: int) -> list[str]:
    rng = np.random.default_rng(0)
    params = [tg.Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
              for shape in [(256, 784), (256,), (10, 256), (10,)]]
    opt = optim.Adam(params, lr=1e-3)
    for p in params:
        p.grad = tg.Tensor((rng.standard_normal(p.shape) * 1e-2).astype(np.float32))
    x, w = rng.standard_normal((64, 784)).astype(np.float32), rng.standard_normal((784, 256)).astype(np.float32)

    spent: list = []
    lazy_jit.start()
    import numba  # noqa: PLC0415 - started just above
    no_op = numba.cfunc("void(int64)", nopython=True)(lambda address: None)
    no_op_args = np.zeros(1, np.int64)

    def after_product(team: bool) -> None:
        if team:
            with blas_threads.single_blas_thread():
                x @ w
            spin_team.run(no_op.address, no_op_args)
        else:
            x @ w
        start = time.perf_counter()
        opt.step()
        spent.append(time.perf_counter() - start)

    out = []
    labels = ("one thread", "shared, resident helper", "shared, team polling")
    times: dict[str, list] = {label: [] for label in labels}
    for b in range(blocks):
        for label in labels if b % 2 == 0 else labels[::-1]:
            parallel.shared_updates = label != "one thread"
            spent.clear()
            for _ in range(20):
                after_product(label.endswith("polling"))
            times[label].append(statistics.mean(spent))
    out += [row(f"opt.step after a 64x784x256 product, update {label}", t) for label, t in times.items()]
    return out


def captured_step(blocks: int) -> list[str]:
    import peers  # noqa: PLC0415

    step, _, wait_for_background = peers.tinygrad_opt_case(64, capture=True, flush=True)
    for _ in range(60):
        step()
    wait_for_background()  # the timed steps run the loops, not their first-call twins
    names = step.run.plan.replay.__globals__
    lines = {"f0": "first-layer forward (f0)", "b0": "first-layer backward (b0)", "e4": "opt.step (e4)"}
    spent: dict[str, list] = {key: [] for key in lines}
    for key in lines:
        original = names[key]

        def timed(*args, _original=original, _key=key, **kwargs):
            start = time.perf_counter()
            result = _original(*args, **kwargs)
            spent[_key].append(time.perf_counter() - start)
            return result

        names[key] = timed
    per_line = {label: {key: [] for key in lines} for label in ("one thread", "shared")}
    steps: dict[str, list] = {}
    for b in range(blocks):
        for label, on in ((("one thread", False), ("shared", True)) if b % 2 == 0
                          else (("shared", True), ("one thread", False))):
            parallel.shared_updates = on
            for key in spent:
                spent[key].clear()
            start = time.perf_counter()
            for _ in range(30):
                step()
            steps.setdefault(label, []).append((time.perf_counter() - start) / 30)
            for key in lines:
                per_line[label][key].append(statistics.median(spent[key]))
    out = []
    for label in per_line:
        out.append(row(f"captured step, updates {label}", steps[label]))
        out += [row(f"&nbsp;&nbsp;{lines[key]}, updates {label}", per_line[label][key]) for key in lines]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=40)
    args = parser.parse_args()
    tg.set_flush_denormal(True)
    print("| what | min (us) | median (us) |\n|---|---:|---:|")
    for part in (python_overhead, seed_update, captured_step):
        for line in part(args.blocks):
            print(line, flush=True)
    blas = blas_threads._blas()
    print(f"\nBLAS threads {blas.get_num_threads() if blas else '?'}, machine overloaded (BLAS policy) "
          f"{blas_threads.machine_overloaded()}; shared runs force the helper only where the policy allows it")


if __name__ == "__main__":
    main()
