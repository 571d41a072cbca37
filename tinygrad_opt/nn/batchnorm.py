"""BatchNorm1d: per-feature normalisation with running statistics, as torch.nn.BatchNorm1d."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ShapeError
from ..tensor import Tensor
from .batchnorm_statistics import feature_statistics
from .module import Module
from .parameter import Parameter


class BatchNorm1d(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over inputs (N, C) or (N, C, L).

    Training (or track_running_stats=False): mean and the biased var come from the batch
    (over N, or N and L), and running_mean / running_var move towards the batch mean and
    the *unbiased* batch var: r = (1 - momentum) * r + momentum * batch
    (momentum=None: a cumulative average). Evaluation uses the running estimates.
    Buffers running_mean, running_var and num_batches_tracked (int64) match PyTorch's names;
    bias=False (keyword, as in PyTorch 2.13) keeps the scale but drops the shift.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features <= 0:
            raise ValueError(f"BatchNorm1d: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats, self.use_bias = affine, track_running_stats, affine and bias
        dtype = np.float32 if dtype is None else dtype
        c = self.num_features
        if affine:
            self.weight = Parameter(Tensor(np.ones(c), dtype=dtype))
            if bias:
                self.bias = Parameter(Tensor(np.zeros(c), dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(c), dtype=dtype))
            self.register_buffer("running_var", Tensor(np.ones(c), dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        if device is not None:
            self.to(device)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (2, 3) or input.shape[1] != self.num_features:
            raise ShapeError(
                f"BatchNorm1d({self.num_features}): expected input of shape (N, {self.num_features}) or "
                f"(N, {self.num_features}, L), got {tuple(input.shape)}"
            )
        axes = (0,) if input.ndim == 2 else (0, 2)
        use_batch_stats = self.training or not self.track_running_stats
        if self.training and input.data.size // self.num_features <= 1:
            raise ValueError(
                f"BatchNorm1d: expected more than 1 value per channel when training, got input of shape "
                f"{tuple(input.shape)}; use a batch of at least 2 or call .eval()"
            )
        # in place, so that optimizers, checkpoints and state_dict copies see the same buffers
        tracked = (self.running_mean, self.running_var, self.num_batches_tracked) \
            if self.training and self.track_running_stats or not use_batch_stats else (None, None, None)
        mean, var = feature_statistics(input.data, axes if use_batch_stats else None, *tracked, self.momentum)
        weight, bias = self.weight, self.bias
        tensors = (input,) if weight is None else (input, weight) if bias is None else (input, weight, bias)
        return ops.BatchNorm.apply(*tensors, mean=mean, var=var, axes=axes, eps=self.eps, training=use_batch_stats)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.use_bias}, track_running_stats={self.track_running_stats}")
