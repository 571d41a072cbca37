"""Ops that move elements around without arithmetic: reshape, transpose, indexing, devices."""
import numpy as np

from ..autograd import Function
from ..backend import array_module, device_of, to_device
from ..errors import ShapeError


class Reshape(Function):
    """y = a viewed with a new shape.   dL/da = g reshaped back to a's shape."""

    @staticmethod
    def forward(ctx, a, shape=()):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError as err:
            raise ShapeError(
                f"reshape: cannot reshape a tensor of shape {tuple(a.shape)} ({a.size} elements) "
                f"into shape {tuple(shape)}"
            ) from err

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Transpose(Function):
    """y = a with its axes permuted by `axes` (NumPy's meaning).

    dL/da = g permuted by the inverse permutation argsort(axes).
    """

    @staticmethod
    def forward(ctx, a, axes=None):
        if axes is None:
            axes = tuple(reversed(range(a.ndim)))
        if sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
            raise ShapeError(
                f"transpose: axes {tuple(axes)} are not a permutation of the {a.ndim} axes "
                f"of a tensor of shape {tuple(a.shape)}"
            )
        ctx.inverse = tuple(np.argsort([ax % a.ndim for ax in axes]))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse)


def _is_basic_index(index) -> bool:
    """True when `index` uses only ints, slices, None and Ellipsis (no element repeats)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class GetItem(Function):
    """y = a[index] (basic slicing or integer-array indexing).

    dL/da = zeros like a, with g scatter-added at `index`; repeated indices add up.
    """

    @staticmethod
    def forward(ctx, a, index=None):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        try:
            return a[index]
        except IndexError as err:
            raise ShapeError(f"indexing: {err} (tensor of shape {tuple(a.shape)})") from err

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        grad = xp.zeros(ctx.shape, dtype=g.dtype)
        if _is_basic_index(ctx.index):
            grad[ctx.index] = g
        elif hasattr(xp.add, "at"):  # NumPy, and CuPy >= 12.1
            xp.add.at(grad, ctx.index, g)
        else:
            import cupyx  # noqa: PLC0415 - older CuPy spells ufunc.at this way

            cupyx.scatter_add(grad, ctx.index, g)
        return grad


class ToDevice(Function):
    """y = a copied to another device.   dL/da = g copied back to a's device."""

    @staticmethod
    def forward(ctx, a, device="cpu"):
        ctx.source = device_of(a)
        return to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        return to_device(g, ctx.source)
