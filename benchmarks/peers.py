"""The seed's training step in tinygrad_opt and its peers, each framework alone in its own process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/peers.py
    python benchmarks/peers.py --batches 64 --rounds 3 --frameworks tinygrad_opt numpy   (a quick look)

The step: 784-256-10 MLP, ReLU, softmax cross-entropy on class indices, Adam (lr 1e-3),
float32, written as each framework's plain user loop (forward, loss, backward, optimizer
step, zero_grad). Every framework starts from the same weights (PyTorch's default Linear
init, drawn once in NumPy) and cycles through the same POOL batches.

Why processes: timed in one process, PyTorch's OpenMP pool, OpenBLAS's pool and XLA's
threads all spin on the same cores and slow each other down. Here every measurement is a
fresh worker process (this script with --worker) that imports one framework only, with
the thread count set in the environment before anything is imported. Rounds interleave:
in each round every (framework, batch) pair gets one worker, in an order shuffled anew each
round, so load from other jobs falls on all of them alike and no pair keeps the same
neighbours; the table gives the median over rounds.

Each worker first runs CHECK_STEPS steps from the shared start and reports the loss after
them; the parent checks it against the NumPy floor's (same math, so the losses agree to
float32 rounding). It also reports the time to the first step (imports, building the
model and optimizer, and the first step, from the worker's first line) and the first
step alone, both as the median over all of a framework's workers (so a Numba cache warmed by
the first worker; benchmarks/first_step.py measures the cold cache). Frameworks that are not
installed are skipped with a note.

    tinygrad_opt     the engine's plain loop (nn.Sequential, F.cross_entropy, optim.Adam)
    tinygrad_opt-capture  the same loop body through tg.compile: recorded twice, then replayed
    torch            PyTorch eager, torch.optim.Adam defaults (the per-parameter loop on CPU)
    torch-foreach    Adam(foreach=True)
    torch-fused      Adam(fused=True)
    jax              JAX, jax.jit of the whole step (value_and_grad + optax.adam), buffers donated
    numpy            hand-written NumPy forward/backward/Adam without autograd: the floor
    ...-flush        the same loop after tg.set_flush_denormal(True) / torch.set_flush_denormal(True):
                     subnormal floats become 0 (JAX's XLA flushes them by itself); the engine's call
                     starts Numba before the first step, so compare its "to first step" column

Why the flush variants: the uniform batches leave about 107 of the 256 hidden units dead, whose
weights get zero gradients, so their Adam moments decay into subnormal floats after about 800
steps, which x86 computes in slow microcode (benchmarks/README.md).
"""
from __future__ import annotations

import time

WORKER_START = time.perf_counter()  # before the heavy imports: the time to the first step counts them

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IN, HIDDEN, OUT = 784, 256, 10
LR = 1e-3
POOL = 4  # distinct batches cycled through, so no framework runs on one cache-hot batch
CHECK_STEPS = 20
# Warm-up before the timed blocks: the steady state of a training run, past the ~800 steps after which the
# dead units' Adam moments are subnormal (see below), but at most WARM_SECONDS at the slow batch sizes.
WARM_STEPS, WARM_SECONDS = 1000, 3.0
FRAMEWORKS = ("tinygrad_opt", "tinygrad_opt-capture", "tinygrad_opt-flush", "tinygrad_opt-capture-flush", "torch",
              "torch-foreach", "torch-fused", "torch-flush", "torch-fused-flush", "jax", "numpy")
FLUSH = "-flush"  # the suffix of a variant that runs with subnormals flushed to zero
MODULES = {"tinygrad_opt": "numba", "torch": "torch", "jax": "optax", "numpy": "numpy"}  # what must import, per family


# ---- the shared workload (NumPy only, so every worker can build it) ------------------

def initial_weights(seed: int = 0) -> list:
    """PyTorch's default Linear init, drawn once so that every framework starts from the same point."""
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(IN), 1 / np.sqrt(HIDDEN)
    return [rng.uniform(-b1, b1, (HIDDEN, IN)).astype(np.float32), rng.uniform(-b1, b1, HIDDEN).astype(np.float32),
            rng.uniform(-b2, b2, (OUT, HIDDEN)).astype(np.float32), rng.uniform(-b2, b2, OUT).astype(np.float32)]


def batches(batch: int, seed: int = 1) -> list:
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    return [(rng.random((batch, IN), dtype=np.float32), rng.integers(0, OUT, batch)) for _ in range(POOL)]


