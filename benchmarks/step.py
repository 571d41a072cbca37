"""Training steps per second of the seed's MLP: the engine vs PyTorch vs a hand-written NumPy floor.

The model is 784-256-10 with ReLU, softmax cross-entropy on class indices and Adam
(lr 1e-3), one step = forward, backward, optimizer step, zero_grad. Every engine
starts from the same weights and trains on the same batches (a check at start-up
asserts that their losses agree after three steps). Each timing block runs in a fresh
worker process that builds one engine only (this script with --worker), with the thread
count set in its environment before NumPy or torch is imported: timed in one process,
torch's OpenMP threads and OpenBLAS's threads spin on the same cores and slow each other
(PyTorch ran half as fast there). Engines are timed interleaved, REPEATS workers each,
and the median gives steps/s, so load from other processes hits all of them alike.
benchmarks/peers.py compares the frameworks (JAX too) the same way; this script adds
the engine on its reference kernels, CUDA and the memory table.

    engine       tinygrad_opt with the fused kernels (Numba on the CPU)
    engine-ref   tinygrad_opt with set_kernels("reference") (plain NumPy expressions)
    engine-capture  the engine's step through tg.compile: recorded twice, then replayed
    torch        PyTorch CPU, torch.optim.Adam with its defaults
    torch-fused  PyTorch CPU with Adam(fused=True) (its own fused CPU kernel)
    numpy        a hand-written NumPy forward/backward/Adam with no autograd: the floor
                 for an engine built on NumPy
    engine-cuda, torch-cuda   with --device cuda

Peak memory of one step at the largest CPU batch: extra bytes allocated during a
steady-state step above what was held before it; tracemalloc for the engine and
NumPy (NumPy reports its buffers to tracemalloc), PyTorch's profiler memory events
for torch; on the GPU CuPy's memory-pool high-water mark and
torch.cuda.max_memory_allocated.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/step.py
    python benchmarks/step.py --device cuda --quick      (benchmarks/gpu_check.sh)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
import tinygrad_opt.nn.functional as F  # noqa: E402
from tinygrad_opt.ops.loss import known_target_range  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import HIDDEN, IN, LR, OUT, POOL, batches, initial_weights, numpy_case, thread_environment  # noqa: E402


# ---- the engines: each returns step() -> loss (a lazy handle; only the check reads it) ---

def engine_case(batch: int, device: str = "cpu", mode: str = "auto", capture: bool = False):
    """capture=True: the same loop body through tg.compile (recorded on the first two steps, then replayed)."""
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    for p, w in zip(model.parameters(), initial_weights()):
        p.data[...] = w
    model.to(device)
    opt = optim.Adam(model.parameters(), lr=LR)
    data = [(tg.Tensor(x, device=device), tg.Tensor(y, device=device)) for x, y in batches(batch)]
    state = {"i": 0}
    # On CUDA, as the Trainer does: the labels' range is known on the host (0..OUT-1), so the
    # loss need not copy each batch's min and max back (torch's cross-entropy checks on the
    # device without a sync). On the CPU that check costs next to nothing and stays.
    vouch = device == "cuda"

    def train_step(x, y):
        if vouch:
            with known_target_range(y.data, 0, OUT - 1):
                loss = F.cross_entropy(model(x), y)
        else:
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    run = tg.compile(train_step) if capture else train_step

    def step():
        x, y = data[state["i"] % POOL]
        state["i"] += 1
        return run(x, y)

    step.mode = mode
    return step


def torch_case(batch: int, device: str = "cpu", fused: bool = False):
    import torch  # noqa: PLC0415

    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT))
    with torch.no_grad():
        for p, w in zip(model.parameters(), initial_weights()):
            p.copy_(torch.from_numpy(w))
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR, **({"fused": True} if fused else {}))
    data = [(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for x, y in batches(batch)]
    state = {"i": 0}

    def step():
        x, y = data[state["i"] % POOL]
        state["i"] += 1
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step


# ---- measurement ------------------------------------------------------------------

def synchronizer(name: str):
    """A function that waits for the device to finish (timings of asynchronous GPU work)."""
    if name == "engine-cuda":
        import cupy  # noqa: PLC0415

        return cupy.cuda.get_current_stream().synchronize
    if name == "torch-cuda":
        import torch  # noqa: PLC0415

        return torch.cuda.synchronize
    return lambda: None


def run_block(name: str, step, steps: int) -> float:
    """Seconds per step over `steps` steps (the kernel mode set for the engine's block)."""
    mode = getattr(step, "mode", None)
    if mode is not None:
        tg.set_kernels(mode)
    sync = synchronizer(name)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps


def make_cases(batch: int, engines: list[str]):
    factories = {
        "engine": lambda: engine_case(batch, "cpu", "auto"),
        "engine-ref": lambda: engine_case(batch, "cpu", "reference"),
        "engine-capture": lambda: engine_case(batch, "cpu", "auto", capture=True),
        "torch": lambda: torch_case(batch, "cpu"),
        "torch-fused": lambda: torch_case(batch, "cpu", fused=True),
        "numpy": lambda: numpy_case(batch)[0],
        "engine-cuda": lambda: engine_case(batch, "cuda", "auto"),
        "torch-cuda": lambda: torch_case(batch, "cuda"),
    }
    cases = {}
    for name in engines:
        mode = "reference" if name == "engine-ref" else "auto"
        tg.set_kernels(mode)
        cases[name] = factories[name]()
    tg.set_kernels("auto")
    return cases


def check_agreement(engines: list[str]) -> None:
    """Three steps from the same start give the same loss everywhere (all engines compute one thing)."""
    cases = make_cases(32, engines)
    losses = {}
    for name, step in cases.items():
        mode = getattr(step, "mode", None)
        if mode is not None:
            tg.set_kernels(mode)
        for _ in range(3):
            loss = step()
        losses[name] = float(loss.item()) if hasattr(loss, "item") else float(loss)
    tg.set_kernels("auto")
    first = next(iter(losses.values()))
    for name, value in losses.items():
        if abs(value - first) > 1e-4 * max(1.0, abs(first)):
            raise SystemExit(f"engines disagree after three steps: {losses}")


def worker_block(name: str, batch: int, budget: float) -> float:
    """In a worker process: seconds per step of one engine, warmed up, over about `budget` seconds."""
    step = make_cases(batch, [name])[name]
    start, warm = time.perf_counter(), 0
    while warm < 3 or time.perf_counter() - start < budget / 3:  # Numba loading, CuPy compiling, pools
        run_block(name, step, 1)
        warm += 1
    steps = max(3, int(budget / ((time.perf_counter() - start) / warm)))
    return run_block(name, step, steps)


def time_batch(batch: int, engines: list[str], repeats: int, budget: float, threads: int) -> dict[str, float]:
    """Median seconds per step of each engine: `repeats` rounds, one fresh worker process per engine each."""
    env = dict(os.environ, **thread_environment(threads))
    samples = {name: [] for name in engines}
    for rnd in range(repeats):
        order = engines[rnd % len(engines):] + engines[:rnd % len(engines)]  # no engine always first
        for name in order:
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--batches", str(batch),
                       "--budget", str(budget), "--threads", str(threads)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise SystemExit(f"step.py: the {name} worker at batch {batch} failed: " + " | ".join(tail))
            samples[name].append(float(done.stdout.strip().splitlines()[-1]))
    return {name: statistics.median(v) for name, v in samples.items()}


def peak_step_memory(name: str, batch: int) -> float | None:
    """Extra bytes a steady-state step allocates at its peak, above what was held before it."""
    cases = make_cases(batch, [name])
    step = cases[name]
    for _ in range(3):  # engine-capture: two recorded steps, then replays
        run_block(name, step, 1)
    mode = getattr(step, "mode", None)
    if mode is not None:
        tg.set_kernels(mode)
    try:
        if name in ("engine", "engine-capture", "engine-ref", "numpy"):
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            step()
            peak = tracemalloc.get_traced_memory()[1] - before
            tracemalloc.stop()
            return peak
        if name in ("torch", "torch-fused"):
            return torch_profiler_peak(step)
        if name == "engine-cuda":
            import cupy  # noqa: PLC0415

            pool = cupy.get_default_memory_pool()
            cupy.cuda.get_current_stream().synchronize()
            pool.free_all_blocks()
            before = pool.used_bytes()
            step()
            cupy.cuda.get_current_stream().synchronize()
            return pool.total_bytes() - before
        if name == "torch-cuda":
            import torch  # noqa: PLC0415

            torch.cuda.synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            step()
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - before
    finally:
        tg.set_kernels("auto")
    return None


def torch_profiler_peak(step) -> float | None:
    """The high-water mark of PyTorch's CPU allocations during one step, from its profiler's memory events."""
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    try:
        events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                        if e.name() == "[memory]")
    except AttributeError:  # another torch version without these fields
        return None
    current = peak = 0
    for _, nbytes in events:
        current += nbytes
        peak = max(peak, current)
    return peak


