"""Reductions that skip or pick by order: the median of all elements, nansum, nanmean.

(median, kthvalue, mode, cummax/cummin along a dim pick an index per slice and gather the values with
ops.Gather, whose backward sends g to the picked element: see methods/order_statistics.py.)
Notation: g is the upstream gradient dL/dy, broadcast back over the reduced axes.
"""
from ..autograd import Function
from ..backend import array_module
from .elementwise import _quiet
from .reduce import expand_to_input, narrow_integer
from .tie_order import nth_element_index


class MedianAll(Function):
    """y = the lower median of all elements: the ((n - 1) // 2)-th smallest (0-based), NaN above every number.

    Among equal elements the pick shows only in the sign of a zero median: torch's (ops/tie_order.py).
    median: y is NaN if any element is; nanmedian (ignore_nan=True): the NaNs are left out
    (all NaN: y is NaN).
    dL/da = g * [a == y] / (number of elements equal to y), NaNs counting as equal to a NaN y
    (torch splits the gradient evenly among the ties).
    """

    @staticmethod
    def forward(ctx, a, ignore_nan=False):
        xp = array_module(a)
        flat = a.reshape(-1)
        nan = xp.isnan(flat) if a.dtype.kind in "fc" else xp.zeros(flat.shape, dtype=bool)
        counted = flat.size - int(nan.sum()) if ignore_nan else flat.size
        if flat.size == 0:  # torch's NaN, cast to the dtype (the smallest integer, True)
            y = xp.asarray(xp.nan if a.dtype.kind == "f" else (True if a.dtype.kind == "b" else xp.iinfo(a.dtype).min),
                           dtype=a.dtype)
        elif counted == 0 or (not ignore_nan and bool(nan.any())):
            y = xp.asarray(xp.nan, dtype=a.dtype)
        else:
            k = (counted - 1) // 2
            y = xp.sort(flat)[k]  # NumPy sorts NaN last
            if y == 0 and a.dtype.kind == "f" and int((flat == 0).sum()) > 1:  # +0 or -0: torch's pick among them
                host = flat.get() if hasattr(flat, "get") else flat
                y = flat[nth_element_index(host, k, nan_last=ignore_nan)]
        ctx.a, ctx.y = a, y
        return xp.asarray(y, dtype=a.dtype).reshape(())

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a, y = ctx.a, ctx.y
        ties = (a == y) | (xp.isnan(a) & xp.isnan(y))
        with _quiet(xp):
            return g * ties / ties.sum().astype(g.dtype)


def _nan_mask(xp, a):
    return xp.isnan(a) if a.dtype.kind in "fc" else xp.zeros(a.shape, dtype=bool)


class NanSum(Function):
    """y = sum of the non-NaN elements of a over axis (integers and bools sum in int64, as torch).

    dL/da = g * [a is not NaN]   (a product, as torch: an infinite g still gives NaN at a NaN).
    """

    @staticmethod
    def forward(ctx, a, axis=(), keepdims=False):
        xp = array_module(a)
        ctx.a, ctx.axis, ctx.keepdims = a, axis, keepdims
        with _quiet(xp):  # inf + -inf is NaN, as torch's, without NumPy's warning
            return xp.nansum(a, axis=axis, keepdims=keepdims, dtype="int64" if narrow_integer(a) else None)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        g = expand_to_input(g, ctx.a.shape, ctx.axis, ctx.keepdims)
        return g * ~_nan_mask(xp, ctx.a)


class NanMean(Function):
    """y = (sum of the non-NaN elements) / (their count) over axis; NaN where every element is NaN.

    dL/da = g * [a is not NaN] / count   (all NaN: count 0 gives NaN, as torch's).
    """

    @staticmethod
    def forward(ctx, a, axis=(), keepdims=False):
        xp = array_module(a)
        kept = ~_nan_mask(xp, a)
        count = kept.sum(axis=axis, keepdims=True).astype(a.dtype)
        ctx.kept, ctx.count, ctx.axis, ctx.keepdims = kept, count, axis, keepdims
        with _quiet(xp):
            y = xp.where(kept, a, 0).sum(axis=axis, keepdims=True) / count
        return y if keepdims else y.reshape([n for i, n in enumerate(a.shape) if i not in axis])

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        g = expand_to_input(g, ctx.kept.shape, ctx.axis, ctx.keepdims)
        with _quiet(xp):
            return g * ctx.kept / ctx.count