# ---- one step function per framework: step() -> loss (lazy; read with to_float) -----

def tinygrad_opt_case(batch: int, fused: bool = True, capture: bool = False, flush: bool = False):
    """fused=False calls the layers one by one (Linear, then ReLU), as before ops.LinearReLU (profile_step.py);
    capture=True runs the same loop body through tg.compile (recorded on the first two steps, then replayed);
    flush=True calls tg.set_flush_denormal(True) first."""
    sys.path.insert(0, str(ROOT))  # a checkout without installing
    import tinygrad_opt as tg  # noqa: PLC0415
    import tinygrad_opt.nn.functional as F  # noqa: PLC0415
    from tinygrad_opt import nn, optim  # noqa: PLC0415

    if flush and not tg.set_flush_denormal(True):
        raise SystemExit("tg.set_flush_denormal: not supported on this CPU")

    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    for p, w in zip(model.parameters(), initial_weights()):
        p.data[...] = w
    opt = optim.Adam(model.parameters(), lr=LR)
    data = [(tg.Tensor(x), tg.Tensor(y)) for x, y in batches(batch)]
    state = {"i": 0}

    def forward(x):
        if fused:
            return model(x)
        for layer in model:
            x = layer(x)
        return x

    def train_step(x, y):
        loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    run = tg.compile(train_step) if capture else train_step

    def step():
        x, y = data[state["i"] % POOL]
        state["i"] += 1
        return run(x, y)

    step.model, step.optimizer = model, opt  # for benchmarks/flush_denormal.py's look at the optimizer state
    step.run = run  # the tg.compile'd step where capture=True (profile_step.py --capture times its replay)
    from tinygrad_opt.kernels import background  # noqa: PLC0415

    # sync: the engine's only asynchronous work is its background compile thread, which takes a core
    # at the start of a process
    return step, lambda loss: float(loss.item()), background.wait_idle


def torch_case(batch: int, adam_options: dict, flush: bool = False):
    import torch  # noqa: PLC0415

    if flush and not torch.set_flush_denormal(True):
        raise SystemExit("torch.set_flush_denormal: not supported on this CPU")

    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT))
    with torch.no_grad():
        for p, w in zip(model.parameters(), initial_weights()):
            p.copy_(torch.from_numpy(w))
    opt = torch.optim.Adam(model.parameters(), lr=LR, **adam_options)
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches(batch)]
    state = {"i": 0}

    def step():
        x, y = data[state["i"] % POOL]
        state["i"] += 1
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step, lambda loss: float(loss.item()), lambda: None


def jax_case(batch: int):
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import optax  # noqa: PLC0415

    w1, b1, w2, b2 = (jnp.asarray(w) for w in initial_weights())
    params = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    tx = optax.adam(LR)
    carry = {"params": params, "opt": tx.init(params)}
    data = [(jnp.asarray(x), jnp.asarray(y.astype("int32"))) for x, y in batches(batch)]

    def loss_fn(p, x, y):
        h = jax.nn.relu(x @ p["w1"].T + p["b1"])
        z = h @ p["w2"].T + p["b2"]
        logp = jax.nn.log_softmax(z)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def train_step(p, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))
    state = {"i": 0}

    def step():
        x, y = data[state["i"] % POOL]
        state["i"] += 1
        carry["params"], carry["opt"], loss = train_step(carry["params"], carry["opt"], x, y)
        return loss

    return step, lambda loss: float(loss), lambda: jax.block_until_ready(carry["params"])


def numpy_case(batch: int):
    """Forward, hand-derived backward and Adam in plain NumPy, written to avoid needless temporaries."""
    import numpy as np  # noqa: PLC0415

    params = initial_weights()
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    scratch = [np.empty_like(p) for p in params]
    data = batches(batch)
    rows = np.arange(batch)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    state = {"i": 0, "t": 0}

    def step():
        x, y = data[state["i"] % POOL]
        state["i"] += 1
        w1, b1, w2, b2 = params
        h = x @ w1.T
        h += b1
        a = np.maximum(h, 0)
        z = a @ w2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        picked = z[rows, y]
        e = np.exp(z, out=z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s)[:, 0].mean() - picked.mean()
        e /= s
        e[rows, y] -= 1
        e /= batch  # dL/dz for the mean loss
        grads = [None, None, e.T @ a, e.sum(axis=0)]
        da = e @ w2
        da *= h > 0
        grads[0] = da.T @ x
        grads[1] = da.sum(axis=0)
        state["t"] += 1
        t = state["t"]
        step_size = LR / (1 - beta1**t)
        bc2 = (1 - beta2**t) ** 0.5
        for p, g, mi, vi, d in zip(params, grads, m, v, scratch):
            mi *= beta1
            mi += (1 - beta1) * g
            vi *= beta2
            vi += (1 - beta2) * g * g
            np.sqrt(vi, out=d)
            d /= bc2
            d += eps
            np.divide(mi, d, out=d)
            d *= step_size
            p -= d
        return loss

    return step, float, lambda: None


