"""The seed's training step of every framework with one thread each, interleaved in one process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/step_one_thread.py
    python benchmarks/step_one_thread.py --batches 4096 --steps 10 --frameworks tinygrad_opt numpy

What each framework does per thread, free of threading: peers.py times every framework in
its own process with all its threads, which on a busy shared machine mostly measures how a
library's threads survive the load. Here every library gets one thread (set before it is
imported), so running them side by side in one process costs nothing, and the steps
interleave (one step of each in turn), so load falls on all of them alike. The fastest step
of each is what the hardware gives when the others pause; the median shows the noise.
The step, weights and batches are peers.py's (784-256-10 MLP, Adam, float32).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import FRAMEWORKS, MODULES, family, make_case  # noqa: E402

DEFAULT = ("tinygrad_opt", "torch-fused", "jax", "numpy")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--frameworks", nargs="+", default=list(DEFAULT), choices=FRAMEWORKS)
    parser.add_argument("--steps", type=int, default=0, help="timed steps of each (default: about 2 s of each)")
    args = parser.parse_args(argv)
    frameworks = [f for f in args.frameworks if importlib.util.find_spec(MODULES[family(f)]) is not None]
    if any(family(f) == "torch" for f in frameworks):
        import torch  # noqa: PLC0415

        torch.set_num_threads(1)
    print(f"one thread per library; frameworks {', '.join(frameworks)}; load average "
          f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for batch in args.batches:
        cases = {name: make_case(name, batch) for name in frameworks}
        for step, _, sync in cases.values():  # warm-up: compilation, caches, first allocations
            for _ in range(3):
                step()
            sync()
        first = {}
        for name, (step, _, sync) in cases.items():
            start = time.perf_counter()
            step()
            sync()
            first[name] = time.perf_counter() - start
        steps = args.steps or max(5, int(2.0 / max(sum(first.values()), 1e-6)))
        times = {name: [] for name in cases}
        for _ in range(steps):
            for name, (step, _, sync) in cases.items():
                start = time.perf_counter()
                step()
                sync()
                times[name].append(time.perf_counter() - start)
        best = {name: min(v) for name, v in times.items()}
        print(f"\nB={batch}, {steps} interleaved steps each")
        print("| framework | fastest step (ms) | median (ms) | steps/s (fastest) | vs best other (fastest) |")
        print("|---|---:|---:|---:|---:|")
        for name, v in times.items():
            others = [t for other, t in best.items() if other != name]
            ratio = f"{min(others) / best[name]:.2f}x" if others else "-"
            print(f"| {name} | {best[name] * 1e3:.2f} | {statistics.median(v) * 1e3:.2f} | {1 / best[name]:.1f} | {ratio} |")
    print(f"\nload average at end {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
