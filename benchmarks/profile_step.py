"""Where one training step of the seed's MLP spends its time, phase by phase, against each phase's bound.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_step.py
    python benchmarks/profile_step.py --batches 4096 --threads 1 --markdown
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_step.py --batches 64 --capture

The step is benchmarks/peers.py's (784-256-10, ReLU, cross-entropy, Adam, float32).
Each phase the engine runs is replayed alone on arrays of the step's shapes, with the
same call the engine makes (ops/linear.py's product with the same operand layouts, the same
kernels from the registry), and timed in interleaved blocks (median per call):

    GEMM           each product with its shape and how each operand reaches BLAS (N: as
                   stored, T: a transposed view, passed with BLAS's transpose flag), and
                   "2 blocks of rows/columns on the team" where the engine computes it as two
                   fixed blocks of the result, one per thread (kernels/gemm_job.py), else
                   OpenBLAS computes it whole on its own threads;
                   bound = the roofline: the larger of its flops / the SGEMM rate and its
                   least traffic (operands and result once) / the bandwidth; "no copy" says
                   NumPy allocated nothing beyond the result (a copied operand would show)
    pass           each element-wise pass (bias, ReLU, masks, loss, Adam);
                   bound = its least memory traffic / the copy bandwidth measured here
    allocation     fresh arrays of the step's activation shapes, allocated and first
                   touched (page faults), minus writing the same bytes into a warm array
    back to back   the phases called one after the other in the step's order, each reading what
                   the one before wrote and x cycling through the batches as in the step, minus
                   each phase alone: data another phase pushed out of the caches, x from memory,
                   BLAS's workers woken per product (the next column: each phase inside the sequence)
    from memory    each phase alone right after reading FROM_MEMORY_BYTES of other data, so that its arrays
                   come from memory: as a step at a large batch finds them on a host whose neighbours
                   share the L3 (the last column)
    Python + rest  the engine's measured step minus all of the above: graph building,
                   dispatch, autograd bookkeeping
The step, the sequence and each phase alone are timed in the same interleaved blocks.
The phases run on the weights of the step after its warm-up, so the hidden layer has the step's dead units,
and dW1 is computed as the engine computes it (ops/linear.py _weight_grad: only the live units' rows where it
skips dead units); its flops and bytes, so its bound and the step's SGEMM bound, count the rows it multiplies.

--capture times the step as tg.compile replays it, with subnormals flushed (peers.py's
engine-capture-flush), so "Python + rest" is what the replay adds to the kernels; it then
times each line of the generated replay function (capture/plan.py) in the running step:
min and median per line over the timed steps, and the replay's whole call for the rest
(the guard, the arguments, the returned tensor).

The SGEMM rate is a square 2048 float32 product with the BLAS threads the engine's policy
gives (--threads, or one while the machine is oversubscribed); the bandwidth is a copy
of 64 MiB (read + write, one thread, as the kernels run). "% of bound" is bound / time:
100% runs at the bound; small arrays that live in cache can pass 100% of the memory
bound. --stat min reports each phase's fastest block instead
of the median (on a shared machine: what the hardware gives when the others pause).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import HIDDEN, IN, OUT, batches, initial_weights, tinygrad_opt_case  # noqa: E402

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt.kernels import get as kernel  # noqa: E402
from tinygrad_opt.kernels import gemm_job, head_backward, spin_team, tile_gemm  # noqa: E402
from tinygrad_opt.kernels.blas_threads import apply_policy, before_gemm  # noqa: E402
from tinygrad_opt.ops.linear import _product as product, _transposed_product as transposed_product  # noqa: E402
from tinygrad_opt.ops.linear import _weight_first as weight_first_product  # noqa: E402
from tinygrad_opt.ops.linear import _in_tiles, _skips_dead_units, _weight_grad as weight_grad  # noqa: E402
from tinygrad_opt.ops.linear import _transposed_bias_relu as transposed_bias_relu  # noqa: E402
from tinygrad_opt.ops.linear_relu_linear import _in_one_pass as head_in_one_pass  # noqa: E402

F32 = 4  # bytes per float32


def set_threads(threads: int) -> str:
    try:
        from threadpoolctl import threadpool_info, threadpool_limits  # noqa: PLC0415
    except ImportError:
        return "threadpoolctl missing: BLAS threads as found"
    threadpool_limits(threads)
    return ", ".join(f"{p['internal_api']} {p.get('version', '')} {p.get('architecture', '')} x{p['num_threads']}"
                     for p in threadpool_info())


STAT = {"median": statistics.median, "min": min}
CURRENT_X = {"x": None}  # the batch the phases over x read (phases() sets it; back_to_back() cycles it)
stat = statistics.median  # main() sets it from --stat


def time_calls(fns: dict, repeats: int, budget: float) -> dict:
    """Seconds per call of each function (`stat` over interleaved blocks of about `budget` seconds)."""
    counts = {}
    for name, fn in fns.items():
        fn()
        start, n = time.perf_counter(), 0
        while n < 2 or time.perf_counter() - start < budget / 4:
            fn()
            n += 1
        counts[name] = max(1, int(n * budget / (time.perf_counter() - start)))
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(counts[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / counts[name])
    return {name: stat(v) for name, v in samples.items()}


FROM_MEMORY_BYTES = 64 << 20  # twice the L3 of the machines measured


def from_memory(rows, repeats: int) -> dict:
    """Seconds per call of each phase right after a read of FROM_MEMORY_BYTES (not timed): `stat` over `repeats`
    rounds, each round every phase once."""
    sweep = np.ones(FROM_MEMORY_BYTES // 4, np.float32)
    samples = {name: [] for name, *_ in rows}
    for _ in range(max(3, repeats)):
        for name, *_, fn in rows:
            sweep.sum()
            started = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - started)
    return {name: stat(values) for name, values in samples.items()}


def machine_bounds(repeats: int, budget: float) -> tuple[float, float]:
    """(SGEMM flop/s, copy bytes/s): the square SGEMM rate and a 64 MiB copy's bandwidth."""
    rng = np.random.default_rng(0)
    n = 2048
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    src = rng.random(16 * 2**20, dtype=np.float32)
    dst = np.empty_like(src)
    t = time_calls({"gemm": lambda: np.matmul(a, b, out=c), "copy": lambda: np.copyto(dst, src)}, repeats, budget)
    return 2 * n**3 / t["gemm"], 2 * src.nbytes / t["copy"]