def make_case(framework: str, batch: int):
    flush = framework.endswith(FLUSH)
    name = framework.removesuffix(FLUSH)
    if name.startswith("tinygrad_opt"):
        return tinygrad_opt_case(batch, capture=name == "tinygrad_opt-capture", flush=flush)
    if name.startswith("torch"):
        options = {"torch": {}, "torch-foreach": {"foreach": True}, "torch-fused": {"fused": True}}[name]
        return torch_case(batch, options, flush=flush)
    if framework == "jax":
        return jax_case(batch)
    if framework == "numpy":
        return numpy_case(batch)
    raise ValueError(f"unknown framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")


# ---- the worker: one framework, one batch size, one process --------------------------

def thread_environment(threads: int) -> dict:
    """Environment variables that fix every library's thread count before it is imported."""
    env = {var: str(threads) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                         "NUMBA_NUM_THREADS")}
    if threads == 1:  # XLA's CPU client: one intra-op thread (its default is every core)
        env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                            "intra_op_parallelism_threads=1").strip()
    return env


def worker(framework: str, batch: int, budget: float, blocks: int) -> dict:
    step, to_float, sync = make_case(framework, batch)
    start = time.perf_counter()
    loss = step()
    first_loss = to_float(loss)  # waits for the first step, also where it runs asynchronously
    first = time.perf_counter() - start
    to_first = time.perf_counter() - WORKER_START
    for _ in range(CHECK_STEPS - 1):
        loss = step()
    check_loss = to_float(loss)
    sync()
    # warm up (allocator pools, lazy first-call work, the subnormal moments' onset: WARM_STEPS), then size
    # the blocks to `budget` seconds from the last warm steps' rate
    begin, warm = time.perf_counter(), 0
    while warm < WARM_STEPS and time.perf_counter() - begin < WARM_SECONDS:
        step()
        warm += 1
    sync()
    begin, warm = time.perf_counter(), 0
    while warm < 3 or time.perf_counter() - begin < budget / 3:
        step()
        warm += 1
    sync()
    per = (time.perf_counter() - begin) / warm
    steps = max(3, int(budget / per))
    rates = []
    for _ in range(blocks):
        begin = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps / (time.perf_counter() - begin))
    return {"framework": framework, "batch": batch, "steps_per_s": statistics.median(rates),
            "first_loss": first_loss, "check_loss": check_loss, "first_step_s": first,
            "to_first_step_s": to_first, "steps": steps * blocks, "block_rates": rates}


def run_worker(framework: str, batch: int, threads: int, budget: float, blocks: int) -> dict:
    env = dict(os.environ, **thread_environment(threads))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, "--batches", str(batch),
               "--budget", str(budget), "--blocks", str(blocks)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"peers.py: the {framework} worker at batch {batch} failed: " + " | ".join(tail))
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the parent: rounds, medians, the table ------------------------------------------

def installed(framework: str) -> bool:
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec(MODULES[family(framework)]) is not None


