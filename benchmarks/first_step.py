"""The engine's first training step with a cold and with a warm Numba cache, phase by phase.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/first_step.py
    python benchmarks/first_step.py --runs 3 --batch 64

The step is peers.py's plain user loop of the engine (784-256-10 MLP, ReLU, cross-entropy,
Adam, float32, the same weights and batches), and "first step" means what peers.py
reports: forward, loss, backward, optimizer step, zero_grad and reading the loss, from
the step's start. Numba compiles each kernel the step runs at its first call and caches
the machine code on disk; the next process loads it instead.

Each run is a pair of fresh worker processes (this script with --worker) sharing an empty
temporary NUMBA_CACHE_DIR: the first finds the cache empty (cold), the second finds what the
first wrote (warm). Numba consults NUMBA_CACHE_DIR before the package's own cache folder
(kernels/__pycache__), so the package's cache is neither read nor touched. The thread
counts are peers.py's (every library on all cores unless --threads says otherwise).

`--optimizer NAME` steps with another of `tinygrad-opt train --optimizer`'s choices, built as the CLI builds
it (train/factories.py, the optimizer's CLI defaults, peers.py's lr); `all` runs each in turn and prints one
table of the cold and warm first steps and the optimizer step's phase per optimizer. SAM and L-BFGS step
with a closure that re-runs the batch, as the Trainer's.

`--background on` (the default, as the package's) sets TINYGRAD_OPT_BACKGROUND_COMPILE=1: kernels with a
first-call twin (kernels/first_call.py) compile on a background thread while the step runs the twin
(kernels/background.py); `off` sets it to 0: every kernel compiles at its first call on the step's thread.

Printed: medians over the runs of the first step, the time from the worker's first line
and from its launch by this script (the interpreter's start-up too), `import tinygrad_opt`,
each phase of the first step, and every Numba kernel the step compiled or loaded from the
cache, with its time (measured around Numba's Dispatcher.compile, which either loads a
cached version or compiles) and the phase that called it ("background" for the background
thread's), and the time from the first step's start until the background thread has nothing left
to compile. Importing a kernel module, and Numba's start (its import and the set-up of its CPU
target, kernels/lazy_jit.py: on the background thread when the first loop has a twin), are listed too.
"""
from __future__ import annotations

import time

WORKER_START = time.perf_counter()  # before the heavy imports: the import phase counts them
LAUNCH_WALL = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import peers  # noqa: E402  (stdlib imports only: the shared weights, batches and thread settings)

PHASES = ("import", "build", "forward", "backward", "optimizer step", "zero_grad + item")
STEP_PHASES = PHASES[2:]


# ---- the worker: one process, one first step ------------------------------------------

