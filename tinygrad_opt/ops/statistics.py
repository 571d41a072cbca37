"""Reductions with more arithmetic than a sum: prod, var, logsumexp, norm.

Each takes `axis` (a tuple of non-negative axes, as normalize_axes gives) and `keepdims`.
Notation: g is the upstream gradient dL/dy, broadcast back over the reduced axes.
"""
import math

from ..autograd import Function
from ..backend import array_module
from ..kernels.opmath import HALF, opmath, rounded, times_number
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
        if a.dtype == HALF and axis and a.size:
            return _half_product(a, axis, keepdims)
        return a.prod(axis=axis, keepdims=keepdims, dtype="int64" if narrow_integer(a) else None)

    @staticmethod
    def backward(ctx, g):
        a, axis = ctx.a, ctx.axis
        xp = array_module(a)
        g = expand_to_input(g, a.shape, axis, ctx.keepdims)
        if not axis or a.size == 0:  # an empty input has no elements to receive a gradient
            return g * xp.ones_like(a)
        if a.dtype == HALF:
            return _half_prod_backward(ctx, g)
        kept = [i for i in range(a.ndim) if i not in axis]
        order = kept + list(axis)
        moved = a.transpose(order)
        flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=a.dtype)
        before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), -1), axis=-1), -1)
        others = (before * after).reshape(moved.shape).transpose(_inverse(order))
        return g * others


def _variance(ctx, a, axis, keepdims, correction):
    """Var's forward before its rounding: float16 in float32 (torch's accumulation), other dtypes in
    their own. Saves a - mean(a) for backward, for float16 as torch's backward forms it: in float16 from
    the float16 mean."""
    xp = array_module(a)
    n = math.prod(a.shape[i] for i in axis)
    wide = opmath(a)
    mean = wide.mean(axis=axis, keepdims=True)
    centered = wide - mean
    ctx.centered = centered if wide is a else a - rounded(mean, a.dtype)
    ctx.axis, ctx.keepdims = axis, keepdims
    ctx.divisor = max(n - correction, 0)
    with _quiet(xp):
        return (centered * centered).sum(axis=axis, keepdims=keepdims) / wide.dtype.type(ctx.divisor)


def _variance_backward(ctx, g, keepdims: bool):
    """dL/da = g * 2 * (a - mean(a)) / (n - correction); float16 as torch: (2 / (n - correction) * g),
    a tensor-times-number, then times a - mean in float16."""
    g = expand_to_input(g, ctx.centered.shape, ctx.axis, keepdims)
    with _quiet(array_module(g)):
        if g.dtype == HALF:
            return times_number(g, 2 / ctx.divisor if ctx.divisor else math.inf) * ctx.centered
        return g * (2 * ctx.centered) / g.dtype.type(ctx.divisor)


def _half_product(a, axis, keepdims):
    """prod of float16 as torch's: one element after the other, in float16."""
    xp = array_module(a)
    kept = [i for i in range(a.ndim) if i not in axis]
    moved = a.transpose(kept + list(axis))
    flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
    return xp.multiply.accumulate(flat, axis=-1)[..., -1].reshape(reduced_shape(a.shape, axis, keepdims))


def _half_prod_backward(ctx, g):
    """float16 as torch's: without a zero anywhere in the input, g * (y / a) in float16 steps; with one,
    g * (exclusive running product before * after), each running product accumulated in float32 and
    rounded per element (torch's cumprod), their product in float16."""
    a, axis = ctx.a, ctx.axis
    xp = array_module(a)
    y = expand_to_input(_half_product(a, axis, True), a.shape, axis, True)
    if not bool((a == 0).any()):
        return g * (y / a)
    kept = [i for i in range(a.ndim) if i not in axis]
    order = kept + list(axis)
    moved = a.transpose(order)
    flat = opmath(moved.reshape(moved.shape[:len(kept)] + (-1,)))
    ones = xp.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
    before = rounded(xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1), HALF)
    after = rounded(xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), -1), axis=-1), -1), HALF)
    return g * (before * after).reshape(moved.shape).transpose(_inverse(order))


class Var(Function):
    """y = sum((a - mean(a))**2, axis) / (n - correction), n = number of reduced elements.

    dL/da = g * 2 * (a - mean(a)) / (n - correction). float16 is computed in float32 and rounded once,
    its gradient in torch's order (_variance_backward).
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=(), keepdims=False, correction=1):
        return rounded(_variance(ctx, a, axis, keepdims, correction), a.dtype)

    @staticmethod
    def backward(ctx, g):
        return _variance_backward(ctx, g, ctx.keepdims)


class Std(Function):
    """y = sqrt(var(a, axis, correction)).

    dL/da = g * (a - mean(a)) / ((n - correction) * y), and 0 where y == 0 (as torch, not inf * 0).
    float16 is computed in float32 and rounded once; its gradient is torch's var gradient of
    g / (y * 2) (0 where y == 0), in float16 steps as torch's.
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=(), keepdims=False, correction=1):
        xp = array_module(a)
        y = rounded(xp.sqrt(_variance(ctx, a, axis, True, correction)), a.dtype)
        ctx.y, ctx.keepdims = y, keepdims
        return y if keepdims else y.reshape(reduced_shape(a.shape, axis, False))

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        y = ctx.y
        if g.dtype == HALF:
            with _quiet(xp):
                g = g.reshape(y.shape) if not ctx.keepdims else g
                share = xp.where(y == 0, xp.zeros((), g.dtype), g / (y * 2))
            return _variance_backward(ctx, share, True)
        g = expand_to_input(g, ctx.centered.shape, ctx.axis, ctx.keepdims)
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
        wide = opmath(a)  # float16: accumulated in float32 and rounded once, as torch's
        mag = xp.abs(wide)
        if p == math.inf:
            y = mag.max(axis=axis, keepdims=True)
        elif p == -math.inf:
            y = mag.min(axis=axis, keepdims=True)
        elif p == 0:
            y = (a != 0).sum(axis=axis, keepdims=True).astype(a.dtype)
        elif p == 1:
            y = mag.sum(axis=axis, keepdims=True)
        elif p == 2:
            y = xp.sqrt((wide * wide).sum(axis=axis, keepdims=True))
        else:
            y = (mag ** p).sum(axis=axis, keepdims=True) ** (1.0 / p)
        y = rounded(y, a.dtype)
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
