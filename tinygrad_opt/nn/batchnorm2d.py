"""BatchNorm2d: per-channel normalisation of (N, C, H, W) with running statistics, as torch.nn.BatchNorm2d."""
from __future__ import annotations

from ..errors import ShapeError
from ..tensor import Tensor
from .batchnorm import BatchNorm1d
from .functional_image import batch_norm_relu


class BatchNorm2d(BatchNorm1d):
    """BatchNorm1d's parameters, buffers and update rule, over N, H and W for each channel.

    Training: the biased batch statistics over (N, H, W) normalise, and running_mean /
    running_var move towards the batch mean and the unbiased batch variance (momentum, or
    a cumulative average when momentum=None). Evaluation uses the running estimates.
    """

    def forward(self, input: Tensor) -> Tensor:
        return self.forward_relu(input, relu=False)

    def forward_relu(self, input: Tensor, relu: bool = True) -> Tensor:
        """forward, then ReLU in the same graph node when relu=True (nn.Sequential's fused BatchNorm2d + ReLU)."""
        c = self.num_features
        if input.ndim != 4 or input.shape[1] != c:
            raise ShapeError(f"BatchNorm2d({c}): expected input of shape (N, {c}, H, W), got {tuple(input.shape)}")
        counting = self.training and self.track_running_stats
        use_batch_stats = self.training or not self.track_running_stats
        keep_running = not self.training or self.track_running_stats
        return batch_norm_relu(input, self.running_mean if keep_running else None,
                               self.running_var if keep_running else None, self.weight, self.bias,
                               use_batch_stats, self.momentum, self.eps, relu=relu, where=f"BatchNorm2d({c})",
                               num_batches_tracked=self.num_batches_tracked if counting else None)
