"""The replayed step's Python: tg.compile's replay of a tiny MLP's step, where the kernels cost next to nothing.

    python benchmarks/replay_python.py
    python benchmarks/replay_python.py --compare /work/wt/base /work/wt/capture --rounds 6

The step is peers.py's loop body (forward, F.cross_entropy, backward, Adam's step, zero_grad)
on an 8-8-4 MLP with ReLU and a batch of 2, through tg.compile: recorded twice, then
replayed. What a replayed call costs here is the replay's own Python (the guard, the
generated function's lines, the delivery of .grad, the returned tensor) plus the ops' and
the optimizer's Python around their kernels. Figures (us per call, the fastest of --blocks
blocks, the least disturbed by other load): the whole call, the guard alone and the
generated replay function alone.

--compare runs the measurement in fresh worker processes for each of two source trees
(this script, importing the engine from that tree: tree_ab.use_tree), alternating the trees round by round,
and prints every round and each tree's median: an A/B of two versions of the replay.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from pathlib import Path

from tree_ab import alternating, imported_from, use_tree, worker_figures

FIGURES = ("call", "guard", "replay")


def measure(blocks: int, calls: int, warmup: int) -> dict[str, float]:
    import numpy as np  # noqa: PLC0415

    import tinygrad_opt as tg  # noqa: PLC0415
    import tinygrad_opt.nn.functional as F  # noqa: PLC0415
    from tinygrad_opt import nn, optim  # noqa: PLC0415
    from tinygrad_opt.kernels import background  # noqa: PLC0415

    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((2, 8)).astype(np.float32))
    y = tg.Tensor(np.array([1, 3]))

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    run = tg.compile(step)
    for _ in range(warmup):
        run(x, y)
    background.wait_idle()  # the kernels' compiled versions (and the fused replay, where there is one)
    for _ in range(warmup):
        run(x, y)
    if not run.replaying:
        raise SystemExit(f"the step was not captured: {run.eager_reason}")
    args = (x, y)
    guard, plan = run._guard, run.plan
    work = {"call": lambda: run(x, y), "guard": lambda: guard.passes(args),
            "replay": lambda: plan.replay([x.data, y.data], args)}
    return {name: min(timeit.repeat(fn, number=calls, repeat=blocks)) / calls * 1e6 for name, fn in work.items()} | {
        "package": imported_from()}


def line(label: str, figures: dict[str, float]) -> str:
    return f"{label:>14s} " + " ".join(f"{figures[name]:9.2f}" for name in FIGURES)


def compare(trees: list[str], rounds: int, args: argparse.Namespace) -> None:
    seen: dict[str, list[dict]] = {tree: [] for tree in trees}
    print(f"{'us per call':>14s} " + " ".join(f"{name:>9s}" for name in FIGURES))
    options = ["--blocks", str(args.blocks), "--calls", str(args.calls), "--warmup", str(args.warmup)]
    for r, tree in alternating(trees, rounds):
        figures = worker_figures(__file__, tree, options)
        print(line(f"{Path(tree).name} r{r + 1}", figures))
        seen[tree].append(figures)
    print("medians of the rounds:")
    medians = {tree: {name: statistics.median(f[name] for f in seen[tree]) for name in FIGURES} for tree in trees}
    for tree in trees:
        print(line(Path(tree).name, medians[tree]))
    a, b = (medians[tree]["call"] for tree in trees)
    print(f"call {Path(trees[1]).name} / {Path(trees[0]).name}: {b / a:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=1500)
    parser.add_argument("--compare", nargs=2, metavar=("TREE_A", "TREE_B"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--worker", metavar="TREE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.rounds, args)
        return
    tree = args.worker or str(Path(__file__).resolve().parent.parent)
    use_tree(tree)  # this tree's package and kernels, not an installed one's
    figures = measure(args.blocks, args.calls, args.warmup)
    if args.worker:
        print(json.dumps(figures))
        return
    print(f"{'us per call':>14s} " + " ".join(f"{name:>9s}" for name in FIGURES))
    print(line("replayed", figures))


if __name__ == "__main__":
    main()
