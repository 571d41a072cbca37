"""The default CNN (train --model cnn) in tinygrad_opt and in PyTorch (CPU): steps/s, epoch time, peak step memory.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cnn_vs_torch.py [--steps 20] [--rounds 2]

Model: conv32-BN-ReLU-pool-conv64-BN-ReLU-pool-fc128-ReLU-dropout0.5-fc10 on 28x28 images
(tinygrad_opt.train.models.build_cnn), cross-entropy, Adam lr 1e-3. Both frameworks start
from the same weights (the engine's initial state_dict, loaded into torch's model) and
train on the same mini-batches (MNIST's training images in one fixed order; random
images when MNIST is not found). Each framework runs in its own process, so neither
pays for the other's imports, threads or allocator; the processes alternate (engine,
torch, engine, torch, ... for --rounds rounds) so a busy machine slows both alike, and
each reports its best round.

Per batch size (64 and 256): steps per second over --steps steady-state steps (after 3
warm-up steps), their ratio, and the seconds one MNIST epoch (60,000 images) takes at that
rate. The capture column is the engine's same step through tg.compile (recorded on the
first two batches, then replayed; what `tinygrad-opt train` runs), in its own process too.
Peak step memory: the extra bytes a steady-state step allocates above what was held
before it (tracemalloc for the engine's NumPy buffers, torch's profiler memory events for
torch), at batch 256.

The CLI trains the CNN at batch 32 by default: `--batches 32,64,256` adds that size.

--profile: where the engine's step spends its time instead, phase by phase (each op's
forward and backward, the optimizer, and the rest: graph building, loss, dispatch), in
milliseconds per step over --steps steps at each batch size, in this process: wall time and
CPU time (time.process_time, every thread of the process: on a busy machine it moves less
than the wall time, and above the wall time it shows the engine's threads at work).
--capture profiles the step through tg.compile (replayed, as `tinygrad-opt train` runs it):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cnn_vs_torch.py --profile --steps 10 [--capture]
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EPOCH_IMAGES = 60_000
WARMUP = 3


def training_images(data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(x (N, 1, 28, 28) float32 in [0, 1], y, where they came from)."""
    sys.path.insert(0, str(ROOT))
    from tinygrad_opt.data import load_dataset  # noqa: PLC0415

    try:
        data = load_dataset("mnist", data_dir=data_dir, download=False, flatten=False)
        return data.x_train, data.y_train, f"MNIST from {data.source}"
    except Exception as err:  # noqa: BLE001 - any reason MNIST is missing: say it and use random images
        rng = np.random.default_rng(0)
        x = rng.random((4096, 1, 28, 28), dtype=np.float32)
        return x, rng.integers(0, 10, 4096), f"random images (MNIST not found: {str(err).splitlines()[0][:80]})"


def shared_mnist() -> str | None:
    """The project machines' MNIST folder (shared/data/mnist beside this checkout or its parent), if present."""
    for base in (ROOT.parent, ROOT.parent.parent):
        folder = base / "shared" / "data" / "mnist"
        if folder.is_dir():
            return str(folder)
    return None


def batch_list(x: np.ndarray, y: np.ndarray, batch: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(1).permutation(len(y))
    picks = [order[(i * batch) % len(y):(i * batch) % len(y) + batch] for i in range(count)]
    return [(np.ascontiguousarray(x[p]), y[p].astype(np.int64)) for p in picks if len(p) == batch]


# ---- workers (one framework per process) --------------------------------------------------

def engine_worker(weights: str, batches, steps: int, capture: bool = False) -> dict:
    """capture=True: the step through tg.compile (recorded on the first two warm-up steps, then replayed)."""
    import tinygrad_opt as tg  # noqa: PLC0415
    import tinygrad_opt.nn.functional as F  # noqa: PLC0415
    from tinygrad_opt.train.models import build_cnn  # noqa: PLC0415

    tg.manual_seed(0)
    model = build_cnn()
    model.load_state_dict(dict(np.load(weights)))
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)

    def train_step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = tg.compile(train_step) if capture else train_step

    def step(xb, yb) -> float:
        return run(tg.Tensor._make(xb, False), tg.Tensor._make(yb, False)).item()

    first = step(*batches[0])
    for xb, yb in batches[1:WARMUP]:
        step(xb, yb)
    start = time.perf_counter()
    for xb, yb in batches[WARMUP:WARMUP + steps]:
        step(xb, yb)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    step(*batches[WARMUP])
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    from tinygrad_opt.kernels.blas_threads import engine_threads  # noqa: PLC0415

    if capture and not run.replaying:
        raise RuntimeError(f"the captured CNN step did not replay: {run.eager_reason}")
    return {"steps_per_s": steps / seconds, "first_loss": first, "peak_bytes": peak, "threads": engine_threads()}


