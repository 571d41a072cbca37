"""Ops that copy or rearrange elements: expand, repeat, flip, roll, tril/triu, cat, stack, slicing.

Notation: g is the upstream gradient dL/dy.
"""
from ..autograd import Function, unbroadcast
from ..backend import array_module, broadcast_to


class Expand(Function):
    """y = a broadcast to `shape` (a view, as torch.expand).

    dL/da = g summed over the dims that expand added or stretched from size 1.
    """

    @staticmethod
    def forward(ctx, a, shape=()):
        ctx.shape = a.shape
        return broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape)


class Repeat(Function):
    """y = a tiled `repeats` times along each dim (torch.repeat; leading repeats add dims).

    dL/da = g viewed as (r0, n0, r1, n1, ...) and summed over every r axis (each copy sends its part).
    """

    @staticmethod
    def forward(ctx, a, repeats=()):
        shape = (1,) * (len(repeats) - a.ndim) + tuple(a.shape)
        ctx.shape, ctx.padded, ctx.repeats = a.shape, shape, repeats
        return array_module(a).tile(a.reshape(shape), repeats)

    @staticmethod
    def backward(ctx, g):
        split = []
        for r, n in zip(ctx.repeats, ctx.padded):
            split += [r, n]
        return g.reshape(split).sum(axis=tuple(range(0, len(split), 2))).reshape(ctx.shape)


class Flip(Function):
    """y = a reversed along `dims`.   dL/da = g reversed along the same dims."""

    @staticmethod
    def forward(ctx, a, dims=()):
        ctx.dims = dims
        return array_module(a).flip(a, axis=dims) if dims else a.copy()

    @staticmethod
    def backward(ctx, g):
        return array_module(g).flip(g, axis=ctx.dims) if ctx.dims else g


class Roll(Function):
    """y = a shifted cyclically by `shifts` along `dims` (None: the flattened tensor).

    dL/da = g shifted back by -shifts.
    """

    @staticmethod
    def forward(ctx, a, shifts=0, dims=None):
        ctx.shifts, ctx.dims = shifts, dims
        return array_module(a).roll(a, shifts, axis=dims)

    @staticmethod
    def backward(ctx, g):
        back = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return array_module(g).roll(g, back, axis=ctx.dims)


class Triangle(Function):
    """y = the lower (tril) or upper (triu) triangle of the last two dims, the rest zeroed.

    dL/da = g with the same triangle kept (the zeroed entries do not depend on a).
    """

    @staticmethod
    def forward(ctx, a, diagonal=0, upper=False):
        xp = array_module(a)
        ctx.diagonal, ctx.upper = diagonal, upper
        return xp.triu(a, diagonal) if upper else xp.tril(a, diagonal)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.triu(g, ctx.diagonal) if ctx.upper else xp.tril(g, ctx.diagonal)


class Cat(Function):
    """y = the inputs joined along `dim`.   dL/d(input i) = the slice of g that input i filled."""

    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        ctx.bounds = []
        start = 0
        for a in arrays:
            ctx.bounds.append((start, start + a.shape[dim]))
            start += a.shape[dim]
        return array_module(arrays[0]).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.dim
        return tuple(g[lead + (slice(lo, hi),)] if need else None
                     for (lo, hi), need in zip(ctx.bounds, ctx.needs_input_grad))


class Stack(Function):
    """y = the inputs (one shape) stacked along a new dim.   dL/d(input i) = g[..., i, ...] at that dim."""

    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        return array_module(arrays[0]).stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.dim
        return tuple(g[lead + (i,)] if need else None for i, need in enumerate(ctx.needs_input_grad))


class Slice(Function):
    """y = a[index] for a basic index (ints, slices): the pieces of split, chunk and unbind.

    dL/da = zeros like a with g written at index (basic slices never repeat an element).
    """

    @staticmethod
    def forward(ctx, a, index=()):
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        grad = array_module(g).zeros(ctx.shape, dtype=g.dtype)
        grad[ctx.index] = g
        return grad
