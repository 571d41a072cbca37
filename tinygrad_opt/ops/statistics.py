"""Reductions with more arithmetic than a sum: prod, var, logsumexp, norm.

Each takes `axis` (a tuple of non-negative axes, as normalize_axes gives) and `keepdims`.
Notation: g is the upstream gradient dL/dy, broadcast back over the reduced axes.
"""
import math

from ..autograd import Function
from ..backend import array_module
from ..quiet_numpy import silent
from .elementwise import _quiet
from .reduce import expand_to_input, narrow_integer, reduced_shape


class Prod(Function):
    """y = prod(a, axis).

    dL/da_i = g * prod of every other element of a_i's slice, computed as the product of the
    elements before i times those after i (exclusive running products), so a zero in the
    slice needs no division: one zero gets g times the others' product, two or more give 0.
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=(), keepdims=False):
        ctx.a, ctx.axis, ctx.keepdims = a, axis, keepdims
        return a.prod(axis=axis, keepdims=keepdims, dtype="int64" if narrow_integer(a) else None)

    @staticmethod
    def backward(ctx, g):
        a, axis = ctx.a, ctx.axis
        xp = array_module(a)
        g = expand_to_input(g, a.shape, axis, ctx.keepdims)
        if not axis or a.size == 0:  # an empty input has no elements to receive a gradient
            return g * xp.ones_like(a)
        kept = [i for i in range(a.ndim) if i not in axis]
        order = kept + list(axis)
        moved = a.transpose(order)
        flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=a.dtype)
        before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), -1), axis=-1), -1)
        others = (before * after).reshape(moved.shape).transpose(_inverse(order))
        return g * others


class Var(Function):
    """y = sum((a - mean(a))**2, axis) / (n - correction), n = number of reduced elements.

    dL/da = g * 2 * (a - mean(a)) / (n - correction).
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=(), keepdims=False, correction=1):
        xp = array_module(a)
        n = math.prod(a.shape[i] for i in axis)
        centered = a - a.mean(axis=axis, keepdims=True)
        ctx.centered, ctx.axis, ctx.keepdims = centered, axis, keepdims
        ctx.divisor = max(n - correction, 0)
        with _quiet(xp):
            return (centered * centered).sum(axis=axis, keepdims=keepdims) / a.dtype.type(ctx.divisor)

    @staticmethod
    def backward(ctx, g):
        g = expand_to_input(g, ctx.centered.shape, ctx.axis, ctx.keepdims)
        with _quiet(array_module(g)):
            return g * (2 * ctx.centered) / g.dtype.type(ctx.divisor)


class Std(Function):
    """y = sqrt(var(a, axis, correction)).

    dL/da = g * (a - mean(a)) / ((n - correction) * y), and 0 where y == 0 (as torch, not inf * 0).
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=(), keepdims=False, correction=1):
        xp = array_module(a)
        y = xp.sqrt(Var.forward(ctx, a, axis=axis, keepdims=True, correction=correction))
        ctx.y, ctx.keepdims = y, keepdims
        return y if keepdims else y.reshape(reduced_shape(a.shape, axis, False))

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        g = expand_to_input(g, ctx.centered.shape, ctx.axis, ctx.keepdims)
        y = ctx.y
        with _quiet(xp):
            local = ctx.centered / (g.dtype.type(ctx.divisor) * y)
        return g * xp.where(y == 0, 0, local)


class LogSumExp(Function):
    """y = log(sum(exp(a), axis)), computed as m + log(sum(exp(a - m))) with m = max(a).

    dL/da = g * exp(a - y) (the softmax of a along axis).
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=(), keepdims=False):
        xp = array_module(a)
        m = a.max(axis=axis, keepdims=True) if a.size else xp.zeros((1,) * a.ndim, a.dtype)
        m = xp.where(xp.isfinite(m), m, 0)  # an all -inf (or inf) slice must not give inf - inf
        with _quiet(xp):
            y = xp.log(xp.exp(a - m).sum(axis=axis, keepdims=True)) + m
        ctx.a, ctx.y, ctx.axis, ctx.keepdims = a, y, axis, keepdims
        return y if keepdims else y.reshape(reduced_shape(a.shape, axis, False))

    @staticmethod
    def backward(ctx, g):
        g = expand_to_input(g, ctx.a.shape, ctx.axis, ctx.keepdims)
        with _quiet(array_module(g)):
            return g * array_module(g).exp(ctx.a - ctx.y)


class Norm(Function):
    """y = (sum |a|**p)**(1/p) over axis (the vector p-norm; p = inf: max |a|, p = 0: count of non-zeros).

    dL/da = g * a * |a|**(p-2) / y**(p-1)   (p = 2: g * a / y; p = 1: g * sign(a)),
            g * sign(a) * [|a| == y] / (number of ties) for p = +-inf, 0 for p = 0,
            and 0 where y == 0 (as torch).
    """

    @staticmethod
    @silent
    def forward(ctx, a, p=2.0, axis=(), keepdims=False):
        xp = array_module(a)
        mag = xp.abs(a)
        if p == math.inf:
            y = mag.max(axis=axis, keepdims=True)
        elif p == -math.inf:
            y = mag.min(axis=axis, keepdims=True)
        elif p == 0:
            y = (a != 0).sum(axis=axis, keepdims=True).astype(a.dtype)
        elif p == 1:
            y = mag.sum(axis=axis, keepdims=True)
        elif p == 2:
            y = xp.sqrt((a * a).sum(axis=axis, keepdims=True))
        else:
            y = (mag ** p).sum(axis=axis, keepdims=True) ** (1.0 / p)
        ctx.a, ctx.y, ctx.p, ctx.axis, ctx.keepdims = a, y, p, axis, keepdims
        return y if keepdims else y.reshape(reduced_shape(a.shape, axis, False))

    @staticmethod
    def backward(ctx, g):
        a, y, p = ctx.a, ctx.y, ctx.p
        xp = array_module(g)
        g = expand_to_input(g, a.shape, ctx.axis, ctx.keepdims)
        if p == 0:
            return xp.zeros_like(a)
        if p in (math.inf, -math.inf):
            winners = xp.abs(a) == y
            ties = winners.sum(axis=ctx.axis, keepdims=True).astype(g.dtype)
            return g * xp.sign(a) * winners / ties
        if p == 1:
            return g * xp.sign(a)
        with _quiet(xp):
            local = a / y if p == 2 else a * xp.abs(a) ** (p - 2) / y ** (p - 1)
        return g * xp.where(y == 0, 0, local)


def _inverse(order: list) -> list:
    inverse = [0] * len(order)
    for i, d in enumerate(order):
        inverse[d] = i
    return inverse