def torch_model():
    import torch.nn as tnn  # noqa: PLC0415

    def block(i, o):
        return [tnn.Conv2d(i, o, 3, padding=1, bias=False), tnn.BatchNorm2d(o), tnn.ReLU()]

    return tnn.Sequential(*block(1, 32), tnn.MaxPool2d(2), *block(32, 64), tnn.MaxPool2d(2), tnn.Flatten(),
                          tnn.Linear(64 * 7 * 7, 128), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(128, 10))


def torch_worker(weights: str, batches, steps: int) -> dict:
    import torch  # noqa: PLC0415
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    torch.manual_seed(0)
    model = torch_model()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(weights).items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(xb, yb) -> float:
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    first = step(*batches[0])
    for xb, yb in batches[1:WARMUP]:
        step(xb, yb)
    start = time.perf_counter()
    for xb, yb in batches[WARMUP:WARMUP + steps]:
        step(xb, yb)
    seconds = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(*batches[WARMUP])
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    current = peak = 0
    for _, nbytes in events:
        current += nbytes
        peak = max(peak, current)
    return {"steps_per_s": steps / seconds, "first_loss": first, "peak_bytes": peak,
            "threads": torch.get_num_threads()}


def engine_profile(batches, steps: int, capture: bool = False) -> tuple[dict[str, tuple[float, float]], tuple]:
    """({phase: (wall ms, CPU ms) per step} for each op's forward/backward and the optimizer step,
    (wall ms, CPU ms) of the whole step); capture=True: the step through tg.compile."""
    import tinygrad_opt as tg  # noqa: PLC0415
    import tinygrad_opt.nn.functional as F  # noqa: PLC0415
    from tinygrad_opt.autograd import Function  # noqa: PLC0415
    from tinygrad_opt.train.models import build_cnn  # noqa: PLC0415

    tg.manual_seed(0)
    model = build_cnn()
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    spent: dict[str, list[float]] = {}

    def timed(name: str, fn):
        @functools.wraps(fn)  # keeps the signature: the replay checks it for out= (capture/into.py)
        def run(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                total = spent.setdefault(name, [0.0, 0.0])
                total[0] += time.perf_counter() - wall
                total[1] += time.process_time() - cpu
        return run

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    originals = {}
    for cls in set(subclasses(Function)):
        if "forward" in cls.__dict__ and "backward" in cls.__dict__:
            originals[cls] = (cls.__dict__["forward"], cls.__dict__["backward"])
            cls.forward = staticmethod(timed(f"{cls.__name__} forward", originals[cls][0].__func__))
            cls.backward = staticmethod(timed(f"{cls.__name__} backward", originals[cls][1].__func__))
    opt.step = timed("optimizer step", opt.step)
    try:
        def train_step(x, y):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        run = tg.compile(train_step) if capture else train_step

        def step(xb, yb) -> None:
            run(tg.Tensor._make(xb, False), tg.Tensor._make(yb, False))

        for xb, yb in batches[:WARMUP]:
            step(xb, yb)
        if capture and not run.replaying:
            raise RuntimeError(f"the captured CNN step did not replay: {run.eager_reason}")
        spent.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        for xb, yb in batches[WARMUP:WARMUP + steps]:
            step(xb, yb)
        total = (1e3 * (time.perf_counter() - wall) / steps, 1e3 * (time.process_time() - cpu) / steps)
    finally:
        for cls, (forward, backward) in originals.items():
            cls.forward, cls.backward = forward, backward
    return {name: (1e3 * w / steps, 1e3 * c / steps) for name, (w, c) in spent.items()}, total


def print_profile(args) -> None:
    x, y, source = training_images(args.data_dir)
    print(f"data: {source}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for batch in (int(b) for b in args.batches.split(",")):
        phases, (total, total_cpu) = engine_profile(batch_list(x, y, batch, WARMUP + args.steps), args.steps,
                                                    args.capture)
        print(f"\nbatch {batch}{' (captured)' if args.capture else ''}: {total:.1f} ms per step, "
              f"{total_cpu:.1f} ms CPU")
        print(f"  {'phase':32s} {'wall':>11s} {'share':>6s} {'CPU':>11s}")
        for name, (ms, cpu) in sorted(phases.items(), key=lambda item: -item[1][0]):
            if ms >= 0.05:
                print(f"  {name:32s} {ms:8.2f} ms {100 * ms / total:5.1f}% {cpu:8.2f} ms")
        rest = (total - sum(w for w, _ in phases.values()), total_cpu - sum(c for _, c in phases.values()))
        print(f"  {'rest (graph, loss, dispatch)':32s} {rest[0]:8.2f} ms {'':6s} {rest[1]:8.2f} ms")


def worker_main(args) -> None:
    x, y, _ = training_images(args.data_dir)
    batches = batch_list(x, y, args.batch, WARMUP + args.steps + 1)
    if args.worker == "torch":
        result = torch_worker(args.weights, batches, args.steps)
    else:
        result = engine_worker(args.weights, batches, args.steps, capture=args.worker == "capture")
    print(json.dumps(result))


# ---- the driver ---------------------------------------------------------------------------

def initial_weights(path: str) -> None:
    sys.path.insert(0, str(ROOT))
    import tinygrad_opt as tg  # noqa: PLC0415
    from tinygrad_opt.train.models import build_cnn  # noqa: PLC0415

    tg.manual_seed(0)
    np.savez(path, **build_cnn().state_dict())


def run_worker(name: str, weights: str, batch: int, steps: int, data_dir: str | None, threads: int | None) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--weights", weights, "--batch", str(batch),
               "--steps", str(steps)] + (["--data-dir", data_dir] if data_dir else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if threads:  # BLAS (NumPy), OpenMP (torch) and the engine's own threads alike
        env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   TINYGRAD_OPT_BLAS_THREADS=str(threads))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{name} worker failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per batch size and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating engine/torch runs per batch size")
    parser.add_argument("--batches", default="64,256", help="batch sizes, comma separated")
    parser.add_argument("--data-dir", default=os.environ.get("TINYGRAD_OPT_DATA") or shared_mnist())
    parser.add_argument("--threads", type=int,
                        help="threads for both: BLAS, OpenMP and the engine's own (default: each library's own)")
    parser.add_argument("--profile", action="store_true", help="the engine's step phase by phase instead")
    parser.add_argument("--capture", action="store_true", help="with --profile: the step through tg.compile")
    parser.add_argument("--worker", choices=["engine", "capture", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    if args.profile:
        print_profile(args)
        return
    _, _, source = training_images(args.data_dir)
    print(f"data: {source}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        weights = str(Path(tmp) / "init.npz")
        initial_weights(weights)
        results: dict[int, dict[str, dict]] = {}
        for batch in (int(b) for b in args.batches.split(",")):
            best: dict[str, dict] = {}
            for _ in range(args.rounds):
                for name in ("engine", "capture", "torch"):
                    r = run_worker(name, weights, batch, args.steps, args.data_dir, args.threads)
                    if name not in best or r["steps_per_s"] > best[name]["steps_per_s"]:
                        best[name] = r
            results[batch] = best
    print(f"\n{'batch':>6} {'engine steps/s':>15} {'capture steps/s':>16} {'torch steps/s':>14} "
          f"{'engine/torch time':>18} {'capture/torch':>14} {'engine s/epoch':>15} {'capture s/epoch':>16} "
          f"{'torch s/epoch':>14}")
    for batch, best in results.items():
        e, c, t = (best[name]["steps_per_s"] for name in ("engine", "capture", "torch"))
        epoch = EPOCH_IMAGES / batch
        print(f"{batch:>6} {e:>15.2f} {c:>16.2f} {t:>14.2f} {t / e:>17.2f}x {t / c:>13.2f}x {epoch / e:>15.1f} "
              f"{epoch / c:>16.1f} {epoch / t:>14.1f}")
    largest = max(results)
    e_mem, t_mem = results[largest]["engine"]["peak_bytes"], results[largest]["torch"]["peak_bytes"]
    print(f"\npeak step memory at batch {largest}: engine {e_mem / 2**20:.1f} MiB, torch {t_mem / 2**20:.1f} MiB "
          f"({e_mem / t_mem:.2f}x)")
    first = results[min(results)]
    print(f"first-step loss (same weights and batch; dropout masks differ): engine "
          f"{first['engine']['first_loss']:.4f}, torch {first['torch']['first_loss']:.4f}; "
          f"threads: engine {first['engine'].get('threads')}, torch {first['torch'].get('threads')}")


if __name__ == "__main__":
    main()
