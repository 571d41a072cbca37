"""Building models from a small config dict, so that a checkpoint can rebuild the model it holds.

A model config is JSON-friendly: {"type": "mlp", "in_features": 784, "num_classes": 10,
"hidden": [256], "activation": "relu", "dropout": 0.0, "batchnorm": false}. `build_model`
looks the type up in MODEL_BUILDERS; register another builder there to train and
checkpoint other architectures with the same loop.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .. import nn
from ..cli.config import ACTIVATIONS, TrainConfig

_ACTIVATION_LAYERS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def build_mlp(in_features: int, num_classes: int, hidden: Sequence[int] = (256,), activation: str = "relu",
              dropout: float = 0.0, batchnorm: bool = False) -> nn.Sequential:
    """Linear -> [BatchNorm1d] -> activation -> [Dropout] for each hidden size, then Linear to the classes.

    With the defaults and 784 inputs this is the seed's 784-256-10 MLP:
    Sequential(Linear(784, 256), ReLU(), Linear(256, 10)).
    """
    if activation not in _ACTIVATION_LAYERS:
        raise ValueError(f"build_mlp: unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = int(in_features)
    for size in hidden:
        layers.append(nn.Linear(width, int(size)))
        if batchnorm:
            layers.append(nn.BatchNorm1d(int(size)))
        layers.append(_ACTIVATION_LAYERS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, int(num_classes)))
    return nn.Sequential(*layers)


MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {"mlp": build_mlp}


def mlp_config(config: TrainConfig, in_features: int, num_classes: int) -> dict[str, Any]:
    """The model config of a training config's MLP for data with `in_features` and `num_classes`."""
    return {
        "type": "mlp", "in_features": int(in_features), "num_classes": int(num_classes),
        "hidden": [int(h) for h in config.hidden], "activation": config.activation,
        "dropout": float(config.dropout), "batchnorm": bool(config.batchnorm),
    }


def build_model(model_config: dict[str, Any]) -> nn.Module:
    """The model a model config describes (fresh weights from the engine's generator)."""
    options = dict(model_config)
    kind = options.pop("type", None)
    if kind not in MODEL_BUILDERS:
        raise ValueError(f"unknown model type {kind!r} in model config; known types: {', '.join(MODEL_BUILDERS)}")
    try:
        return MODEL_BUILDERS[kind](**options)
    except TypeError as err:
        raise ValueError(f"model config {model_config} does not fit the {kind!r} builder: {err}") from None


def describe_model(model_config: dict[str, Any]) -> str:
    """A short name such as "64-256-10 MLP (relu)"."""
    if model_config.get("type") != "mlp":
        return str(model_config.get("type"))
    sizes = [model_config["in_features"], *model_config["hidden"], model_config["num_classes"]]
    extras = [model_config["activation"]]
    if model_config.get("batchnorm"):
        extras.append("batchnorm")
    if model_config.get("dropout"):
        extras.append(f"dropout {model_config['dropout']}")
    return "-".join(str(s) for s in sizes) + f" MLP ({', '.join(extras)})"
