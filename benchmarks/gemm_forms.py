"""Each matrix product of the seed's MLP step, timed in every form that computes it, each marked with its bits.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm_forms.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm_forms.py --batches 64 --no-torch

The step is benchmarks/peers.py's (784-256-10, ReLU, cross-entropy, Adam, float32); its products are
the first layer's forward y = x W1^T (B,784)x(784,256), the second's a W2^T (B,256)x(256,10), and in
backward dW2 = g^T a, da = g W2 and dW1 = g1^T x (256,B)x(B,784). Each is timed as NumPy hands it
to OpenBLAS in several forms: the operands as the engine stores them (N: as stored, T: a transposed
view, passed with BLAS's transpose flag), the transposed product ((W x^T)^T, (x^T g)^T: the result
comes out in the other layout, which the engine must then turn back or deliver as it is), OpenBLAS
on one and on two threads, and the product cut in two blocks, each a one-thread BLAS call, the caller
taking one and the engine's resident helper thread the other (kernels/parallel.py `share`, as the shared
Adam update; blocks claimed from a counter, so a helper that wakes late finds less to do), dW1's transposed
product turned back by a Numba loop (and, as that turn's floor, followed by a plain copy), and the narrow
backward products dW2 and da as Numba loops over rows instead of BLAS. "% bound" is
the product's flops at the square 2048^3 SGEMM rate on two threads (its fastest of five blocks, measured
in the same run) over its time.

As in the engine's step: OpenBLAS's idle workers sleep right after a product (the engine's
OPENBLAS_THREAD_TIMEOUT=4, set when its resident helper starts; `--openblas-spin own` keeps OpenBLAS's
own 0.1 s spin), and each call comes `--gap-us` (50) microseconds after the last, a busy wait on the
calling thread standing in for the step's other work, so a sleeping worker or helper is woken for every
product as in the step (0: calls back to back). Also printed: how long the resident helper takes to
start once work is offered, and which forms give the same bits on one and two BLAS threads.

The "bits" column compares each form's product, on the step's operands, with the form the engine's step
uses (ops/linear.py's operand order, BLAS on two threads): "the engine's" where every bit agrees, "other bits
on this CPU" where some do not. Which forms agree depends on the CPU's BLAS kernels: on the AVX-512 Xeon the
column and row blocks and the turned-back dW1 gave the engine's bits, on the AVX2 Zen 3 they do not. A form
with other bits could not replace the engine's without changing its numbers.

With torch installed, the same products run through torch.mm (MKL) in a process of its own on one
and on two threads (`--no-torch` skips it; bits not compared). Medians (and minimums) of interleaved blocks.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import itertools
import subprocess
import sys
import time

import numpy as np

IN, HIDDEN, OUT = 784, 256, 10


def time_calls(cases: dict, budget: float, blocks: int, gap: float = 0.0) -> dict:
    """{name: (median, min) seconds per call}: cases {name: (blas threads, fn)} timed in `blocks` interleaved
    rounds, each call of a case repeated for about budget / blocks seconds per round; with a gap (seconds),
    each call is timed alone after that long a busy wait, and a round gives the median of its calls."""
    counts = {}
    for name, (threads, fn) in cases.items():
        set_blas_threads(threads)
        fn()
        start, n = time.perf_counter(), 0
        while n < 3 or time.perf_counter() - start < 0.02:
            fn()
            n += 1
        counts[name] = max(2, int(n * budget / blocks / (time.perf_counter() - start)))
    samples = {name: [] for name in cases}
    for _ in range(blocks):
        for name, (threads, fn) in cases.items():
            set_blas_threads(threads)
            fn()
            if gap > 0:
                samples[name].append(statistics.median(_gapped_call(fn, gap) for _ in range(counts[name])))
                continue
            start = time.perf_counter()
            for _ in range(counts[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / counts[name])
    return {name: (statistics.median(v), min(v)) for name, v in samples.items()}


def _gapped_call(fn, gap: float) -> float:
    """Seconds one fn() takes after `gap` seconds of busy waiting on this thread (the step's other work)."""
    start = time.perf_counter()
    while time.perf_counter() - start < gap:
        pass
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@functools.cache
def _numba_loops():
    """Loops that stand in for forms BLAS does not offer (compiled once, here; the engine has none of them):
    turn(src, dst): dst = src^T, each dst row written 16 columns at a time (the fastest of six tilings tried
    for a 784x256 float32 array: 70 us alone, a plain copy of it 22 us);
    outer_rows(g, a, out): out = g^T a one row of g and a at a time (reads a once, out stays in cache);
    rows_times(g, w, out): out = g w one row at a time (w stays in cache)."""
    import numba  # noqa: PLC0415

    jit = numba.njit(cache=False, error_model="numpy")

    @jit
    def turn(src, dst):
        rows, cols = src.shape
        whole = rows - rows % 16
        for i0 in range(0, whole, 16):
            for j in range(cols):
                for i in range(i0, i0 + 16):
                    dst[j, i] = src[i, j]
        for i in range(whole, rows):
            for j in range(cols):
                dst[j, i] = src[i, j]

    @jit
    def outer_rows(g, a, out):
        out[:] = 0
        for r in range(g.shape[0]):
            for i in range(g.shape[1]):
                gi = g[r, i]
                for j in range(a.shape[1]):
                    out[i, j] += gi * a[r, j]

    @jit
    def rows_times(g, w, out):
        for r in range(g.shape[0]):
            for j in range(w.shape[1]):
                out[r, j] = g[r, 0] * w[0, j]
            for i in range(1, g.shape[1]):
                gi = g[r, i]
                for j in range(w.shape[1]):
                    out[r, j] += gi * w[i, j]

    return turn, outer_rows, rows_times


def step_products(batch: int, rng) -> list[tuple[str, tuple[int, int, int], dict]]:
    """(product, (m, k, n), {form: (threads, fn, the product fn left)}) for each product of the step at this batch."""
    f32 = np.float32
    x, w1 = rng.random((batch, IN), dtype=f32), rng.random((HIDDEN, IN), dtype=f32) - f32(0.5)
    a, w2 = rng.random((batch, HIDDEN), dtype=f32), rng.random((OUT, HIDDEN), dtype=f32) - f32(0.5)
    g, g1 = rng.random((batch, OUT), dtype=f32), rng.random((batch, HIDDEN), dtype=f32)
    y, y_t = np.empty((batch, HIDDEN), f32), np.empty((HIDDEN, batch), f32)
    z, z_t = np.empty((batch, OUT), f32), np.empty((OUT, batch), f32)
    dw1, dw1_t = np.empty((HIDDEN, IN), f32), np.empty((IN, HIDDEN), f32)
    dw2, dw2_t = np.empty((OUT, HIDDEN), f32), np.empty((HIDDEN, OUT), f32)
    da, da_t = np.empty((batch, HIDDEN), f32), np.empty((HIDDEN, batch), f32)
    half_b, half_h, half_i = batch // 2, HIDDEN // 2, IN // 2
    mm = np.matmul
    turn, outer_rows, rows_times = _numba_loops()
    flat = np.empty(IN * HIDDEN, f32)
    plain = {  # form: (fn, the product it left, in the product's own orientation)
        "fwd1": {"x W1^T (N,T)": (lambda: mm(x, w1.T, out=y), lambda: y),
                 "(W1 x^T)^T (N,T), out turned": (lambda: mm(w1, x.T, out=y_t), lambda: y_t.T)},
        "fwd2": {"a W2^T (N,T)": (lambda: mm(a, w2.T, out=z), lambda: z),
                 "(W2 a^T)^T": (lambda: mm(w2, a.T, out=z_t), lambda: z_t.T)},
        "dW2": {"g^T a (T,N)": (lambda: mm(g.T, a, out=dw2), lambda: dw2),
                "(a^T g)^T, out turned": (lambda: mm(a.T, g, out=dw2_t), lambda: dw2_t.T),
                "g^T a, a Numba loop over rows (BLAS not used)": (lambda: outer_rows(g, a, dw2), lambda: dw2)},
        "da": {"g W2 (N,N)": (lambda: mm(g, w2, out=da), lambda: da),
               "(W2^T g^T)^T, out turned": (lambda: mm(w2.T, g.T, out=da_t), lambda: da_t.T),
               "g W2, a Numba loop over rows (BLAS not used)": (lambda: rows_times(g, w2, da), lambda: da)},
        "dW1": {"g1^T x (T,N)": (lambda: mm(g1.T, x, out=dw1), lambda: dw1),
                "(x^T g1)^T, out turned": (lambda: mm(x.T, g1, out=dw1_t), lambda: dw1_t.T),
                "(x^T g1)^T, turned back (Numba, 16 columns a store)": (lambda: (mm(x.T, g1, out=dw1_t),
                                                                                 turn(dw1_t, dw1)), lambda: dw1),
                "(x^T g1)^T, then a plain copy (a turn-back's floor)": (
                    lambda: (mm(x.T, g1, out=dw1_t), np.copyto(flat, dw1_t.reshape(-1))),
                    lambda: flat.reshape(IN, HIDDEN).T),
                "g1^T x, two calls by dW1 rows": (lambda: (mm(g1[:, :half_h].T, x, out=dw1[:half_h]),
                                                           mm(g1[:, half_h:].T, x, out=dw1[half_h:])), lambda: dw1),
                "g1^T x, four calls by dW1 column blocks": (lambda: [
                    mm(g1.T, x[:, c:c + IN // 4], out=dw1[:, c:c + IN // 4]) for c in range(0, IN, IN // 4)],
                    lambda: dw1)},
    }
    split = {  # (first half, second half, the product): one-thread BLAS calls, the caller's and the resident helper's
        "fwd1": {"x W1^T, split by y columns": (lambda: mm(x, w1[:half_h].T, out=y[:, :half_h]),
                                                lambda: mm(x, w1[half_h:].T, out=y[:, half_h:]), lambda: y),
                 "x W1^T, split by y rows": (lambda: mm(x[:half_b], w1.T, out=y[:half_b]),
                                             lambda: mm(x[half_b:], w1.T, out=y[half_b:]), lambda: y),
                 "(W1 x^T)^T, split by W1 rows": (lambda: mm(w1[:half_h], x.T, out=y_t[:half_h]),
                                                  lambda: mm(w1[half_h:], x.T, out=y_t[half_h:]), lambda: y_t.T)},
        "dW1": {"g1^T x, split by dW1 rows": (lambda: mm(g1[:, :half_h].T, x, out=dw1[:half_h]),
                                              lambda: mm(g1[:, half_h:].T, x, out=dw1[half_h:]), lambda: dw1),
                "g1^T x, split by dW1 columns": (lambda: mm(g1.T, x[:, :half_i], out=dw1[:, :half_i]),
                                                 lambda: mm(g1.T, x[:, half_i:], out=dw1[:, half_i:]), lambda: dw1)},
    }
    shapes = {"fwd1": (batch, IN, HIDDEN), "fwd2": (batch, HIDDEN, OUT), "dW2": (OUT, batch, HIDDEN),
              "da": (batch, OUT, HIDDEN), "dW1": (HIDDEN, batch, IN)}
    out = []
    for name, forms in plain.items():
        cases = {}
        for form, (fn, product) in forms.items():
            cases[f"{form}, BLAS x1"] = (1, fn, product)
            cases[f"{form}, BLAS x2"] = (2, fn, product)
        for form, (first, second, product) in split.get(name, {}).items():
            cases[f"{form}, caller + resident helper"] = (1, _on_resident_helper(first, second), product)
        out.append((name, shapes[name], cases))
    return out


def _on_resident_helper(*parts):
    """Run the parts on the caller and the engine's resident helper thread (parallel.share), each part
    claimed by one of them from a shared counter."""
    from tinygrad_opt.kernels import parallel  # noqa: PLC0415

    def run():
        tickets = itertools.count()

        def work():
            for i in tickets:
                if i >= len(parts):
                    return
                parts[i]()

        parallel.share(work)
    return run


def helper_start_latency(samples: int = 200) -> float:
    """Median seconds from offering work to the resident helper until it runs it; the caller meanwhile
    sleeps (GIL released), with the step's gap of busy work before each offer."""
    import threading  # noqa: PLC0415

    from tinygrad_opt.kernels import parallel  # noqa: PLC0415
    main, latencies = threading.get_ident(), []
    for _ in range(samples):
        started = []

        def work():
            if threading.get_ident() != main:
                started.append(time.perf_counter())
            else:
                time.sleep(300e-6)
        _gapped_call(lambda: None, 50e-6)
        offered = time.perf_counter()
        parallel.share(work)
        latencies += [t - offered for t in started]
    return statistics.median(latencies) if latencies else float("nan")


def engine_blas_spin() -> bool:
    """Put OpenBLAS in the engine's state: the resident helper started, which sets OPENBLAS_THREAD_TIMEOUT=4
    (unless set) and restarts OpenBLAS's threads, so its idle workers sleep right after a product."""
    from tinygrad_opt.kernels import parallel  # noqa: PLC0415
    parallel.share(lambda: None)
    return parallel._helper is not None


def thread_count_bits(batches) -> list[str]:
    """For each product (the engine's form): whether OpenBLAS gives the same bits on one and on two threads,
    and whether halves (row blocks of the result, one-thread calls) give the one-thread whole product's."""
    rng = np.random.default_rng(3)
    f32, lines = np.float32, []
    for batch in batches:
        x, w1 = rng.standard_normal((batch, IN), dtype=f32), rng.standard_normal((HIDDEN, IN), dtype=f32)
        a, w2 = rng.standard_normal((batch, HIDDEN), dtype=f32), rng.standard_normal((OUT, HIDDEN), dtype=f32)
        g, g1 = rng.standard_normal((batch, OUT), dtype=f32), rng.standard_normal((batch, HIDDEN), dtype=f32)
        half = HIDDEN // 2
        forms = {"fwd1": (lambda: w1 @ x.T, lambda: np.concatenate([w1[:half] @ x.T, w1[half:] @ x.T])),
                 "fwd2": (lambda: a @ w2.T, None), "dW2": (lambda: g.T @ a, None), "da": (lambda: g @ w2, None),
                 "dW1": (lambda: g1.T @ x, lambda: np.concatenate([g1[:, :half].T @ x, g1[:, half:].T @ x]))}
        for name, (whole, halves) in forms.items():
            set_blas_threads(1)
            one, cut = whole(), (halves() if halves else None)
            set_blas_threads(2)
            two = whole()
            same = "same" if np.array_equal(one, two) else f"differ (max {np.abs(one - two).max():.1e})"
            cut_same = "" if cut is None else f"; halves one-thread {'same' if np.array_equal(one, cut) else 'differ'}"
            lines.append(f"B={batch} {name}: one vs two threads {same}{cut_same}")
        turned = np.empty((HIDDEN, IN), f32)
        _numba_loops()[0](x.T @ g1, turned)
        lines.append(f"B={batch} dW1 as (x^T g1)^T turned back: "
                     f"{'the same bits as' if np.array_equal(turned, g1.T @ x) else OTHER_BITS + ' than'} g1^T x")
    return lines


def set_blas_threads(threads: int) -> None:
    if threads != _blas_threads[0]:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
        threadpool_limits(threads, user_api="blas")
        _blas_threads[0] = threads


_blas_threads = [0]


def numpy_rows(batches, budget, blocks, products, gap: float = 0.0) -> tuple[dict, list]:
    rng = np.random.default_rng(0)
    n = 2048
    sq_a, sq_b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    sq_c = np.empty((n, n), np.float32)
    square = lambda: np.matmul(sq_a, sq_b, out=sq_c)  # noqa: E731
    timed = time_calls({1: (1, square), 2: (2, square), "handoff": (1, _on_resident_helper(lambda: None))},
                       4 * budget, 5)
    bounds = {threads: 2 * n**3 / timed[threads][1] for threads in (1, 2)}  # the fastest block: what the cores give
    handoff = timed["handoff"][0]  # offering work to the helper and taking it back (the caller did it)
    rows = []
    for batch in batches:
        for name, (m, k, n_), cases in step_products(batch, rng):
            if name not in products:
                continue
            bits = engine_bits(name, batch, cases)
            timed = time_calls({form: case[:2] for form, case in cases.items()}, budget * len(cases), blocks, gap)
            for form, (med, low) in timed.items():
                rows.append(dict(batch=batch, product=name, shape=f"{m}x{k}x{n_}", form=form, flops=2.0 * m * k * n_,
                                 median=med, min=low, bits=bits[form]))
    return {"sgemm_x1": bounds[1], "sgemm_x2": bounds[2], "handoff": handoff}, rows


OTHER_BITS = "other bits on this CPU"


def engine_form(name: str, batch: int) -> str:
    """The case whose bits the engine's step gives for this product (ops/linear.py's choice of operand order; BLAS
    on two threads, its count on an idle machine before any convolution)."""
    from tinygrad_opt.ops.linear import _weight_first  # noqa: PLC0415
    forms = {"fwd1": "x W1^T (N,T)", "fwd2": "a W2^T (N,T)", "dW2": "g^T a (T,N)", "da": "g W2 (N,N)",
             "dW1": "g1^T x (T,N)"}
    if name == "fwd1" and _weight_first(np.empty((batch, IN), np.float32), np.empty((HIDDEN, IN), np.float32)):
        return "(W1 x^T)^T (N,T), out turned, BLAS x2"
    return forms[name] + ", BLAS x2"


def engine_bits(name: str, batch: int, cases: dict) -> dict[str, str]:
    """{case: "the engine's" where its product has the engine's form's bits (on these operands), else OTHER_BITS}."""
    def product(case):
        threads, fn, result = cases[case]
        set_blas_threads(threads)
        fn()
        return result().copy()

    reference = product(engine_form(name, batch)).tobytes()
    return {case: "the engine's" if product(case).tobytes() == reference else OTHER_BITS for case in cases}


def torch_rows(batches, budget, threads) -> list:
    import torch  # noqa: PLC0415
    torch.set_num_threads(threads)
    globals()["set_blas_threads"] = lambda _: None
    rows = []
    for batch in batches:
        x, w1, g1 = torch.rand(batch, IN), torch.rand(HIDDEN, IN) - 0.5, torch.rand(batch, HIDDEN)
        y, y_t = torch.empty(batch, HIDDEN), torch.empty(HIDDEN, batch)
        dw1, dw1_t = torch.empty(HIDDEN, IN), torch.empty(IN, HIDDEN)
        forms = {("fwd1", "x W1^T"): lambda: torch.mm(x, w1.t(), out=y),
                 ("fwd1", "(W1 x^T)^T"): lambda: torch.mm(w1, x.t(), out=y_t),
                 ("dW1", "g1^T x"): lambda: torch.mm(g1.t(), x, out=dw1),
                 ("dW1", "(x^T g1)^T"): lambda: torch.mm(x.t(), g1, out=dw1_t)}
        cases = {k: (threads, fn) for k, fn in forms.items()}
        for (name, form), (med, low) in time_calls(cases, budget * 4, 5).items():
            shape = f"{batch}x{IN}x{HIDDEN}" if name == "fwd1" else f"{HIDDEN}x{batch}x{IN}"
            rows.append(dict(batch=batch, product=name, shape=shape, form=f"torch.mm {form}, x{threads}",
                             flops=2.0 * batch * IN * HIDDEN, median=med, min=low, bits="not compared"))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="64,512,4096")
    parser.add_argument("--budget", type=float, default=0.12, help="seconds per form and batch")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--products", default="fwd1,fwd2,dW2,da,dW1", help="which products (default: all five)")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--gap-us", type=float, default=50.0, help="busy wait before each call (0: back to back)")
    parser.add_argument("--openblas-spin", choices=("engine", "own"), default="engine",
                        help="engine: OpenBLAS's workers sleep right after a product, as in the engine; own: its spin")
    parser.add_argument("--torch-worker", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    if args.torch_worker:
        print(json.dumps(torch_rows(batches, args.budget, args.torch_worker)))
        return
    print(f"load average {os.getloadavg()[0]:.2f}; numpy {np.__version__}")
    spin = "OpenBLAS's own spin"
    if args.openblas_spin == "engine":
        spin = ("the engine's (OPENBLAS_THREAD_TIMEOUT=" + os.environ.get("OPENBLAS_THREAD_TIMEOUT", "?") + ")"
                if engine_blas_spin() else "OpenBLAS's own spin (the engine's helper did not start)")
    print(f"OpenBLAS idle workers: {spin}; {args.gap_us:g} us of busy work before each call")
    info, rows = numpy_rows(batches, args.budget, args.blocks, args.products.split(","), args.gap_us * 1e-6)
    bound = info["sgemm_x2"]
    print(f"SGEMM 2048^3: {info['sgemm_x1'] / 1e9:.1f} GFLOP/s on one thread, {bound / 1e9:.1f} on two; "
          f"offering work to the resident helper and taking it back: {info['handoff'] * 1e6:.1f} us; "
          f"the helper starts {helper_start_latency() * 1e6:.1f} us after the offer (median)")
    for line in thread_count_bits(batches):
        print(line)
    if not args.no_torch:
        for threads in (1, 2):
            done = subprocess.run([sys.executable, __file__, "--batches", args.batches, "--budget", str(args.budget),
                                   "--torch-worker", str(threads)], capture_output=True, text=True)
            if done.returncode == 0:
                rows += json.loads(done.stdout)
            else:
                print(f"torch x{threads} skipped: {done.stderr.strip().splitlines()[-1:]}")
    print("| B | product | m x k x n | form | median us | min us | GFLOP/s | % bound | bits |")
    print("|---:|---|---|---|---:|---:|---:|---:|---|")
    for r in sorted(rows, key=lambda r: (r["batch"], r["product"], r["median"])):
        rate = r["flops"] / r["median"]
        print(f"| {r['batch']} | {r['product']} | {r['shape']} | {r['form']} | {r['median'] * 1e6:.1f} | "
              f"{r['min'] * 1e6:.1f} | {rate / 1e9:.1f} | {100 * rate / bound:.0f}% | {r['bits']} |")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
