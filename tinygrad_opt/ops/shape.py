"""Ops that move elements around without arithmetic: reshape, transpose, indexing, devices."""
import numpy as np

from ..autograd import Function
from ..backend import array_module, device_of, to_device
from ..errors import ShapeError
from ..indexing import TorchIndex, put, split_index, take


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


def _index(index, ndim: int) -> TorchIndex:
    return index if isinstance(index, TorchIndex) else split_index(index, ndim)


def _out_of_range(err: IndexError, shape) -> IndexError:
    return IndexError(f"index: {err} (tensor of shape {tuple(shape)})")


class GetItem(Function):
    """y = a[index] under torch's rule (basic, integer-array, boolean and mixed; see indexing.py).

    dL/da = zeros like a, with g scatter-added at `index`; repeated indices add up.
    """

    @staticmethod
    def forward(ctx, a, index=None):
        index = _index(index, a.ndim)
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        try:
            return take(a, index)
        except IndexError as err:
            raise _out_of_range(err, a.shape) from err

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        grad = xp.zeros(ctx.shape, dtype=g.dtype)
        index = ctx.index
        if index.advanced is None:  # a basic index never repeats an element
            grad[index.basic] = g
        else:
            _scatter_add(xp, grad[index.basic], index.advanced, g)
        return grad


def _scatter_add(xp, target, index, values) -> None:
    """target[index] += values, adding repeated indices up (NumPy's ufunc.at)."""
    if hasattr(xp.add, "at"):  # NumPy, and CuPy >= 12.1
        xp.add.at(target, index, values)
    else:
        import cupyx  # noqa: PLC0415 - older CuPy spells ufunc.at this way

        cupyx.scatter_add(target, index, values)


def assign(array, index, values) -> None:
    """array[index] = values under torch's rule, with IndexError/ShapeError naming the shapes."""
    index = _index(index, array.ndim)
    try:
        put(array, index, values)
    except IndexError as err:
        raise _out_of_range(err, array.shape) from err
    except ValueError as err:
        raise ShapeError(
            f"setitem: cannot assign a value of shape {tuple(getattr(values, 'shape', ()))} to the indexed "
            f"part of a tensor of shape {tuple(array.shape)} ({err})"
        ) from err


class SetItem(Function):
    """y = a with y[index] = v (torch's index_put_; v broadcasts to the indexed part).

    dL/da = g with zeros at index (those elements were overwritten),
    dL/dv = g[index] (the traversal sums it back to v's shape where v broadcast).
    """

    @staticmethod
    def forward(ctx, a, v, index=None):
        index = _index(index, a.ndim)
        ctx.index = index
        y = a.copy()
        assign(y, index, v)
        return y

    @staticmethod
    def backward(ctx, g):
        need_a, need_v = ctx.needs_input_grad
        ga = gv = None
        if need_a:
            ga = g.copy()
            put(ga, ctx.index, 0)
        if need_v:
            gv = take(g, ctx.index)
        return ga, gv


class ToDevice(Function):
    """y = a copied to another device.   dL/da = g copied back to a's device."""

    @staticmethod
    def forward(ctx, a, device="cpu"):
        ctx.source = device_of(a)
        return to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        return to_device(g, ctx.source)
