"""Flatten: merge a range of axes into one (by default all but the batch axis)."""
from ..errors import ShapeError
from ..tensor import Tensor
from .module import Module


class Flatten(Module):
    """Reshape axes start_dim..end_dim (inclusive) into one, as torch.nn.Flatten."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        ndim = max(input.ndim, 1)
        start, end = self.start_dim, self.end_dim
        if not (-ndim <= start < ndim and -ndim <= end < ndim):
            raise ShapeError(
                f"Flatten: start_dim={start}, end_dim={end} out of range for an input of shape {tuple(input.shape)}"
            )
        start, end = start % ndim, end % ndim
        if start > end:
            raise ShapeError(f"Flatten: start_dim ({self.start_dim}) comes after end_dim ({self.end_dim})")
        shape = input.shape
        if input.ndim == 0:
            return input.reshape(1)
        return input.reshape(*shape[:start], -1 if 0 not in shape[start:end + 1] else 0, *shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
