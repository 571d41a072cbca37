"""nn.utils: gradient clipping (re-exported from tinygrad_opt.optim) and pruning (`nn.utils.prune`).

The clipping functions are looked up lazily (module-level __getattr__), so importing
nn never imports optim: optim depends on nn's Parameter, not the other way round.
"""
import importlib
from typing import Any

_FROM_OPTIM = ("clip_grad_norm_", "clip_grad_value_")


def __getattr__(name: str) -> Any:
    if name in _FROM_OPTIM:
        return getattr(importlib.import_module("tinygrad_opt.optim"), name)
    if name == "prune":  # the submodule, for `nn.utils.prune` attribute access
        return importlib.import_module(f"{__name__}.prune")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(list(globals()) + list(_FROM_OPTIM) + ["prune"])


__all__ = list(_FROM_OPTIM) + ["prune"]