class NumbaWatch:
    """Records every kernel-module import of the registry, Numba's start and every Numba compile or cache
    load, by phase.

    The registry imports a kernel module when a kernel is first asked for; Numba starts (is imported
    and set up) at the first loop's need: on the background thread where the kernel has a first-call
    twin, else where the kernel is asked for. Dispatcher.compile is patched as soon as Numba is there,
    before any kernel runs.
    Nested compiles (a kernel calling another jitted function) are listed under their caller.
    """

    def __init__(self):
        self.phase = "import"
        self.events: list[dict] = []
        self._depth = threading.local()  # per thread: the background thread compiles too
        self._patched = False

    def install(self) -> None:
        from tinygrad_opt.kernels import registry  # noqa: PLC0415

        load = registry._load

        def timed_load(spec, name, **options):
            fresh = isinstance(spec, str) and f"tinygrad_opt.kernels.{spec.partition(':')[0]}" not in sys.modules
            start, start_cpu = time.perf_counter(), time.thread_time()
            fn = load(spec, name, **options)
            if fresh:
                self.events.append({"phase": self.phase, "what": f"import kernels.{spec.partition(':')[0]}",
                                    "kind": "import", "s": time.perf_counter() - start,
                                    "cpu_s": time.thread_time() - start_cpu, "depth": 0})
            self._patch_numba()
            return fn

        registry._load = timed_load
        self._patch_numba()
        self._time_numba_start()

    def _time_numba_start(self) -> None:
        """List Numba's start (its import and set-up, kernels/lazy_jit.py) with its thread's phase, and patch
        Dispatcher.compile as soon as Numba is imported, whichever thread starts it."""
        from tinygrad_opt.kernels import lazy_jit  # noqa: PLC0415

        if lazy_jit.started():
            return
        lazy_jit.on_start(self._patch_numba)
        start = lazy_jit.start

        def timed_start():
            if lazy_jit.started():
                return start()
            began, began_cpu = time.perf_counter(), time.thread_time()
            start()
            phase = self.phase if threading.current_thread() is threading.main_thread() else "background"
            self.events.append({"phase": phase, "what": "start Numba (import, set-up)", "kind": "import",
                                "s": time.perf_counter() - began, "cpu_s": time.thread_time() - began_cpu,
                                "depth": 0})

        lazy_jit.start = timed_start

    def _patch_numba(self) -> None:
        if self._patched or "numba.core.dispatcher" not in sys.modules:
            return
        from numba.core.dispatcher import Dispatcher  # noqa: PLC0415

        compile_ = Dispatcher.compile
        watch = self

        def timed_compile(dispatcher, sig):
            hits, misses = sum(dispatcher._cache_hits.values()), sum(dispatcher._cache_misses.values())
            already = len(dispatcher.overloads)
            depth = getattr(watch._depth, "n", 0)
            watch._depth.n = depth + 1
            start, start_cpu = time.perf_counter(), time.thread_time()
            try:
                return compile_(dispatcher, sig)
            finally:
                seconds, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
                watch._depth.n = depth
                if len(dispatcher.overloads) > already:  # not a lookup of a version compiled before
                    hit = sum(dispatcher._cache_hits.values()) > hits
                    kind = "cache load" if hit else ("compile" if sum(dispatcher._cache_misses.values()) > misses
                                                     else "other")
                    phase = watch.phase if threading.current_thread() is threading.main_thread() else "background"
                    watch.events.append({"phase": phase, "what": dispatcher.py_func.__qualname__,
                                         "kind": kind, "s": seconds, "cpu_s": cpu, "depth": depth})

        Dispatcher.compile = timed_compile
        self._patched = True


def make_optimizer(name: str, params: list):
    """peers.py's Adam, or the optimizer `tinygrad-opt train --optimizer NAME` builds, at peers.py's lr."""
    from tinygrad_opt import optim  # noqa: PLC0415

    if name == "adam":
        return optim.Adam(params, lr=peers.LR)
    from tinygrad_opt.train.config import TrainConfig  # noqa: PLC0415
    from tinygrad_opt.train.factories import make_optimizer as build  # noqa: PLC0415

    optimizer = build(TrainConfig(optimizer=name, lr=peers.LR).resolved(), params)
    if hasattr(optimizer, "train"):  # the schedule-free ones start in eval mode: the Trainer switches them
        optimizer.train()
    return optimizer