def gemm(m: int, k: int, n: int) -> tuple[float, float]:
    """(flops, least bytes moved) of an (m, k) x (k, n) float32 product."""
    return 2.0 * m * k * n, float(F32 * (m * k + k * n + m * n))


def phases(batch: int, fused: bool = True, weights=None) -> list[tuple[str, str, str, float, float, object]]:
    """(name, detail, kind, flops, bytes, fn) for every phase of the engine's step, in its order.

    weights: (W1, b1, W2, b2), peers.py's initial ones by default; profile() passes the warmed step's, so that
    the hidden layer has the step's dead units (ReLU units with no gradient on any row of a batch), whose
    weight-gradient rows the engine does not multiply (ops/linear.py _weight_grad): the dW1 phase is that
    call, and its flops and bytes count the live units' rows only (their mean over the step's batches).

    fused: the hidden layer as nn.Sequential runs it (ops.LinearReLU: bias + ReLU in one pass,
    mask + bias gradient in one pass); otherwise as Linear then ReLU called one by one.
    Each phase reads what the phase before it last wrote, as in the step (the product's result is
    the array the bias pass goes over, its output the activation the next product reads, the
    gradients Adam reads are the products'), so that the phases back to back touch memory as the
    step does; the two products over x read the batch in CURRENT_X."""
    rng = np.random.default_rng(2)
    w1, b1, w2, b2 = initial_weights() if weights is None else weights
    x, y = batches(batch)[0]
    current = CURRENT_X
    current["x"] = x
    h = x @ w1.T + b1
    a = np.maximum(h, 0)
    z = a @ w2.T + b2
    ce = kernel("softmax_cross_entropy", z)
    dz = ce(z, y, 0.0)[1]
    scale = np.float32(1 / batch)
    g2 = dz * scale
    ga = g2 @ w2
    g1 = kernel("relu_backward", ga)(ga, a)
    relu, relu_bw, bias_grad = kernel("relu", h), kernel("relu_backward", ga), kernel("bias_grad", g2)
    bias_relu, mask_and_db = kernel("bias_relu", h), kernel("relu_backward_bias_grad_live", ga)
    adam = kernel("adam_update", w1)
    params = [p.copy() for p in (w1, b1, w2, b2)]
    h_t, turned = np.ascontiguousarray(h.T), np.empty_like(h)
    # what each phase last wrote: the next phase's input
    flow = {"h": h, "h_t": h_t, "a": a, "z": z, "ga": ga, "gz": g1, "gw1": g1.T @ x, "gw2": g2.T @ a,
            "live": kernel("live_columns", g1)(g1)}
    grads = [None, rng.standard_normal(b1.shape).astype(np.float32) * 1e-3, None,
             rng.standard_normal(b2.shape).astype(np.float32) * 1e-3]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    n_params = sum(p.size for p in params)
    state = {"step": 0}

    def keep(key, value):
        flow[key] = value
        return value

    def keep_live(gz, db, live):  # the mask pass's live units, which the step's dW1 takes from it
        flow["live"] = live
        return gz

    def keep_head(gz, db, live, gw2):  # the head's pass: dW2 for Adam, the live units for dW1
        flow["live"], flow["gw2"] = live, gw2
        return gz

    def adam_all():
        state["step"] += 1
        grads[0], grads[2] = flow["gw1"], flow["gw2"]
        for p, g, (m, v) in zip(params, grads, moments):
            adam(p, g, m, v, None, step=state["step"], lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, amsgrad=False, maximize=False)

    def add_bias(key, bias):
        return lambda: np.add(flow[key], bias, out=flow[key])

    bh, bz = batch * HIDDEN * F32, batch * OUT * F32
    live = mean_multiplied_rows(batch, w1, b1, w2, b2, fused)
    weight_first = weight_first_product(x, w1)  # as ops.Linear / ops.LinearReLU decide
    bias_relu_t = kernel("bias_relu_transposed", h_t)
    if weight_first and fused and turned_in_tiles(x, w1, b1, turned):  # as ops.LinearReLU's forward
        first_layer = [("relu(W1 @ x^T + b1)^T", f"({HIDDEN},{IN}) x ({IN},{batch}) N,T{team_form(w1, x.T)}, each "
                        "block turned, biased and clamped by its thread", "gemm", *gemm(HIDDEN, IN, batch),
                        lambda: keep("a", transposed_bias_relu(current["x"], w1, b1, turned)))]
    elif weight_first:  # the product as (W1 x^T)^T, turned back in the pass that adds the bias
        first_layer = [("W1 @ x^T", f"({HIDDEN},{IN}) x ({IN},{batch}) N,T{team_form(w1, x.T)}", "gemm",
                        *gemm(HIDDEN, IN, batch), lambda: keep("h_t", transposed_product(current["x"], w1)))]
        first_layer += ([("h = relu(h_t^T + b1)", f"({HIDDEN},{batch}) -> ({batch},{HIDDEN}), fused", "pass", 0,
                          2 * bh, lambda: keep("a", bias_relu_t(flow["h_t"], b1, turned)))] if fused else
                        [("h = h_t^T + b1", f"({HIDDEN},{batch}) -> ({batch},{HIDDEN})", "pass", 0, 2 * bh,
                          lambda: keep("h", np.add(flow["h_t"].T, b1, out=turned))),
                         ("relu(h)", f"({batch},{HIDDEN}) -> new", "pass", 0, 2 * bh,
                          lambda: keep("a", relu(flow["h"])))])
    else:
        first_layer = [("x @ W1^T", f"({batch},{IN}) x ({IN},{HIDDEN}) N,T{team_form(x, w1.T)}", "gemm",
                        *gemm(batch, IN, HIDDEN), lambda: keep("h", product(current["x"], w1.T)))]
        first_layer += ([("h = relu(h + b1)", f"({batch},{HIDDEN}) in place, fused", "pass", 0, 2 * bh,
                          lambda: keep("a", bias_relu(flow["h"], b1)))] if fused else
                        [("h += b1", f"({batch},{HIDDEN}) in place", "pass", 0, 2 * bh, add_bias("h", b1)),
                         ("relu(h)", f"({batch},{HIDDEN}) -> new", "pass", 0, 2 * bh,
                          lambda: keep("a", relu(flow["h"])))])
    # as ops.LinearReLULinear's backward: the head's products, ReLU's mask and db1 in one pass over a
    head = fused and head_in_one_pass(g2, a, w2, None)
    head_phases = [
        ("colsum g (db2)", f"({batch},{OUT}) -> ({OUT},)", "pass", 0, bz, lambda: bias_grad(g2)),
        ("head: g @ W2, mask, db1, dW2", f"({batch},{HIDDEN}) -> new, one pass, 2 blocks of columns on the team",
         "pass", 4 * batch * OUT * HIDDEN, 2 * bh,
         lambda: keep("gz", keep_head(*head_backward.backward(g2, flow["a"], w2, spin_team.run))))]
    return [
        *first_layer,
        ("a @ W2^T", f"({batch},{HIDDEN}) x ({HIDDEN},{OUT}) N,T{team_form(a, w2.T)}", "gemm",
         *gemm(batch, HIDDEN, OUT), lambda: keep("z", product(flow["a"], w2.T))),
        ("z += b2", f"({batch},{OUT}) in place", "pass", 0, 2 * bz, add_bias("z", b2)),
        ("cross-entropy", f"({batch},{OUT}) -> loss, dz", "pass", 0, 2 * bz, lambda: ce(flow["z"], y, 0.0)),
        ("dz * (1/B)", f"({batch},{OUT}) -> new", "pass", 0, 2 * bz, lambda: dz * scale),
        *(head_phases if head else [
            ("g^T @ a  (dW2)", f"({OUT},{batch}) x ({batch},{HIDDEN}) T,N{team_form(g2.T, a)}", "gemm",
             *gemm(OUT, batch, HIDDEN), lambda: keep("gw2", product(g2.T, flow["a"]))),
            ("colsum g (db2)", f"({batch},{OUT}) -> ({OUT},)", "pass", 0, bz, lambda: bias_grad(g2)),
            ("g @ W2  (da)", f"({batch},{OUT}) x ({OUT},{HIDDEN}) N,N{team_form(g2, w2)}", "gemm",
             *gemm(batch, OUT, HIDDEN), lambda: keep("ga", product(g2, w2))),
            *([("relu mask + db1", f"({batch},{HIDDEN}) x2 -> new, fused", "pass", 0, 3 * bh,
                lambda: keep("gz", keep_live(*mask_and_db(flow["ga"], flow["a"]))))] if fused else
              [("relu mask", f"({batch},{HIDDEN}) x2 -> new", "pass", 0, 3 * bh,
                lambda: keep("gz", relu_bw(flow["ga"], flow["a"])))])]),
        ("g1^T @ x  (dW1)", f"({live:.0f} multiplied of {HIDDEN},{batch}) x ({batch},{IN}) T,N"
         f"{team_form(np.empty((batch, round(live)), np.float32).T, x)}", "gemm",  # g's live columns, turned
         *gemm(live, batch, IN), lambda: keep("gw1", weight_grad(flow["gz"], current["x"], None, flow["live"] if fused else None))),
        *([] if fused else
          [("colsum g1 (db1)", f"({batch},{HIDDEN}) -> ({HIDDEN},)", "pass", 0, bh, lambda: bias_grad(flow["gz"]))]),
        ("Adam x4", f"{n_params} parameters", "pass", 0, 7 * n_params * F32, adam_all),
    ]


