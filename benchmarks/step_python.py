"""The plain training step's Python: peers.py's user loop on a tiny MLP, where the kernels cost next to nothing.

    python benchmarks/step_python.py
    python benchmarks/step_python.py --compare /work/wt/lead /work/wt/bigstep --rounds 3

The loop is peers.py's engine case (forward, F.cross_entropy, backward, Adam's step,
zero_grad) on an 8-8-4 MLP with ReLU and a batch of 2, so what each phase costs is the
engine's own Python: graph building, Function.apply, the backward traversal and delivery
of .grad, the optimizer's Python around its kernel, the modules' __call__. Each phase is
timed with perf_counter around it, summed over blocks of steps; the figure is the fastest
block's mean (us per step), the least disturbed by other load on the machine.

--compare runs the measurement in fresh worker processes for each of two source trees
(this script, importing the engine from that tree: tree_ab.use_tree), alternating the trees
round by round, and prints every round and each tree's best: an A/B of two versions of
the engine on the same machine at the same time.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tree_ab import alternating, imported_from, use_tree, worker_figures

PHASES = ("forward", "loss", "backward", "step", "zero_grad", "total")


def measure(blocks: int, steps: int, warmup: int) -> dict[str, float]:
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
    for _ in range(warmup):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    background.wait_idle()  # the kernels' compiled versions, not their first-call twins
    for _ in range(warmup):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    clock = time.perf_counter
    best = {phase: float("inf") for phase in PHASES}
    for _ in range(blocks):
        sums = dict.fromkeys(PHASES, 0.0)
        for _ in range(steps):
            t0 = clock()
            out = model(x)
            t1 = clock()
            loss = F.cross_entropy(out, y)
            t2 = clock()
            loss.backward()
            t3 = clock()
            opt.step()
            t4 = clock()
            opt.zero_grad()
            t5 = clock()
            for phase, seconds in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)):
                sums[phase] += seconds
        for phase in PHASES:
            best[phase] = min(best[phase], sums[phase] / steps * 1e6)
    return {**best, "package": imported_from()}  # tree_ab checks where it came from


def line(label: str, figures: dict[str, float]) -> str:
    return f"{label:>12s} " + " ".join(f"{figures[phase]:9.1f}" for phase in PHASES)


def header() -> str:
    return f"{'us per step':>12s} " + " ".join(f"{phase:>9s}" for phase in PHASES)


def compare(trees: list[str], rounds: int, args: argparse.Namespace) -> None:
    best: dict[str, dict[str, float]] = {}
    print(header())
    options = ["--blocks", str(args.blocks), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    for r, tree in alternating(trees, rounds):
        figures = worker_figures(__file__, tree, options)
        print(line(f"{Path(tree).name} r{r + 1}", figures))
        mine = best.setdefault(tree, dict.fromkeys(PHASES, float("inf")))
        for phase in PHASES:
            mine[phase] = min(mine[phase], figures[phase])
    print("best of the rounds:")
    for tree in trees:
        print(line(Path(tree).name, best[tree]))
    a, b = (best[tree]["total"] for tree in trees)
    print(f"total {Path(trees[1]).name} / {Path(trees[0]).name}: {b / a:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1500)
    parser.add_argument("--compare", nargs=2, metavar=("TREE_A", "TREE_B"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", metavar="TREE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.rounds, args)
        return
    tree = args.worker or str(Path(__file__).resolve().parent.parent)
    use_tree(tree)  # this tree's package and kernels, not an installed one's
    figures = measure(args.blocks, args.steps, args.warmup)
    if args.worker:
        print(json.dumps(figures))
        return
    print(header())
    print(line("engine", figures))


if __name__ == "__main__":
    main()
