"""The built-in search spaces, one per model family, and reading a space file on top of one.

For the MLP (the default), the ranges are the ones that usually matter for small MLPs on
MNIST-sized data: the learning rate over three decades on a log scale (it matters most),
batch sizes in powers of two, the optimizer (thirteen of them) with its momentum where it
has one, one of weight decay / L1 / L2 (or none) at a log-scaled strength, dropout, one or
two hidden layers of 32..512 units, and a learning-rate schedule.
For the CNN: the same learning rates, batch sizes and schedules, seven optimizers, weight
decay or none, the dropout before its last layer and the widths of its two conv stages
(16..96 channels each). LeNet-5 has fixed widths and no dropout: the CNN space without them.
Every name is a key of the training config (`tinygrad-opt train --config`), except the
`_regularizer` switch.
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

_MLP = DEFAULT_SPACE["params"]
CNN_SPACE: dict[str, Any] = {
    "params": {
        "lr": _MLP["lr"],
        "batch_size": _MLP["batch_size"],
        # the optimizers that train convolutional nets well at these learning rates
        "optimizer": {"type": "categorical", "choices": ["adam", "adamw", "sgd", "rmsprop", "nadam", "lion",
                                                         "schedulefree-adamw"]},
        "momentum": _MLP["momentum"],
        "nesterov": _MLP["nesterov"],
        # a conv's weights are few and shared: decay, not L1 sparsity, is the usual regularizer
        "_regularizer": {"type": "categorical", "choices": ["none", "weight_decay"]},
        "weight_decay": _MLP["weight_decay"],
        "dropout": _MLP["dropout"],
        # two stages keep the image side divisible by the pools: 8x8 digits -> 2x2, 28x28 MNIST -> 7x7
        "conv_widths": {"type": "layers", "layers": [2, 2], "unit_choices": [16, 32, 48, 64, 96]},
        "schedule": _MLP["schedule"],
    }
}
LENET5_SPACE: dict[str, Any] = {
    "params": {k: v for k, v in CNN_SPACE["params"].items() if k not in ("conv_widths", "dropout")}}
MODEL_SPACES: dict[str, dict[str, Any]] = {"mlp": DEFAULT_SPACE, "cnn": CNN_SPACE, "lenet5": LENET5_SPACE}


def default_space(model: str = "mlp") -> SearchSpace:
    """The built-in space of a model family (mlp, cnn or lenet5), a fresh object each call."""
    if model not in MODEL_SPACES:
        raise SpaceError(f"search space: no built-in space for model {model!r}; choose one of "
                         f"{', '.join(MODEL_SPACES)}")
    return space_from_dict(MODEL_SPACES[model])


def load_space(path: str | os.PathLike | None = None, model: str = "mlp") -> SearchSpace:
    """The model's built-in space updated by a TOML/YAML space file (or the built-in one alone when path is None).

    The file's `[params.NAME]` tables replace or add parameters, `[fixed]` pins training
    settings (a pinned name is no longer searched), `drop = [...]` removes defaults,
    `replace = true` starts from an empty space, `[[enqueue]]` lists starting points.
    """
    base = default_space(model)
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
