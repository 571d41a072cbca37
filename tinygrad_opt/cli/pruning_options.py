"""`tinygrad-opt train` options for gradual pruning, and the callback they ask for."""
from __future__ import annotations

import argparse
from typing import Any

from ..compress.schedule import PRUNE_METHODS


def add_pruning_arguments(parser: argparse.ArgumentParser) -> None:
    """--prune, --sparsity, --prune-start-epoch, --prune-end-epoch, --prune-frequency (an argument group)."""
    group = parser.add_argument_group(
        "pruning options",
        "gradual magnitude pruning (Zhu & Gupta 2017) of the weight matrices while training; the epochs "
        "after --prune-end-epoch fine-tune with the masks fixed",
    )
    group.add_argument("--prune", choices=PRUNE_METHODS, default=None,
                       help="global-l1: smallest magnitudes over all layers together; l1: each layer on its own")
    group.add_argument("--sparsity", type=float, default=None, metavar="S",
                       help="final fraction of weights pruned, e.g. 0.9 (needs --prune)")
    group.add_argument("--prune-start-epoch", type=float, default=0.0, metavar="E",
                       help="start pruning after this many epochs (fractions allowed; default 0)")
    group.add_argument("--prune-end-epoch", type=float, default=None, metavar="E",
                       help="reach --sparsity after this many epochs (default: 3/4 of --epochs)")
    group.add_argument("--prune-frequency", type=int, default=None, metavar="STEPS",
                       help="optimizer steps between pruning steps (default: 20 pruning steps over the span)")


def pruning_callbacks(args: argparse.Namespace) -> list[Any]:
    """[GradualPruningCallback] when --prune was given, else []; bad combinations raise ConfigError."""
    from .config import ConfigError  # noqa: PLC0415

    method = getattr(args, "prune", None)
    sparsity = getattr(args, "sparsity", None)
    if method is None:
        if sparsity is not None:
            raise ConfigError("--sparsity needs --prune (global-l1 or l1) to say how to prune")
        return []
    if sparsity is None:
        raise ConfigError(f"--prune {method} needs --sparsity, the final fraction of weights to prune (e.g. 0.9)")
    from ..compress.callback import GradualPruningCallback  # noqa: PLC0415 - imports the training loop

    try:
        return [GradualPruningCallback(sparsity, method=method, start_epoch=args.prune_start_epoch,
                                       end_epoch=args.prune_end_epoch, frequency=args.prune_frequency,
                                       verbose=not getattr(args, "quiet", False))]
    except ValueError as err:
        raise ConfigError(str(err)) from None
