"""Quantized models in checkpoints: the model config that rebuilds one, and rebuilding it.

A quantized checkpoint's model_config is {"type": "quantized", "float_model": <the float model's config>,
"backend": ..., "in_features": ..., "num_classes": ...}: rebuilding builds the float model
(train.models.build_model), folds its BatchNorm layers and quantizes it, which gives the layer
structure; the saved int8 weights, scales and biases then load into it.
"""
from __future__ import annotations

from typing import Any

from ..nn import BatchNorm1d
from ..nn.module import Module
from ..train.checkpoint import load_model_state
from ..train.errors import CheckpointError
from ..train.models import build_model
from .quantize import quantize_dynamic
from .structured import fold_batchnorm

QUANTIZED = "quantized"


def quantize_model(model: Module, backend: str = "auto") -> Module:
    """The int8 copy of a float model: its BatchNorm layers folded into the layer before them, then
    quantize_dynamic (Linear and Conv2d layers quantized). The float model is untouched."""
    if any(isinstance(m, BatchNorm1d) for m in model.modules()):  # BatchNorm2d included
        model = fold_batchnorm(model)
    return quantize_dynamic(model, backend=backend)


def quantized_model_config(float_config: dict[str, Any], backend: str = "auto") -> dict[str, Any]:
    """The model config of the quantized version of the model `float_config` describes."""
    return {"type": QUANTIZED, "float_model": dict(float_config), "backend": backend,
            "in_features": float_config.get("in_features"), "num_classes": float_config.get("num_classes")}


def is_quantized(model_config: dict[str, Any]) -> bool:
    return isinstance(model_config, dict) and model_config.get("type") == QUANTIZED


def quantized_from_checkpoint(ckpt: dict[str, Any], device: str = "cpu") -> Module:
    """The quantized model of a checkpoint written by `tinygrad-opt quantize --out`, in evaluation mode.

    A CheckpointError when the checkpoint holds no quantized model or its arrays do not fit the structure.
    """
    config = ckpt["model_config"]
    source = f"checkpoint {ckpt.get('path', '')}".strip()
    if not is_quantized(config) or not isinstance(config.get("float_model"), dict):
        raise CheckpointError(f"{source} holds no quantized model (its model_config type is {config.get('type')!r})")
    try:
        model = quantize_model(build_model(config["float_model"]), backend=config.get("backend", "auto"))
    except ValueError as err:
        raise CheckpointError(f"{source}: {err}") from None
    load_model_state(model, ckpt["model"], source)
    return model.to(device).eval()
