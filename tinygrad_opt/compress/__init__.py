"""Model compression on top of nn.utils.prune.

- schedule: gradual magnitude pruning (Zhu and Gupta, 2017): `polynomial_sparsity`,
  `GradualPruner` (call `step()` after each optimizer step), `prune_to_sparsity`;
- shrink: structured shrinking: `prune_hidden_units`, then `shrink` removes the pruned
  units physically (smaller Linear pairs, BatchNorm1d features too); `fold_batchnorm`;
- quantize: post-training dynamic int8 quantization: `QuantizedLinear`,
  `quantize_dynamic(model)`, `model_size`; int8_matmul: the int32-accumulating products;
- distill: knowledge distillation (Hinton et al., 2015): `distillation_loss`.
"""
from .distill import distillation_loss, soft_targets
from .int8_matmul import int8_matmul
from .quantize import QuantizedLinear, model_size, quantize_activation, quantize_dynamic, quantize_per_channel
from .schedule import GradualPruner, polynomial_sparsity, prunable_weights, prune_to_sparsity
from .shrink import dead_units, fold_batchnorm, hidden_sizes, prune_hidden_units, shrink

__all__ = [
    "distillation_loss", "soft_targets",
    "int8_matmul", "QuantizedLinear", "quantize_dynamic", "quantize_per_channel", "quantize_activation", "model_size",
    "GradualPruner", "polynomial_sparsity", "prunable_weights", "prune_to_sparsity",
    "prune_hidden_units", "shrink", "dead_units", "fold_batchnorm", "hidden_sizes",
]
