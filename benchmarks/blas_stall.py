"""The seed's captured step while another process starts up beside it: BLAS's "auto" policy with and without
its stall check (kernels/blas_threads.py after_gemm).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/blas_stall.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/blas_stall.py --blind --competitors 1 --seconds 4

Each round starts fresh worker processes, one per arm (stall check on, stall check off), one after the other.
A worker builds peers.py's captured step (784-256-10, Adam, flushing subnormals), warms it up on the quiet
machine, then starts `--competitors` busy processes (a Python loop each, for the worker's whole run) and
counts its steps for `--seconds`: steps/s, the share of steps that ran with two BLAS threads, and the steps
slower than 3 ms (a product that waited for a BLAS worker kept off its core). A competitor that starts
takes a minute to show in the load average and a second or two in the CPU pressure's 10-second average,
the policy's other two signals; `--blind` hides both from the policy, so that only the stall check can act
(what it does on its own). Medians over `--rounds` rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def worker(batch: int, seconds: float, competitors: int, stall_check: bool, blind: bool) -> dict:
    sys.path.insert(0, str(HERE))
    import peers  # noqa: PLC0415

    from tinygrad_opt.kernels import blas_threads  # noqa: PLC0415
    from tinygrad_opt.ops import linear, matmul  # noqa: PLC0415
    if not stall_check:
        linear.after_gemm = matmul.after_gemm = lambda started, macs: None
    if blind:
        blas_threads._load_above_cores = lambda: -1.0
        blas_threads._cpu_pressure = lambda: 0.0
    step = peers.make_case("tinygrad_opt-capture-flush", batch)[0]
    warm_until = time.perf_counter() + 0.5
    while time.perf_counter() < warm_until:
        step()
    busy = [subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=seconds + 1)]) for _ in range(competitors)]
    try:
        times, threads = [], []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
            threads.append(blas_threads._last_set)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return {"steps_per_s": len(times) / sum(times), "two_threads": sum(t == 2 for t in threads) / len(threads),
            "slow_steps": sum(t > 3e-3 for t in times)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="steps counted per worker")
    parser.add_argument("--competitors", type=int, default=1, help="busy processes started beside each worker")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blind", action="store_true", help="hide the load average and CPU pressure from 'auto'")
    parser.add_argument("--worker", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.batch, args.seconds, args.competitors, args.worker == "on", args.blind)))
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", NUMBA_NUM_THREADS="2")
    env.pop("TINYGRAD_OPT_BLAS_THREADS", None)  # the default policy, "auto"
    results: dict = {"on": [], "off": []}
    print(f"load average {os.getloadavg()[0]:.2f}; batch {args.batch}, {args.competitors} competitor(s), "
          f"{args.seconds:g} s per worker{', load and pressure hidden from auto' if args.blind else ''}")
    for rnd in range(args.rounds):
        for arm in (("on", "off") if rnd % 2 == 0 else ("off", "on")):
            command = [sys.executable, __file__, "--worker", arm, "--batch", str(args.batch), "--seconds",
                       str(args.seconds), "--competitors", str(args.competitors)] + (["--blind"] if args.blind else [])
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"worker failed: {done.stderr.strip()[-800:]}")
            results[arm].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| stall check | steps/s (median) | each round | steps on two BLAS threads | steps over 3 ms |")
    print("|---|---:|---|---:|---:|")
    for arm, rows in results.items():
        rates = [r["steps_per_s"] for r in rows]
        print(f"| {arm} | {statistics.median(rates):.0f} | {', '.join(f'{x:.0f}' for x in rates)} | "
              f"{100 * statistics.median(r['two_threads'] for r in rows):.0f} % | "
              f"{statistics.median(r['slow_steps'] for r in rows):.0f} |")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