def versions(frameworks: list[str]) -> str:
    import importlib.metadata as md  # noqa: PLC0415

    names = ["numpy", "numba", "torch", "jax", "jaxlib", "optax"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(found)


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def check_losses(results: dict, frameworks: list[str], batches_: list[int], tolerance: float) -> list[str]:
    """Every framework's loss after CHECK_STEPS steps against the NumPy floor's (or the first framework's)."""
    base = "numpy" if "numpy" in frameworks else frameworks[0]
    problems = []
    for batch in batches_:
        ref = results[(base, batch)][0]["check_loss"]
        for fw in frameworks:
            for r in results[(fw, batch)]:
                if abs(r["check_loss"] - ref) > tolerance * max(1.0, abs(ref)):
                    problems.append(f"{fw} at batch {batch}: loss {r['check_loss']:.6f} after {CHECK_STEPS} "
                                    f"steps, {base} {ref:.6f}")
    return problems


def family(framework: str) -> str:
    return framework.split("-")[0]


def table(results: dict, frameworks: list[str], batches_: list[int]) -> str:
    med = {key: statistics.median(r["steps_per_s"] for r in runs) for key, runs in results.items()}
    lines = ["| framework | " + " | ".join(f"B={b}" for b in batches_) + " | first step (s) | to first step (s) |",
             "|---|" + "---:|" * (len(batches_) + 2)]
    for fw in frameworks:
        cells = []
        for b in batches_:  # peers: the other frameworks (not this one's variants: torch-fused is torch)
            peers = [med[(p, b)] for p in frameworks if family(p) != family(fw)]
            best = max(peers) if peers else med[(fw, b)]
            cells.append(f"{med[(fw, b)]:.1f} ({med[(fw, b)] / best:.2f}x)")
        # every worker of this framework: the first one alone may have compiled what the cache lacked
        first = statistics.median(r["first_step_s"] for b in batches_ for r in results[(fw, b)])
        to_first = statistics.median(r["to_first_step_s"] for b in batches_ for r in results[(fw, b)])
        lines.append(f"| {fw} | " + " | ".join(cells) + f" | {first:.3f} | {to_first:.2f} |")
    return "\n".join(lines)


def paired_table(results: dict, frameworks: list[str], batches_: list[int]) -> str:
    """Each framework's rate over the fastest other framework's (the one with the highest median) in the same
    round, median over rounds: the VM's speed drifts between rounds more than within one, and a ratio of
    workers that ran minutes apart carries that drift."""
    med = {key: statistics.median(r["steps_per_s"] for r in runs) for key, runs in results.items()}
    lines = ["| framework | " + " | ".join(f"B={b}: ratio (rounds' range) to" for b in batches_) + " |",
             "|---|" + "---|" * len(batches_)]
    for fw in frameworks:
        cells = []
        for b in batches_:
            peers = [p for p in frameworks if family(p) != family(fw)]
            if not peers:
                cells.append("-")
                continue
            best = max(peers, key=lambda p: med[(p, b)])
            ratios = [mine["steps_per_s"] / theirs["steps_per_s"]
                      for mine, theirs in zip(results[(fw, b)], results[(best, b)])]
            cells.append(f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) {best}")
        lines.append(f"| {fw} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (one fresh worker per pair each)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of every library (default: cores)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per timed block in a worker")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per worker (their median is its rate)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="relative loss agreement after 20 steps")
    parser.add_argument("--json", help="also write every worker's result to this file")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.batches[0], args.budget, args.blocks)))
        return

    frameworks = []
    for fw in args.frameworks:
        if installed(fw):
            frameworks.append(fw)
        else:
            print(f"{fw}: {MODULES[family(fw)]} is not installed, skipped (pip install -e '.[bench]')")
    print(f"{versions(frameworks)}; {os.cpu_count()} cores, {args.threads} threads per library; "
          f"load average at start {load()}")
    results: dict = {(fw, b): [] for fw in frameworks for b in args.batches}
    pairs = [(fw, b) for b in args.batches for fw in frameworks]
    for rnd in range(args.rounds):
        order = list(pairs)
        random.Random(rnd).shuffle(order)  # no pair always first, nor always after the same one
        for fw, b in order:
            results[(fw, b)].append(run_worker(fw, b, args.threads, args.budget, args.blocks))
        print(f"round {rnd + 1}/{args.rounds} done, load average {load()}", flush=True)
        if rnd + 1 < args.rounds:  # the table so far, should the run be cut short
            print(table(results, frameworks, args.batches), flush=True)
    problems = check_losses(results, frameworks, args.batches, args.tolerance)
    if problems:
        raise SystemExit("losses disagree:\n  " + "\n  ".join(problems))
    print(f"check: every framework's loss after {CHECK_STEPS} steps agrees with the floor to {args.tolerance:g}\n")
    print(f"training steps/s, median of {args.rounds} rounds (ratio to the fastest other framework at that batch, "
          "variants of one framework not counted as others)")
    print(table(results, frameworks, args.batches))
    print("\nthe same ratios paired by round: median (range) over rounds of the rate over that of the fastest other "
          "framework (by median) in the same round")
    print(paired_table(results, frameworks, args.batches))
    print(f"\nload average at end {load()}")
    if args.json:
        rows = [r for runs in results.values() for r in runs]
        Path(args.json).write_text(json.dumps({"threads": args.threads, "rounds": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
