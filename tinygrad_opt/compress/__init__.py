"""Model compression on top of nn.utils.prune.

- schedule: gradual magnitude pruning (Zhu and Gupta, 2017): `polynomial_sparsity`,
  `GradualPruner` (call `step()` after each optimizer step), `prune_to_sparsity`;
  callback: `GradualPruningCallback` for train.Trainer (`tinygrad-opt train --prune`);
- structured: structured shrinking: `prune_hidden_units`, then `shrink` removes the pruned
  units physically (smaller Linear pairs, BatchNorm1d features too); `fold_batchnorm`;
- filters: filter (channel) pruning of CNNs: `prune_filters` (ln_structured on conv weights, dim 0), then
  `shrink_filters` removes the pruned filters from the conv, its BatchNorm2d and the next layer;
- quantize: post-training dynamic int8 quantization: `QuantizedLinear`, `QuantizedConv2d` (quantize_conv),
  `quantize_dynamic(model)`, `model_size`; int8: `int8_matmul`, the int32-accumulating products;
- distill: knowledge distillation (Hinton et al., 2015): `distillation_loss`.

Names resolve lazily (on first use), so `tinygrad-opt --help` does not import the engine.
"""
import importlib
from typing import Any

_EXPORTS = {
    "distill": ("distillation_loss", "soft_targets", "DistillationLoss"),
    "int8": ("int8_matmul",),
    "quantize_conv": ("QuantizedConv2d",),
    "quantize": ("QuantizedLinear", "quantize_dynamic", "quantize_per_channel", "quantize_activation", "model_size"),
    "schedule": ("GradualPruner", "polynomial_sparsity", "prunable_weights", "prune_to_sparsity"),
    "callback": ("GradualPruningCallback",),
    "structured": ("prune_hidden_units", "shrink", "dead_units", "fold_batchnorm", "hidden_sizes"),
    "filters": ("prune_filters", "shrink_filters", "conv_channels"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
