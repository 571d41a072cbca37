"""Model compression: gradual magnitude pruning, structured shrinking, int8 quantization, distillation."""
from .distill import distillation_loss, soft_targets

__all__ = ["distillation_loss", "soft_targets"]
