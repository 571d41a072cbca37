"""A/B of two source trees: one benchmark script's measurement run in fresh worker processes, one per tree.

A script that offers `--compare TREE_A TREE_B` runs itself again as `script --worker TREE ...options` for each
tree, in alternating order round by round (A B, then B A), so drift of the machine falls on both alike. The
worker calls `use_tree(TREE)` and prints its figures as one JSON line, with "package" (`imported_from()`: the
tree the engine and its kernels were imported from), so that a worker that picked up another tree's package
is caught, not measured.

An editable install (`pip install -e .`) maps tinygrad_opt.kernels, a top-level folder of the checkout, to
the installed tree's kernels/ through an import finder of its own: with only TREE first on sys.path, a
worker got TREE's tinygrad_opt and the installed tree's kernels. `use_tree` takes that finder out.
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


def use_tree(tree: str) -> None:
    """Import the engine, kernels included, from `tree`: first on sys.path, and no editable install's finder."""
    sys.path.insert(0, tree)
    sys.meta_path[:] = [finder for finder in sys.meta_path if not _editable_install_finder(finder)]


def _editable_install_finder(finder) -> bool:
    module = getattr(finder, "__module__", None) or type(finder).__module__
    return module.startswith("__editable__")


def imported_from() -> str:
    """The tree the engine and its kernels were imported from, or both folders where they differ."""
    import tinygrad_opt  # noqa: PLC0415
    import tinygrad_opt.kernels  # noqa: PLC0415

    package = Path(tinygrad_opt.__file__).resolve().parents[1]
    kernels = Path(tinygrad_opt.kernels.__file__).resolve().parents[1]
    return str(package) if package == kernels else f"{package} (its kernels from {kernels})"


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
