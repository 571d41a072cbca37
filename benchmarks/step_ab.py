"""The plain training step of two source trees, A/B in fresh processes: peers.py's engine worker, in ABBA order.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/step_ab.py TREE_A TREE_B --batches 64 --rounds 8

Each round runs one fresh worker per tree and batch size, A then B, and the next round B then A, so that the
machine's drift and the load one worker leaves behind fall on both trees alike; an untimed worker per tree
and batch size runs before the rounds. A worker imports the engine
and its kernels from its own tree (tree_ab.use_tree: an editable install's finder would hand it the
installed tree's kernels), then times peers.py's loop for the framework asked (the plain loop by default)
with peers.py's warm-up, timed blocks and loss check. Printed: each round's rates, then per batch size the
median of the paired ratios B/A over the rounds with their range, the figure for a change's effect.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from tree_ab import alternating, imported_from, use_tree, worker_figures

ENGINE_CASES = ("tinygrad_opt", "tinygrad_opt-capture", "tinygrad_opt-flush", "tinygrad_opt-capture-flush")


def measure(tree: str, framework: str, batch: int, budget: float, blocks: int) -> dict:
    """peers.py's worker figures for the engine imported from `tree`, with the tree it came from ("package")."""
    use_tree(tree)
    import peers  # noqa: PLC0415 - the workload: this script's own, the same for both trees
    import tinygrad_opt  # noqa: F401, PLC0415 - from `tree`, before peers' case puts this checkout on sys.path
    import tinygrad_opt.kernels  # noqa: F401, PLC0415

    return {**peers.worker(framework, batch, budget, blocks), "package": imported_from()}


def paired(rates: dict, batch: int, rounds: int) -> list[float]:
    """B/A of each round's two rates at this batch size (rates: (round, side 0 or 1, batch) -> steps/s)."""
    return [rates[(r, 1, batch)] / rates[(r, 0, batch)] for r in range(rounds)]


def compare(trees: list[str], args: argparse.Namespace) -> str:
    """Run the rounds, printing each worker's rate; return the summary (one line per batch size)."""
    import peers  # noqa: PLC0415

    os.environ.update(peers.thread_environment(args.threads))  # the workers inherit it, as peers.py's do
    options = ["--framework", args.framework, "--budget", str(args.budget), "--blocks", str(args.blocks)]
    for side in (0, 1):  # one untimed worker each first: a tree's first workers in a while ran up to a fifth
        for batch in args.batches:  # slower (files and caches of its own to load), which no round should carry
            worker_figures(__file__, trees[side], [*options, "--batches", str(batch)])
    rates: dict[tuple[int, int, int], float] = {}
    for r, side in alternating([0, 1], args.rounds):  # by side, not path: a tree against itself is an A/A run
        for batch in args.batches:
            figures = worker_figures(__file__, trees[side], [*options, "--batches", str(batch)])
            rates[(r, side, batch)] = figures["steps_per_s"]
            print(f"round {r + 1} batch {batch} {'AB'[side]} ({Path(trees[side]).name}): "
                  f"{figures['steps_per_s']:.1f} steps/s", flush=True)
    lines = []
    for batch in args.batches:
        ratios = paired(rates, batch, args.rounds)
        a, b = (statistics.median(rates[(r, side, batch)] for r in range(args.rounds)) for side in (0, 1))
        lines.append(f"batch {batch}: A {a:.1f}, B {b:.1f} steps/s (medians); B/A paired by round: median "
                     f"{statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}, {args.rounds} "
                     f"rounds)")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", metavar="TREE", help="TREE_A TREE_B: two checkouts of the engine")
    parser.add_argument("--batches", type=int, nargs="+", default=[64])
    parser.add_argument("--framework", default="tinygrad_opt", choices=ENGINE_CASES)
    parser.add_argument("--rounds", type=int, default=8, help="rounds; each runs both trees once per batch size")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of every library (as peers.py)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per timed block in a worker")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per worker (their median is its rate)")
    parser.add_argument("--worker", metavar="TREE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.framework, args.batches[0], args.budget, args.blocks)))
        return
    if len(args.trees) != 2:
        parser.error("give two trees, TREE_A and TREE_B")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    missing = [tree for tree in args.trees if not (Path(tree) / "tinygrad_opt" / "__init__.py").is_file()]
    if missing:
        parser.error(f"not a checkout of the engine (no tinygrad_opt/__init__.py): {', '.join(missing)}")
    print(compare([str(Path(tree).resolve()) for tree in args.trees], args))


if __name__ == "__main__":
    sys.exit(main())
