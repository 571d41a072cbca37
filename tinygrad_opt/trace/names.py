"""Naming tensors for people: leaf parameters by their module path ("0.weight"), modules by theirs."""
from __future__ import annotations

from typing import Any, Iterable, Mapping


def parameter_names(model: Any = None, params: Mapping[str, Any] | Iterable | None = None) -> dict:
    """id(tensor) -> (tensor, name) for a model's parameters and buffers and/or a name -> tensor mapping.

    `params` may be a dict such as dict(model.named_parameters()) or any iterable of
    (name, tensor) pairs. The tensor is kept next to its name so the id stays valid.
    """
    table: dict = {}
    if model is not None:
        if not hasattr(model, "named_parameters"):
            raise TypeError(f"model= must be an nn.Module (something with named_parameters()), got {type(model).__name__}")
        pairs = list(model.named_parameters())
        if hasattr(model, "named_buffers"):
            pairs += list(model.named_buffers())
        for name, t in pairs:
            table[id(t)] = (t, name)
    if params is not None:
        items = params.items() if isinstance(params, Mapping) else params
        for item in items:
            try:
                name, t = item
            except (TypeError, ValueError):
                raise TypeError(
                    "params= must map names to tensors, e.g. dict(model.named_parameters()), "
                    f"or be (name, tensor) pairs; got an item {item!r:.60}"
                ) from None
            if not hasattr(t, "_ctx"):
                raise TypeError(f"params=: {name!r} maps to a {type(t).__name__}, not a Tensor")
            table[id(t)] = (t, str(name))
    return table


def module_paths(model: Any) -> dict:
    """id(module) -> (module, "path (Class)") for a model and its descendants, e.g. "0 (Linear)".

    The model itself is called "model".
    """
    if model is None or not hasattr(model, "named_modules"):
        return {}
    return {id(m): (m, f"{path or 'model'} ({type(m).__name__})") for path, m in model.named_modules()}


def lookup(table: dict, t: Any) -> str | None:
    entry = table.get(id(t))
    return entry[1] if entry is not None and entry[0] is t else None
