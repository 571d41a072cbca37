"""A/B of two source trees: one benchmark script's measurement run in fresh worker processes, one per tree.

A script that offers `--compare TREE_A TREE_B` runs itself again as `script --worker TREE ...options` for each
tree, in alternating order round by round (A B, then B A), so drift of the machine falls on both alike. The
worker puts TREE first on sys.path and prints its figures as one JSON line, with "package" (the folder the
engine was imported from) so that a worker that picked up another tree's package is caught, not measured.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator


def alternating(trees: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, tree) pairs: A then B in even rounds, B then A in odd ones."""
    for r in range(rounds):
        for tree in (trees if r % 2 == 0 else trees[::-1]):
            yield r, tree


def worker_figures(script: str, tree: str, options: list[str]) -> dict:
    """Run `script --worker tree *options` from /tmp (no package in the working folder) and return its figures."""
    command = [sys.executable, str(Path(script).resolve()), "--worker", tree, *options]
    done = subprocess.run(command, capture_output=True, text=True, cwd="/tmp", check=False)
    if done.returncode:
        raise SystemExit(f"worker for {tree} failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(figures["package"]) != Path(tree).resolve():
        raise SystemExit(f"the worker for {tree} imported the package from {figures['package']}")
    return figures