# ---- report ------------------------------------------------------------------------

def set_threads(threads: int) -> str:
    """The same number of BLAS/OpenMP threads for every engine; returns a description."""
    notes = []
    try:
        from threadpoolctl import threadpool_info, threadpool_limits  # noqa: PLC0415

        threadpool_limits(threads)
    except ImportError:
        threadpool_info = None
        notes.append("threadpoolctl missing: NumPy's BLAS threads left as they are")
    try:
        import torch  # noqa: PLC0415

        torch.set_num_threads(threads)
        notes.append(f"torch threads {torch.get_num_threads()}")
    except ImportError:
        pass
    if threadpool_info is not None:
        for pool in threadpool_info():
            notes.append(f"{pool['internal_api']} ({Path(pool['filepath']).name}) threads {pool['num_threads']}")
    return ", ".join(notes)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for module in ("numba", "torch", "cupy"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            pass
    return f"{cpu}, {os.cpu_count()} cores; " + ", ".join(versions)


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=None,
                        help="batch sizes (default 64 512 4096; with --device cuda also 8192)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing blocks per engine")
    parser.add_argument("--budget", type=float, default=0.25, help="target seconds per timing block")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS/torch threads (default: all cores)")
    parser.add_argument("--engines", nargs="+", default=None, help="a subset of the engines to run")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (for gpu_check.sh)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory table")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one engine's timing block, in its own process
    args = parser.parse_args()
    if args.worker:  # its thread counts came in the environment (peers.thread_environment)
        print(worker_block(args.worker, args.batches[0], args.budget))
        return
    if args.quick:
        args.repeats, args.budget = 3, 0.1
    cuda = args.device == "cuda"
    if cuda and not tg.cuda_is_available():
        raise SystemExit("--device cuda: CuPy with a CUDA device is not available here")
    batches_ = args.batches or ([64, 512, 4096, 8192] if cuda else [64, 512, 4096])
    if args.quick and args.batches is None:
        batches_ = [512, 8192] if cuda else [64, 512]
    engines = args.engines or ["engine", "engine-capture", "engine-ref", "torch", "torch-fused", "numpy"]
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        engines = [e for e in engines if not e.startswith("torch")]
        print("torch is not installed: its columns are skipped")
    if cuda and args.engines is None:
        cuda_engines = ["engine-cuda", "torch-cuda"]
        engines = ["engine", "torch"] + cuda_engines if args.quick else engines + cuda_engines
        if "torch" not in engines:
            engines.remove("torch-cuda")
    if "torch-cuda" in engines and not torch.cuda.is_available():  # a CPU-only torch beside CuPy
        engines.remove("torch-cuda")
        print(f"torch {torch.__version__} has no CUDA here: the torch-cuda column is skipped")

    print(f"machine: {machine()}")
    print(f"threads: {set_threads(args.threads)}")
    print(f"kernels: {tg.kernels.get_mode()}; load average at start {load()}")
    check_agreement([e for e in engines if not e.endswith("cuda")] + [e for e in engines if e.endswith("cuda")])
    print("check: every engine's loss agrees after three steps from the same weights\n")

    print(f"training steps per second, 784-256-10 MLP + Adam (median of {args.repeats} interleaved worker "
          "processes)")
    header = f"{'batch':>6}" + "".join(f"{e:>{max(13, len(e) + 2)}}" for e in engines)
    ratios = [("engine", "torch"), ("engine-capture", "engine"), ("engine-capture", "torch-fused"),
              ("engine", "numpy"), ("engine", "engine-ref"), ("engine", "torch-fused"),
              ("engine-cuda", "torch-cuda"), ("engine-cuda", "engine")]
    ratios = [(a, b) for a, b in ratios if a in engines and b in engines]
    header += "".join(f"{a + '/' + b:>{max(14, len(a) + len(b) + 3)}}" for a, b in ratios)
    print(header)
    print("-" * len(header))
    results = {}
    for batch in batches_:
        seconds = time_batch(batch, engines, args.repeats, args.budget, args.threads)
        results[batch] = seconds
        line = f"{batch:>6}" + "".join(f"{(1 / seconds[e]) if e in seconds else float('nan'):>{max(13, len(e) + 2)}.1f}"
                                       for e in engines)
        for a, b in ratios:
            value = seconds[b] / seconds[a] if a in seconds and b in seconds else float("nan")
            line += f"{value:.2f}x".rjust(max(14, len(a) + len(b) + 3))
        print(line, flush=True)

    if cuda:
        print("\nCPU vs GPU: steps/s of the engine and of PyTorch, and the GPU's speedup")
        print(f"{'batch':>6}{'engine cpu':>12}{'engine gpu':>12}{'speedup':>9}"
              f"{'torch cpu':>12}{'torch gpu':>12}{'speedup':>9}")
        for batch, s in results.items():
            def rate(name):
                return 1 / s[name] if name in s else float("nan")
            print(f"{batch:>6}{rate('engine'):>12.1f}{rate('engine-cuda'):>12.1f}"
                  f"{rate('engine-cuda') / rate('engine'):>8.1f}x{rate('torch'):>12.1f}{rate('torch-cuda'):>12.1f}"
                  f"{rate('torch-cuda') / rate('torch'):>8.1f}x")

    if not args.no_memory:
        batch = 4096 if 4096 in batches_ or not args.quick else max(batches_)
        print(f"\npeak extra memory of one training step at batch {batch} (MiB above the memory held before it)")
        peaks = {}
        for name in engines:
            peaks[name] = peak_step_memory(name, batch)
            text = "n/a" if peaks[name] is None else f"{peaks[name] / 2**20:.1f}"
            print(f"  {name:<12}{text:>8}")
        for a, b in (("engine", "torch"), ("engine-cuda", "torch-cuda")):
            if peaks.get(a) and peaks.get(b):
                print(f"  {a}/{b}: {peaks[a] / peaks[b]:.2f}x")
    print(f"\nload average at end {load()}")


if __name__ == "__main__":
    main()
