"""Where JAX's jitted step of the seed's MLP spends its time, piece by piece, against the engine's pieces.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_jax.py
    python benchmarks/profile_jax.py --batches 64 --hlo      (also print the step's optimised HLO)

The step is benchmarks/peers.py's jax case (784-256-10, ReLU, cross-entropy, optax Adam, float32, buffers
donated), with every library's threads set as peers.py sets them (--threads, default 2) before anything is
imported. First it reads XLA's optimised HLO of the step (jit(...).lower(...).compile().as_text()) and says
which operation runs each of the five matrix products (a YNNPACK fusion or XLA's own dot), with the
contracting dimensions (the operands' layout), and how many loop fusions Adam's update takes.

Then, in this one process, interleaved blocks (benchmarks/gemm_forms.py's time_calls, each call timed alone
after --gap-us of busy work, as in a step) time:
  - each product jitted alone at the step's shapes and contracting dimensions (jax.lax.dot_general), against
    NumPy/OpenBLAS doing it in the forms gemm_forms.py knows (the fastest on the engine's BLAS threads);
  - optax's Adam update of the four parameters jitted alone (donated), against the engine's
    adam_update_group (kernels/cpu.py) on the same four arrays;
  - JAX's whole step, its per-call floor (a jitted add of two 10-vectors) and, unless --no-engine, the
    engine's replayed step (peers.py's tinygrad_opt-capture case).
Ratios are JAX over the engine's piece: below 1 JAX's piece is faster. Without JAX installed it says so
and exits 0.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
HIDDEN_FLOPS = {"fwd1": 784 * 256, "fwd2": 256 * 10, "dW2": 10 * 256, "da": 10 * 256, "dW1": 256 * 784}  # per row
RUN = 10  # steps of the back-to-back row (peers.py's loop: no wait between steps)
# (product, lhs shape, rhs shape, dot_general dimension numbers) as the step's HLO has them; "b" is the batch
PRODUCTS = (("fwd1", ("b", 784), (256, 784), (((1,), (1,)), ((), ()))),  # x W1^T
            ("fwd2", ("b", 256), (10, 256), (((1,), (1,)), ((), ()))),  # a W2^T
            ("dW2", ("b", 10), ("b", 256), (((0,), (0,)), ((), ()))),  # g^T a
            ("da", ("b", 10), (10, 256), (((1,), (0,)), ((), ()))),  # g W2
            ("dW1", ("b", 256), ("b", 784), (((0,), (0,)), ((), ()))))  # g1^T x


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="64,512,4096")
    parser.add_argument("--threads", type=int, default=2, help="every library's threads (peers.py's way)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per case and batch (calls back to back)")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--gap-us", type=float, default=50.0, help="busy wait before each timed call")
    parser.add_argument("--no-engine", action="store_true", help="skip the engine's replayed step")
    parser.add_argument("--hlo", action="store_true", help="print the step's optimised HLO too")
    parser.add_argument("--trace-steps", type=int, default=200, help="steps traced by jax.profiler")
    args = parser.parse_args(argv)

    import peers  # noqa: PLC0415 (NumPy only at import)
    os.environ.update(peers.thread_environment(args.threads))
    try:
        import jax  # noqa: PLC0415, F401
        import optax  # noqa: PLC0415, F401
    except ImportError as err:
        print(f"profile_jax: JAX or optax is not installed ({err.name}); nothing to profile")
        return 0
    import gemm_forms  # noqa: PLC0415
    print(f"load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} cores, "
          f"{args.threads} threads per library; {peers.versions(['numpy', 'jax', 'jaxlib', 'optax'])}")
    blas_state = "sleep right after a product" if gemm_forms.engine_blas_spin() else "spin (helper did not start)"
    print(f"OpenBLAS's idle workers {blas_state}, as in the engine; {args.gap_us:g} us of busy work before each call")
    for batch in (int(b) for b in args.batches.split(",")):
        profile_batch(batch, args)
    print(f"load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


def profile_batch(batch: int, args) -> None:
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    import gemm_forms  # noqa: PLC0415
    import peers  # noqa: PLC0415
    step, step_hlo = jax_step(batch)
    if args.hlo:
        print(step_hlo)
    print(f"\nB={batch}: XLA's optimised step")
    for line in describe_step(step_hlo):
        print(f"  {line}")
    wall, busy, inside = trace_step(step, step_hlo, batch, args.trace_steps)
    print(f"B={batch}: inside the step, jax.profiler's trace of {args.trace_steps} steps: {wall:.1f} us a step while "
          f"traced, {busy:.1f} us of it with an operation running; us per step, summed over XLA's threads:")
    flops = {name: 2.0 * batch * (HIDDEN_FLOPS[name]) for name in HIDDEN_FLOPS}
    for group, us in sorted(inside.items(), key=lambda kv: -kv[1]):
        rate = f" ({flops[group] / us / 1e3:.0f} GFLOP/s, were it all done inside its event)" if group in flops else ""
        print(f"  {group}: {us:.1f}{rate}")

    cases, rows = {}, []  # rows: (piece, JAX case, what JAX runs, engine case, what the engine runs)
    rng = np.random.default_rng(0)
    numpy_forms = {name: forms for name, _, forms in gemm_forms.step_products(batch, rng)}
    for name, lhs, rhs, dims in PRODUCTS:
        fn, runtime = jax_product(batch, lhs, rhs, dims)
        cases[f"jax {name}"] = (args.threads, fn)
        engine = {f"numpy {name}: {form}": (threads, call) for form, (threads, call, _) in numpy_forms[name].items()
                  if form.endswith(f"BLAS x{args.threads}") and "calls" not in form}
        cases.update(engine)
        rows.append((name, f"jax {name}", runtime, list(engine)))
    adam_fn, adam_hlo = jax_adam()
    cases["jax adam"] = (args.threads, adam_fn)
    cases["engine adam"] = (args.threads, engine_adam())
    rows.append(("Adam x4", "jax adam", f"{count_loop_fusions(adam_hlo)} loop fusions", ["engine adam"]))
    cases["jax floor"] = (args.threads, jax_floor())
    cases["jax step"] = (args.threads, step)
    cases["jax steps"] = (args.threads, lambda: step(RUN))
    step_without_dw1, hlo_without_dw1 = jax_step(batch, without_dw1=True)
    if "dW1" in op_groups(hlo_without_dw1, batch).values():
        raise RuntimeError("XLA kept the dW1 product in the step without W1's gradient: the difference would not "
                           "time it")
    cases["jax steps without dW1"] = (args.threads, lambda: step_without_dw1(RUN))
    if not args.no_engine:
        engine_step, to_float, _ = peers.make_case("tinygrad_opt-capture", batch)
        for _ in range(20):  # recorded, replayed and the background compile swapped in
            to_float(engine_step())
        cases["engine step"] = (args.threads, lambda: to_float(engine_step()))
        cases["engine steps"] = (args.threads, lambda: to_float([engine_step() for _ in range(RUN)][-1]))
    timed = gemm_forms.time_calls(cases, args.budget, args.blocks, args.gap_us * 1e-6)

    print(f"\nB={batch}: medians of {args.blocks} interleaved blocks (us); ratio = JAX / engine")
    print("| piece | JAX runs it as | JAX us | engine's form (fastest) | engine us | ratio |")
    print("|---|---|---:|---|---:|---:|")
    jax_sum = engine_sum = 0.0
    engine_best = {}
    for piece, jax_case, runtime, engine_cases in rows:
        best = min(engine_cases, key=lambda c: timed[c][0])
        ours, theirs = timed[jax_case][0], timed[best][0]
        jax_sum, engine_sum = jax_sum + ours, engine_sum + theirs
        engine_best[piece] = theirs
        print(f"| {piece} | {runtime} | {ours * 1e6:.1f} | {best.split(': ', 1)[-1]} | {theirs * 1e6:.1f} | "
              f"{ours / theirs:.2f} |")
    print(f"| sum of the pieces | | {jax_sum * 1e6:.1f} | | {engine_sum * 1e6:.1f} | {jax_sum / engine_sum:.2f} |")
    whole = timed["jax step"][0]
    line = (f"| whole step | one executable | {whole * 1e6:.1f} | "
            + (f"replayed step | {timed['engine step'][0] * 1e6:.1f} | {whole / timed['engine step'][0]:.2f} |"
               if "engine step" in timed else "- | - | - |"))
    print(line)
    run = timed["jax steps"][0] / RUN
    engine_run = timed["engine steps"][0] / RUN if "engine steps" in timed else None
    print(f"| {RUN} steps back to back, per step | dispatch overlaps the last step | {run * 1e6:.1f} | "
          + (f"replayed steps | {engine_run * 1e6:.1f} | {run / engine_run:.2f} |" if engine_run else "- | - | - |"))
    dw1 = run - timed["jax steps without dW1"][0] / RUN
    print(f"dW1 inside JAX's step: {dw1 * 1e6:.1f} us ({RUN} steps back to back, minus the same with W1's gradient "
          f"held at zero: XLA drops the product, W1's Adam update still runs); the engine's alone: "
          f"{engine_best['dW1'] * 1e6:.1f} us")
    floor = timed["jax floor"][0]
    print(f"JAX's per-call floor (a jitted add of two 10-vectors): {floor * 1e6:.1f} us; its step minus the "
          f"pieces (each paid that floor): {(whole - jax_sum) * 1e6:.1f} us (the rest: loss, ReLU, sums, dispatch)")


# ---- JAX's pieces ------------------------------------------------------------------------

def jax_step(batch: int, without_dw1: bool = False):
    """(step(), the optimised HLO text): the same train step as peers.py's jax case (buffers donated, the POOL
    batches cycled), compiled here so that the HLO read is the executable timed. without_dw1: W1 held out of
    the gradient (its gradient a constant zero, its Adam update still run), so XLA drops the dW1 product."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import optax  # noqa: PLC0415

    import peers  # noqa: PLC0415
    w1, b1, w2, b2 = (jnp.asarray(w) for w in peers.initial_weights())
    params, tx = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, optax.adam(LR)
    data = [(jnp.asarray(x), jnp.asarray(y.astype("int32"))) for x, y in peers.batches(batch)]

    def loss_fn(p, x, y):
        w1 = jax.lax.stop_gradient(p["w1"]) if without_dw1 else p["w1"]
        h = jax.nn.relu(x @ w1.T + p["b1"])
        z = h @ p["w2"].T + p["b2"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1))

    def train_step(p, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    carry = {"p": params, "s": tx.init(params), "i": 0}
    compiled = jax.jit(train_step, donate_argnums=(0, 1)).lower(carry["p"], carry["s"], *data[0]).compile()

    def step(steps: int = 1) -> float:
        """`steps` steps back to back, then wait for the last loss (as peers.py's loop: dispatch is asynchronous,
        so the next step's Python work overlaps this one's)."""
        for _ in range(steps):
            x, y = data[carry["i"] % len(data)]
            carry["i"] += 1
            carry["p"], carry["s"], loss = compiled(carry["p"], carry["s"], x, y)
        return float(loss)
    step(3)
    return step, compiled.as_text()


def trace_step(step, hlo: str, batch: int, steps: int) -> tuple[float, float, dict]:
    """(step wall us, us with at least one operation running, {group: us per step}) from jax.profiler's trace of
    `steps` steps: XLA's CPU runtime records each operation (thunk) it runs, on whichever thread ran it; a
    group's time is summed over threads, so groups add up to more than the busy time where operations ran
    side by side."""
    import gzip  # noqa: PLC0415
    import json  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    import time  # noqa: PLC0415

    import jax  # noqa: PLC0415
    groups = op_groups(hlo, batch)
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            start = time.perf_counter()
            for _ in range(steps):
                step()
            wall = (time.perf_counter() - start) / steps
        found = sorted(Path(folder).rglob("perfetto_trace.json.gz"))
        events = json.load(gzip.open(found[-1])) if found else {}
    events = events.get("traceEvents", []) if isinstance(events, dict) else events
    per_group, spans = {}, []
    for event in events:
        group = groups.get(event.get("name"))
        if event.get("ph") == "X" and group:
            per_group[group] = per_group.get(group, 0.0) + event["dur"] / steps
            spans.append((event["ts"], event["ts"] + event["dur"]))
    busy, reach = 0.0, float("-inf")
    for start, end in sorted(spans):  # the union of the operations' spans
        busy += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return wall * 1e6, busy / steps, per_group


def op_groups(hlo: str, batch: int) -> dict:
    """{entry instruction name: the step's piece it belongs to}: the five products by their output shape and
    contracting dimensions, the optimizer (everything outside value_and_grad) and the rest of forward/backward."""
    bodies, groups = computations(hlo), {}
    for line in entry_lines(hlo):
        head = re.match(r"%([\w.\-]+) = (\S+) ([\w\-]+)\(", line)
        if not head or head.group(3) in ("parameter", "constant", "tuple"):
            continue
        name = head.group(1)
        called = re.search(r"calls=%([\w.\-]+)", line)
        text = line + "\n" + (bodies.get(called.group(1), "") if called else "")
        product = next((p for p, signature in product_signatures(batch).items() if dot_signature(text) == signature),
                       None)
        groups[name] = product or ("rest of forward/backward" if "jvp(" in line else "Adam x4")
    return groups


def product_signatures(batch: int) -> dict:
    """{product: (its output shape, lhs and rhs contracting dimension)} as a dot of the step's HLO has them."""
    return {"fwd1": (f"{batch},256", "1", "1"), "fwd2": (f"{batch},10", "1", "1"), "dW2": ("10,256", "0", "0"),
            "da": (f"{batch},256", "1", "0"), "dW1": ("256,784", "0", "0")}


def dot_signature(text: str):
    """(the dot's output shape, lhs and rhs contracting dimension) or None where the text has no dot."""
    dot = re.search(r"f32\[([\d,]+)\]\S* dot\(.*?lhs_contracting_dims=\{(\d)\}, rhs_contracting_dims=\{(\d)\}", text)
    return dot.groups() if dot else None


def jax_product(batch: int, lhs: tuple, rhs: tuple, dims: tuple):
    """(call, what XLA runs it as): one dot_general jitted alone at the step's shapes and dimensions."""
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(1)
    a, b = (jax.numpy.asarray(rng.random(tuple(batch if d == "b" else d for d in s), dtype=np.float32))
            for s in (lhs, rhs))
    product = jax.jit(lambda a, b: jax.lax.dot_general(a, b, dims))
    text = product.lower(a, b).compile().as_text()
    product(a, b).block_until_ready()
    contracting = f"contracting {dims[0][0][0]},{dims[0][1][0]}"
    return (lambda: product(a, b).block_until_ready()), f"{dot_runtime(text)}, {contracting}"


def dot_runtime(hlo: str) -> str:
    """Which operation of the module's entry runs its dot: a YNNPACK fusion or XLA's own dot."""
    entry = entry_lines(hlo)
    if any("__ynn_fusion" in line for line in entry):
        return "YNNPACK fusion"
    if any("__xnn_fusion" in line for line in entry):
        return "XNNPACK fusion"
    if any("onednn" in line.lower() for line in entry):
        return "oneDNN call"
    if any(re.search(r"\bdot\(", line) for line in entry):
        return "XLA dot (Eigen)"
    return "?"


def jax_adam():
    """(call, optimised HLO): optax's Adam update plus apply_updates of the four parameters, jitted, donated."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import optax  # noqa: PLC0415

    import peers  # noqa: PLC0415
    tx = optax.adam(LR, *BETAS, EPS)
    params = {k: jnp.asarray(w) for k, w in zip(("w1", "b1", "w2", "b2"), peers.initial_weights())}
    rng = np.random.default_rng(2)
    grads = {k: jnp.asarray(rng.standard_normal(p.shape, dtype=np.float32) * 1e-2) for k, p in params.items()}

    def update(p, state, g):
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    update = jax.jit(update, donate_argnums=(0, 1))
    carry = {"p": params, "s": tx.init(params)}
    text = update.lower(carry["p"], carry["s"], grads).compile().as_text()

    def call():
        carry["p"], carry["s"] = update(carry["p"], carry["s"], grads)
        jax.block_until_ready(carry["p"])
    call()
    return call, text


def jax_floor():
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    a = jnp.ones(10, jnp.float32)
    add = jax.jit(lambda a, b: a + b)
    add(a, a).block_until_ready()
    return lambda: add(a, a).block_until_ready()


def engine_adam():
    """The engine's Adam (adam_update_group, both threads) on the four parameters' arrays, as the step calls it."""
    import numpy as np  # noqa: PLC0415

    import peers  # noqa: PLC0415
    from tinygrad_opt.optim.adam import update_group  # noqa: PLC0415
    params = peers.initial_weights()
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(p.shape, dtype=np.float32) * np.float32(1e-2) for p in params]
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    options = dict(step=10, lr=LR, beta1=BETAS[0], beta2=BETAS[1], eps=EPS, weight_decay=0.0, amsgrad=False,
                   maximize=False)

    def call():
        update_group(params, grads, m, v, [None] * len(params), **options)
    call()
    return call


# ---- reading the optimised HLO --------------------------------------------------------------

def entry_lines(hlo: str) -> list[str]:
    lines, inside = [], False
    for line in hlo.splitlines():
        if line.startswith("ENTRY"):
            inside = True
        elif inside and line.startswith("}"):
            break
        elif inside:
            lines.append(line.strip())
    return lines


def computations(hlo: str) -> dict[str, str]:
    """{computation name: its body} for every computation of the module."""
    bodies, name, body = {}, None, []
    for line in hlo.splitlines():
        head = re.match(r"^(?:ENTRY )?%([\w.\-]+) ", line)
        if head and line.rstrip().endswith("{"):
            name, body = head.group(1), []
        elif line.startswith("}") and name:
            bodies[name] = "\n".join(body)
            name = None
        elif name:
            body.append(line)
    return bodies


def count_loop_fusions(hlo: str) -> int:
    return sum("kind=kLoop" in line for line in entry_lines(hlo))


def describe_step(hlo: str) -> list[str]:
    """One line per matrix product of the step's entry (its shapes, contracting dimensions, runtime and
    thread partitions), then the count of the other operations by kind."""
    bodies, out, kinds = computations(hlo), [], {}
    for line in entry_lines(hlo):
        head = re.match(r"%([\w.\-]+) = (\S+) (\w[\w\-]*)\(", line)
        if not head:
            continue
        name, shape, op = head.groups()
        called = re.search(r"calls=%([\w.\-]+)", line)
        body = bodies.get(called.group(1), "") if called else ""
        dot = re.search(r"= (\S+) dot\((.*?)\), (lhs_contracting_dims=\{\d*\}, rhs_contracting_dims=\{\d*\})",
                        body if "__ynn_fusion" in line else line)
        if "__ynn_fusion" in line and dot:
            out.append(f"{name}: YNNPACK fusion, dot -> {dot.group(1)} ({dot.group(3)})")
            continue
        if op == "dot" and dot:
            operands = re.findall(r"%([\w.\-]+)", dot.group(2))
            out.append(f"{name}: XLA dot (Eigen) -> {shape} of {', '.join(operands)} ({dot.group(3)})")
            continue
        fusion_kind = re.search(r"kind=(\w+)", line)
        kind = ("YNNPACK fusion (reduction)" if "__ynn_fusion" in line else
                "loop fusion split in 2 (outer_dimension_partitions)" if '"outer_dimension_partitions":["2"]' in line
                else f"{op} ({fusion_kind.group(1)})" if op == "fusion" and fusion_kind else op)
        kinds[kind] = kinds.get(kind, 0) + 1
    adam = [line for line in entry_lines(hlo) if "jvp(" not in line and "kind=kLoop" in line]
    split = sum('"outer_dimension_partitions":["2"]' in line for line in adam)
    out.append("other operations: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])))
    out.append(f"Adam: {len(adam)} loop fusions, {split} of them split in 2 (per parameter one for each moment, one "
               "for the parameter; the bias corrections and the step count in their own)")
    return out


if __name__ == "__main__":
    sys.exit(main())