def turned_in_tiles(x, w, b, out) -> bool:
    """Whether the fused layer's forward turns, biases and clamps the product in its tiles' job (ops.linear)."""
    tiles = _in_tiles(w, x.T)
    return tiles is not None and tile_gemm.takes_turned(tiles, b, out)


def team_form(a, b) -> str:
    """How the engine splits a @ b over its two threads (kernels/gemm_job.py, kernels/tile_gemm.py), or "" where
    OpenBLAS computes it whole on its own threads."""
    if _in_tiles(a, b) is not None:
        return ", 2 blocks of rows in register tiles on the team"
    if not gemm_job.routes(a, b):
        return ""
    by_columns, step, parts = gemm_job.blocks(*a.shape, b.shape[1], a.itemsize)
    return f", {parts} blocks of {'columns' if by_columns else 'rows'} on the team"


def mean_multiplied_rows(batch: int, w1, b1, w2, b2, fused: bool = True) -> float:
    """The mean count of dW1's rows the engine's step multiplies over peers.py's batches, for these weights: the
    hidden units with a gradient on some row (the live units) where _weight_grad skips the others, else all
    (in register tiles it skips them where LinearReLU's mask pass has found them: fused)."""
    counts = []
    for x, y in batches(batch):
        h = x @ w1.T + b1
        a = np.maximum(h, 0)
        z = a @ w2.T + b2
        dz = kernel("softmax_cross_entropy", z)(z, y, 0.0)[1] * np.float32(1 / batch)
        ga = dz @ w2
        gz = kernel("relu_backward", ga)(ga, a)
        live = kernel("live_columns", gz)(gz).size
        skips = (_skips_dead_units(gz, x) and 0 < live <= HIDDEN - HIDDEN // 8  # as _weight_grad decides
                 or fused and _in_tiles(gz.T, x) is not None and 0 < live < HIDDEN)
        counts.append(live if skips else HIDDEN)
    return statistics.mean(counts)