def worker(batch: int, optimizer: str = "adam") -> dict:
    watch = NumbaWatch()
    marks = {}
    t = time.perf_counter()
    import tinygrad_opt as tg  # noqa: PLC0415
    import tinygrad_opt.nn.functional as F  # noqa: PLC0415
    from tinygrad_opt import nn  # noqa: PLC0415

    marks["import"] = time.perf_counter() - WORKER_START
    watch.install()

    def phase(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        if watch.phase != "import":
            marks[watch.phase] = now - t
        watch.phase, t = name, now

    phase("build")
    model = nn.Sequential(nn.Linear(peers.IN, peers.HIDDEN), nn.ReLU(), nn.Linear(peers.HIDDEN, peers.OUT))
    for p, w in zip(model.parameters(), peers.initial_weights()):
        p.data[...] = w
    opt = make_optimizer(optimizer, list(model.parameters()))
    data = [(tg.Tensor(x), tg.Tensor(y)) for x, y in peers.batches(batch)]
    x, y = data[0]

    def step() -> None:
        if getattr(opt, "requires_closure", False):  # SAM, L-BFGS: the batch again, as the Trainer's closure
            def closure():
                opt.zero_grad()
                again = F.cross_entropy(model(x), y)
                again.backward()
                return again
            opt.step(closure)
        else:
            opt.step()

    start, start_cpu = time.perf_counter(), time.thread_time()
    first_start = start
    phase("forward")
    loss = F.cross_entropy(model(x), y)
    phase("backward")
    loss.backward()
    phase("optimizer step")
    step()
    phase("zero_grad + item")
    opt.zero_grad()
    value = float(loss.item())
    phase("done")
    first, first_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
    to_first = time.perf_counter() - WORKER_START
    done_wall = time.time()

    start = time.perf_counter()  # the second step: what the first one costs beyond a warm step
    x, y = data[1]
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    step()
    opt.zero_grad()
    float(loss.item())
    second = time.perf_counter() - start
    from tinygrad_opt.kernels import background  # noqa: PLC0415

    background.wait_idle()
    settled = time.perf_counter() - first_start
    return {"first_step_s": first, "first_step_cpu_s": first_cpu, "to_first_step_s": to_first, "done_wall": done_wall,
            "optimizer": optimizer, "second_step_s": second, "all_compiled_s": settled, "phases": marks,
            "events": watch.events, "loss": value, "numba": _version("numba")}


def _version(name: str) -> str:
    import importlib.metadata as md  # noqa: PLC0415

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


# ---- the parent: pairs of workers on one fresh cache, medians -------------------------

def run_worker(cache: str, batch: int, threads: int, background: str = "off", optimizer: str = "adam") -> dict:
    env = dict(os.environ, **peers.thread_environment(threads), NUMBA_CACHE_DIR=cache,
               TINYGRAD_OPT_BACKGROUND_COMPILE="1" if background == "on" else "0")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--batch", str(batch),
               "--optimizer", optimizer]
    launched = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit("first_step.py: a worker failed: " + " | ".join(tail))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["from_launch_s"] = result.pop("done_wall") - launched
    return result


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def kernel_rows(runs: list[dict]) -> list[tuple]:
    """(phase, what, kind, depth, median seconds, median CPU seconds, runs that had it), in first-seen order."""
    order, seen = [], {}
    for run in runs:
        for e in run["events"]:
            key = (e["phase"], e["what"], e["kind"], e["depth"])
            if key not in seen:
                order.append(key)
                seen[key] = []
            seen[key].append(e)
    return [key + (median(e["s"] for e in seen[key]), median(e["cpu_s"] for e in seen[key]), len(seen[key]))
            for key in order]


def report(cold: list[dict], warm: list[dict], batch: int, threads: int, background: str = "off") -> str:
    lines = [f"first training step of the seed MLP 784-256-10 at B={batch} ({cold[0]['optimizer']}, float32, "
             f"{threads} threads), "
             f"median of {len(cold)} runs; Numba {cold[0]['numba']}; background compile {background}",
             "",
             f"{'seconds':<36}{'cold cache':>12}{'warm cache':>12}"]

    def row(label: str, get) -> None:
        lines.append(f"{label:<36}{median(map(get, cold)):>12.3f}{median(map(get, warm)):>12.3f}")

    row("first step (as peers.py)", lambda r: r["first_step_s"])
    row("  its CPU time (this thread)", lambda r: r["first_step_cpu_s"])
    row("to first step, from worker start", lambda r: r["to_first_step_s"])
    row("to first step, from launch", lambda r: r["from_launch_s"])
    row("second step", lambda r: r["second_step_s"])
    row("every kernel compiled, from step", lambda r: r["all_compiled_s"])
    lines.append("phases:")
    for name in PHASES:
        row(f"  {name}", lambda r, name=name: r["phases"].get(name, 0.0))
    for label, runs in (("cold", cold), ("warm", warm)):
        top = [[e for e in r["events"] if e["depth"] == 0] for r in runs]
        total = median(sum(e["s"] for e in events) for events in top)
        total_cpu = median(sum(e["cpu_s"] for e in events) for events in top)
        lines += ["", f"Numba, {label} cache: {total:.3f} s in all ({total_cpu:.3f} s CPU); each entry's median "
                  "over the runs that had it:",
                  f"  {'phase':<18}{'kernel':<34}{'':<12}{'s':>8}{'CPU s':>8}"]
        for phase, what, kind, depth, seconds, cpu, count in kernel_rows(runs):
            name = "  " * depth + what
            lines.append(f"  {phase:<18}{name:<34}{kind:<12}{seconds:>8.3f}{cpu:>8.3f}"
                         + (f"  ({count} runs)" if count != len(runs) else ""))
    return "\n".join(lines)


