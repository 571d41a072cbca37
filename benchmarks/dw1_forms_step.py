"""dW1's forms that the engine does not use, timed inside its whole training step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dw1_forms_step.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dw1_forms_step.py --batches 64 --blocks 10

gemm_forms.py times each product alone; this decides by the step. The step is peers.py's (784-256-10, ReLU,
cross-entropy, Adam, float32, subnormals flushed), plain and through tg.compile. Its first layer's weight
gradient dW1 = g1^T x (ops.LinearReLU's backward) is computed in one of these forms, switched between timing
blocks in one process, so that every form sees the same machine:

    engine    one BLAS call g1^T x, as ops/linear.py does
    turned    the transposed product x^T g1 (which OpenBLAS splits better over two threads at 64 rows) into a
              scratch array, turned back into dW1 by a Numba loop (16 columns a store)
    blocks4   four BLAS calls, one per column block of dW1
    blocks2   two such calls

Each form is checked for the engine's bits before timing, on random operands of the step's shapes with BLAS on
its own thread count and on one (the engine runs its products on either). On the AVX-512 Xeon every form gave
the engine's bits; on the AVX2 Zen 3 OpenBLAS's float32 kernels sum the turned and the blocked products in
another order. A form with other bits is still timed (what it would gain), its steps/s marked "other bits on
this CPU": it is not the engine's equal and could not replace its form. Printed: steps/s per form (median over
blocks) and its ratio to the engine's form.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gemm_forms import _numba_loops  # noqa: E402
from peers import IN, tinygrad_opt_case  # noqa: E402

from tinygrad_opt.kernels.blas_threads import single_blas_thread  # noqa: E402
from tinygrad_opt.ops import linear  # noqa: E402

FORMS = ("engine", "turned", "blocks4", "blocks2")
OTHER_BITS = "other bits on this CPU"


def dw1(form: str, gz, x, out):
    """dW1 = gz^T x in `form`, written into out (or a new array)."""
    if out is None:
        out = np.empty((gz.shape[1], x.shape[1]), gz.dtype)
    if form == "turned":
        scratch = np.matmul(x.T, gz)
        _numba_loops()[0](scratch, out)
    else:
        parts = {"engine": 1, "blocks4": 4, "blocks2": 2}[form]
        width = -(-x.shape[1] // parts)
        for c in range(0, x.shape[1], width):
            np.matmul(gz.T, x[:, c:c + width], out=out[:, c:c + width])
    return out


def install(chosen: dict):
    """Swap LinearReLU's backward for one whose dW1 comes in chosen["form"] (the rest as the engine's)."""
    engine_backward = linear.LinearReLU.backward

    def backward(ctx, g, out=(None, None, None)):
        if chosen["form"] == "engine":
            return engine_backward(ctx, g, out)
        needs = ctx.needs_input_grad
        gz, gb = linear.kernel("relu_backward_bias_grad", g)(g, ctx.y)
        linear.before_gemm()
        gx = linear._product(gz, ctx.w, out[0]) if needs[0] else None
        gw = dw1(chosen["form"], gz, ctx.x, out[1]) if needs[1] else None
        return gx, gw, (gb if needs[2] else None)

    linear.LinearReLU.backward = staticmethod(backward)


def other_bits(batch: int) -> set[str]:
    """The forms whose dW1 differs from the engine's g1^T x in some bit, on BLAS's own thread count or on one."""
    rng = np.random.default_rng(0)
    x, gz = rng.random((batch, IN), dtype=np.float32), rng.standard_normal((batch, 256), dtype=np.float32)
    differ = set()
    for one_thread in (False, True):
        with single_blas_thread() if one_thread else contextlib.nullcontext():
            reference = gz.T @ x
            differ |= {form for form in FORMS if dw1(form, gz, x, None).tobytes() != reference.tobytes()}
    return differ


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--blocks", type=int, default=6, help="timing blocks per form and step (alternating)")
    parser.add_argument("--steps", type=int, default=6000, help="about this many rows of data per block")
    args = parser.parse_args(argv)
    chosen = {"form": "engine"}
    install(chosen)
    print("| B | step | " + " | ".join(f"{form} steps/s" for form in FORMS) + " | " +
          " | ".join(f"{form}/engine" for form in FORMS[1:]) + " |")
    print("|---:|---|" + "---:|" * (2 * len(FORMS) - 1))
    for batch in args.batches:
        differ = other_bits(batch)
        if "engine" in differ:
            raise SystemExit(f"B={batch}: the engine's own form of dW1 gave other bits than g1^T x")
        cases = {"plain": tinygrad_opt_case(batch, flush=True), "captured": tinygrad_opt_case(batch, capture=True,
                                                                                               flush=True)}
        steps = {name: case[0] for name, case in cases.items()}
        count = max(3, args.steps // batch)
        for step in steps.values():
            for form in FORMS:
                chosen["form"] = form
                for _ in range(count):
                    step()
        cases["plain"][2]()  # the background thread's Numba start and loops: timed steps run the loops
        rates = {(name, form): [] for name in steps for form in FORMS}
        for block in range(args.blocks):
            order = FORMS if block % 2 == 0 else FORMS[::-1]
            for name, step in steps.items():
                for form in order:
                    chosen["form"] = form
                    step()
                    start = time.perf_counter()
                    for _ in range(count):
                        step()
                    rates[(name, form)].append(count / (time.perf_counter() - start))
        for name in steps:
            median = {form: statistics.median(rates[(name, form)]) for form in FORMS}
            cells = [f"{median[form]:.1f}" + (f" ({OTHER_BITS})" if form in differ else "") for form in FORMS]
            print(f"| {batch} | {name} | " + " | ".join(cells) + " | " +
                  " | ".join(f"{median[form] / median['engine']:.3f}" for form in FORMS[1:]) + " |", flush=True)
    chosen["form"] = "engine"


if __name__ == "__main__":
    main()