def back_to_back(rows, batch: int):
    """(sequence, within): sequence() calls every phase once in the step's order, the products over x on the next
    of peers.py's batches (as the step cycles them); within(steps) runs it `steps` times with a clock between
    phases and gives {phase: median seconds inside the sequence}.

    Against the phases alone, the sequence shows what running them one after the other costs: arrays that
    another phase pushed out of the caches, x read from memory, BLAS's workers woken for each product."""
    pool = [x for x, _ in batches(batch)]
    fns = [row[-1] for row in rows]
    turn = {"i": 0}

    def sequence(clock=None, into=None) -> None:
        turn["i"] += 1
        CURRENT_X["x"] = pool[turn["i"] % len(pool)]
        if into is None:
            for fn in fns:
                fn()
            return
        start = clock()
        for fn, samples in zip(fns, into):
            fn()
            now = clock()
            samples.append(now - start)
            start = now

    def within(steps: int) -> dict:
        into = [[] for _ in fns]
        for _ in range(steps):
            sequence(time.perf_counter, into)
        return {row[0]: statistics.median(v) for row, v in zip(rows, into)}

    return sequence, within


def as_the_engine_calls(product):
    """A GEMM phase with the engine's BLAS thread policy applied first, as ops.Linear does."""
    def fn():
        before_gemm()
        return product()
    return fn


