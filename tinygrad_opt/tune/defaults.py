"""The built-in search space, and reading a space file on top of it.

Ranges are the ones that usually matter for small MLPs on MNIST-sized data: the
learning rate over three decades on a log scale (it matters most), batch sizes in
powers of two, the optimizer (thirteen of them) with its momentum where it has one, one of weight
decay / L1 / L2 (or none) at a log-scaled strength, dropout, one or two hidden layers
of 32..512 units, and a learning-rate schedule. Every name is a key of the training
config (`tinygrad-opt train --config`), except the `_regularizer` switch.
"""
from __future__ import annotations

import os
from typing import Any

from ..train.config_file import read_config_file
from ..train.errors import ConfigError
from .space import SearchSpace, SpaceError, space_from_dict

DEFAULT_SPACE: dict[str, Any] = {
    "params": {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "batch_size": {"type": "categorical", "choices": [32, 64, 128, 256]},
        # the optimizers whose useful learning rates lie in the lr range above (not adadelta or schedulefree-sgd,
        # whose lr is about 1) and that work on mini-batches (not rprop or lbfgs)
        "optimizer": {"type": "categorical", "choices": ["adam", "adamw", "sgd", "rmsprop", "adagrad", "adamax",
                                                         "nadam", "radam", "asgd", "adafactor", "lion",
                                                         "schedulefree-adamw", "sam"]},
        "momentum": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": ["sgd", "rmsprop", "sam"]}},
        "nesterov": {"type": "categorical", "choices": [False, True], "when": {"optimizer": ["sgd"]}},
        "_regularizer": {"type": "categorical", "choices": ["none", "weight_decay", "l2", "l1"]},
        "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True,
                         "when": {"_regularizer": ["weight_decay"]}},
        "l2": {"type": "float", "low": 1e-7, "high": 1e-3, "log": True, "when": {"_regularizer": ["l2"]}},
        "l1": {"type": "float", "low": 1e-7, "high": 1e-4, "log": True, "when": {"_regularizer": ["l1"]}},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "hidden": {"type": "layers", "layers": [1, 2], "units": [32, 512], "log": True},
        "schedule": {"type": "categorical", "choices": ["none", "cosine", "step", "onecycle"]},
    }
}


def default_space() -> SearchSpace:
    """The built-in space (a fresh object each call)."""
    return space_from_dict(DEFAULT_SPACE)


def load_space(path: str | os.PathLike | None = None) -> SearchSpace:
    """The default space updated by a TOML/YAML space file (or the default alone when path is None).

    The file's `[params.NAME]` tables replace or add parameters, `[fixed]` pins training
    settings (a pinned name is no longer searched), `drop = [...]` removes defaults,
    `replace = true` starts from an empty space, `[[enqueue]]` lists starting points.
    """
    base = default_space()
    if path is None:
        return base
    try:
        data = read_config_file(path)
    except ConfigError as err:
        raise SpaceError(str(err).replace("config file", "search-space file")) from None
    try:
        return space_from_dict(data, base)
    except SpaceError as err:
        raise SpaceError(f"{path}: {err}") from None
