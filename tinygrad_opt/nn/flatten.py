"""Flatten (merge a range of axes into one, by default all but the batch axis) and its inverse, Unflatten."""
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


class Unflatten(Module):
    """Split axis `dim` into `unflattened_size` (one entry may be -1), as torch.nn.Unflatten."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"Unflatten: dim must be an int, got {dim!r}")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(n, int) and not isinstance(n, bool) for n in unflattened_size):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got {unflattened_size!r}")
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape, dim = tuple(input.shape), self.dim
        if not -len(shape) <= dim < len(shape):
            raise ShapeError(f"Unflatten: dim={dim} is out of range for an input of shape {shape}")
        dim %= len(shape)
        sizes = self.unflattened_size
        known = 1
        for n in sizes:
            known *= n if n != -1 else 1
        fits = shape[dim] == known if -1 not in sizes else (known and shape[dim] % known == 0)
        if not fits or sizes.count(-1) > 1:
            raise ShapeError(f"Unflatten: sizes {sizes} do not multiply to the size {shape[dim]} of dim {dim} "
                             f"of an input of shape {shape}")
        return input.reshape(*shape[:dim], *sizes, *shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