def extra_bytes(fn) -> int:
    """Bytes a call allocates beyond its result at its peak (a copied operand shows here)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return max(0, peak - getattr(result, "nbytes", 0))


def allocation_cost(batch: int, repeats: int, budget: float, count: int) -> float:
    """Seconds per step spent allocating and first touching the step's `count` fresh (batch, HIDDEN) arrays.

    Fused, the step creates three, alive together: h (ReLU'd in place), the hidden gradient and its
    masked copy; unfused four (relu(h) is a new array).
    """
    shape = (batch, HIDDEN)
    warm = [np.empty(shape, np.float32) for _ in range(count)]

    def fresh():
        arrays = [np.empty(shape, np.float32) for _ in range(count)]
        for arr in arrays:
            arr.fill(1)

    def reuse():
        for arr in warm:
            arr.fill(1)

    t = time_calls({"fresh": fresh, "reuse": reuse}, repeats, budget)
    return max(0.0, t["fresh"] - t["reuse"])


def warm_step(batch: int, fused: bool = True, capture: bool = False, flush: bool = False):
    """The engine's step for peers.py's workload, run until past the recording steps and the allocator's first
    rounds, and until the background thread has started Numba and readied every loop (as peers.py waits):
    the steps before run the loops' first-call twins while that thread holds the GIL at times."""
    step, _, wait_for_background = tinygrad_opt_case(batch, fused=fused, capture=capture, flush=capture or flush)
    start, n = time.perf_counter(), 0
    while n < 10 or time.perf_counter() - start < 0.3:
        step()
        n += 1
    wait_for_background()
    for _ in range(10):
        step()
    return step


def replay_lines(batch: int, steps: int) -> str:
    """A table of the captured step's replay function, line by line: min and median microseconds per step."""
    step = tinygrad_opt_case(batch, capture=True, flush=True)[0]
    for _ in range(3):
        step()  # recorded twice, then replayed
    plan = step.run.plan
    if plan is None:
        return f"B={batch}: the step was not captured ({step.run.eager_reason})"
    lines = plan.source.splitlines()
    timed = [lines[0], "    _t = _clock()"]
    labels = []
    for line, following in zip(lines[1:], lines[2:] + [""]):
        timed.append(line)
        if following.startswith("    else:"):  # an if/else pair (a gradient's delivery) is timed as one line
            continue
        if not line.strip().startswith("return"):
            labels.append(line.strip() if not line.startswith("    else:") else f"{timed[-2].strip()} / else")
            timed.append(f"    _n = _clock(); _T[{len(labels) - 1}].append(_n - _t); _t = _n")
    names = plan.replay.__globals__  # the generated function's own names: the same callables and buffers
    samples: list[list[float]] = [[] for _ in labels]
    names["_clock"], names["_T"] = time.perf_counter, samples
    exec(compile("\n".join(timed) + "\n", "<timed replay>", "exec"), names)
    original, plan.replay = plan.replay, names["replay"]
    whole = []
    try:
        for _ in range(steps // 10):
            step()
        for series in samples:
            series.clear()
        for _ in range(steps):
            start = time.perf_counter()
            step()
            whole.append(time.perf_counter() - start)
    finally:
        plan.replay = original
        names["replay"] = original
    medians = [statistics.median(series) for series in samples]
    total = statistics.median(whole)
    out = [f"\nB={batch}: the replayed step line by line ({steps} steps; median step {total * 1e6:.1f} us "
           "with the timers)", "| line of the replay | min (us) | median (us) | share |", "|---|---:|---:|---:|"]
    for label, series, median in zip(labels, samples, medians):
        out.append(f"| `{label[:90]}` | {min(series) * 1e6:.1f} | {median * 1e6:.1f} | {median / total:.1%} |")
    rest = total - sum(medians)
    out.append(f"| the call around it (guard, arguments, result) | - | {rest * 1e6:.1f} | {rest / total:.1%} |")
    return "\n".join(out)


def profile(batch: int, gemm_rate: float, bandwidth: float, repeats: int, budget: float,
            fused: bool = True, capture: bool = False, flush: bool = False) -> dict:
    step = warm_step(batch, fused, capture, flush)
    rows = phases(batch, fused, tuple(p.data.copy() for p in step.model.parameters()))
    rows = [(n, d, k, f, b, as_the_engine_calls(fn) if k == "gemm" else fn) for n, d, k, f, b, fn in rows]
    sequence, in_sequence = back_to_back(rows, batch)
    whole = {"(the step)": step, "(back to back)": sequence}
    # the step, the phases back to back and each phase alone in the same interleaved blocks: the VM's speed drifts
    times = time_calls({**whole, **{name: fn for name, _, _, _, _, fn in rows}}, repeats, budget)
    step, sequence = times["(the step)"], times["(back to back)"]
    within = in_sequence(max(20, int(repeats * budget / sequence)))
    cold = from_memory(rows, repeats)
    count = 3 if fused else 4
    alloc = allocation_cost(batch, repeats, budget, count)
    table = []
    for name, detail, kind, flops, nbytes, fn in rows:
        bound = max(flops / gemm_rate, nbytes / bandwidth)
        if kind == "gemm":
            extra = extra_bytes(fn)  # a few hundred bytes are the result's Python object itself
            detail += f", copies {extra} bytes" if extra > 4096 else ", no copy"
        table.append((name, detail, kind, times[name], bound, within[name], cold[name]))
    alone = sum(r[3] for r in table)
    table.append(("allocation", f"{count} fresh ({batch},{HIDDEN}) arrays", "alloc", alloc, 0.0, None, None))
    # the rows add up to the step: phases alone + allocation + what running them in order adds + the rest
    table.append(("back to back", "the phases in the step's order minus each alone: caches, x from memory, "
                  "wake-ups", "sequence", sequence - alone, 0.0, None, None))
    table.append(("Python + rest", "the replay's calls, guard" if capture else "graph, dispatch, bookkeeping",
                  "python", step - sequence - alloc, 0.0, None, None))
    gemm_flops = sum(flops for _, _, kind, flops, _, _ in rows if kind == "gemm")
    return {"batch": batch, "rows": table, "step": step, "gemm_bound": gemm_flops / gemm_rate,
            "bound": sum(r[4] for r in table), "gemm_flops": gemm_flops, "sequence": sequence}


def report(result: dict) -> str:
    b, step = result["batch"], result["step"]
    lines = [f"\nB={b}: engine step {step * 1e3:.3f} ms ({1 / step:.1f} steps/s); GEMM bound "
             f"{result['gemm_bound'] * 1e3:.3f} ms, so the step runs at {result['gemm_bound'] / step:.0%} of the "
             f"SGEMM bound; all phases' bounds together {result['bound'] * 1e3:.3f} ms "
             f"({result['bound'] / step:.0%})",
             f"the phases back to back {result['sequence'] * 1e3:.3f} ms",
             "| phase | shape | kind | time (us) | bound (us) | % of bound | share of step | back to back (us) "
             "| from memory (us) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, detail, kind, t, bound, within, cold in result["rows"]:
        pct = f"{bound / t:.0%}" if bound and t > 0 else "-"
        seq = "-" if within is None else f"{within * 1e6:.1f}"
        from_dram = "-" if cold is None else f"{cold * 1e6:.1f}"
        lines.append(f"| {name} | {detail} | {kind} | {t * 1e6:.1f} | {bound * 1e6:.1f} | {pct} | {t / step:.1%} "
                     f"| {seq} | {from_dram} |")
    kinds = {}
    for _, _, kind, t, *_ in result["rows"]:
        kinds[kind] = kinds.get(kind, 0.0) + t
    lines.append("totals: " + ", ".join(f"{k} {v * 1e3:.3f} ms ({v / step:.0%})" for k, v in kinds.items()))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads, fixed (tg.set_blas_threads); default: all cores under the engine's policy, "
                             "which drops to one while the load average is high")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing blocks")
    parser.add_argument("--budget", type=float, default=0.05, help="seconds per timing block")
    parser.add_argument("--unfused", action="store_true",
                        help="the hidden layer as Linear then ReLU (the step before ops.LinearReLU)")
    parser.add_argument("--stat", choices=sorted(STAT), default="median", help="over the blocks (default median)")
    parser.add_argument("--capture", action="store_true",
                        help="the step through tg.compile with subnormals flushed, and its replay line by line")
    parser.add_argument("--flush", action="store_true",
                        help="the plain step with subnormals flushed (peers.py's tinygrad_opt-flush), so that "
                             "arithmetic on subnormal values after some thousand steps on the same four batches does "
                             "not land in Python + rest")
    parser.add_argument("--line-steps", type=int, default=2000, help="steps timed line by line (with --capture)")
    args = parser.parse_args(argv)
    global stat
    stat = STAT[args.stat]
    if args.threads is not None:
        tg.kernels.set_blas_threads(args.threads)
    print(f"BLAS: {set_threads(args.threads or os.cpu_count())}; kernels {tg.kernels.get_mode()}; "
          f"load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    threads = apply_policy() or args.threads or os.cpu_count()  # the bound uses the threads the engine's GEMMs get
    print(f"the engine's BLAS thread policy ({tg.kernels.get_blas_threads()}) gives {threads} threads now "
          "(one while the machine is oversubscribed: kernels/blas_threads.py)")
    gemm_rate, bandwidth = machine_bounds(args.repeats, args.budget * 4)
    print(f"bounds measured now: SGEMM {gemm_rate / 1e9:.1f} GFLOP/s (2048^3, {threads} threads), "
          f"copy bandwidth {bandwidth / 1e9:.1f} GB/s (64 MiB, read + write, one thread)")
    for batch in args.batches:
        result = profile(batch, gemm_rate, bandwidth, args.repeats, args.budget, not args.unfused, args.capture,
                         args.flush)
        print(report(result), flush=True)
        if args.capture:
            print(replay_lines(batch, args.line_steps), flush=True)
    print(f"\nload average at end {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