def optimizer_table(results: dict, batch: int, threads: int, background: str) -> str:
    """One line per optimizer: medians of the first step, its optimizer phase and the second step, cold and warm,
    and the slowest Numba compile or cache load on the step's own thread (what a twin would take off it)."""
    lines = [f"first training step per optimizer, seed MLP at B={batch}, {threads} threads, background compile "
             f"{background}; medians of {len(next(iter(results.values()))[0])} runs, seconds",
             f"{'optimizer':<20}{'cold step':>10}{'cold opt':>10}{'warm step':>10}{'warm opt':>10}{'2nd step':>10}"
             "  slowest compile on the step's thread (cold)"]
    for name, (cold, warm) in results.items():
        slowest = {}
        for run in cold:
            for e in run["events"]:
                if e["depth"] == 0 and e["phase"] not in ("background", "import", "build") and e["kind"] != "import":
                    slowest.setdefault(e["what"], []).append(e["s"])
        worst = max(((median(v), k) for k, v in slowest.items()), default=(0.0, "-"))

        def opt_phase(runs):
            return median(r["phases"].get("optimizer step", 0.0) for r in runs)

        lines.append(f"{name:<20}{median(r['first_step_s'] for r in cold):>10.3f}{opt_phase(cold):>10.3f}"
                     f"{median(r['first_step_s'] for r in warm):>10.3f}{opt_phase(warm):>10.3f}"
                     f"{median(r['second_step_s'] for r in warm):>10.3f}  {worst[1]} {worst[0]:.3f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="pairs of fresh workers (cold, then warm) on a new cache")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of every library (default: cores)")
    parser.add_argument("--background", choices=("on", "off"), default="on",
                        help="compile kernels with a first-call twin on a background thread (the default) or not")
    parser.add_argument("--optimizer", default="adam", help="an optimizer of `tinygrad-opt train --optimizer` "
                        "(default adam, as peers.py), or `all`: each in turn, one table")
    parser.add_argument("--json", help="also write every worker's result to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.batch, args.optimizer)))
        return
    from tinygrad_opt.train.config import OPTIMIZERS  # noqa: PLC0415

    if args.optimizer != "all" and args.optimizer not in OPTIMIZERS:
        parser.error(f"--optimizer {args.optimizer!r}: choose all or one of {', '.join(OPTIMIZERS)}")
    names = OPTIMIZERS if args.optimizer == "all" else (args.optimizer,)
    results = {}
    for name in names:
        cold, warm = [], []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="first_step_numba_") as cache:
                cold.append(run_worker(cache, args.batch, args.threads, args.background, name))
                warm.append(run_worker(cache, args.batch, args.threads, args.background, name))
            print(f"{name} run {run + 1}/{args.runs}: first step cold {cold[-1]['first_step_s']:.3f} s, "
                  f"warm {warm[-1]['first_step_s']:.3f} s; load average {peers.load()}", flush=True)
        results[name] = (cold, warm)
    print()
    if len(names) == 1:
        print(report(cold, warm, args.batch, args.threads, args.background))
    else:
        print(optimizer_table(results, args.batch, args.threads, args.background))
    if args.json:
        written = ({"cold": cold, "warm": warm} if len(names) == 1 else  # one optimizer: the layout as before
                   {name: {"cold": cold, "warm": warm} for name, (cold, warm) in results.items()})
        Path(args.json).write_text(json.dumps(written, indent=1) + "\n")


if __name__ == "__main__":
    main()
