"""Copies as differentiable ops: dtype conversion (torch's `.to(dtype)`, `.float()`, ...) and clone."""
from ..autograd import Function


class Cast(Function):
    """y = a converted to `dtype`.   dL/da = g converted back to a's dtype.

    Only floating-to-floating casts are recorded; Tensor.to cuts the graph for a
    cast to an integer or bool dtype, as torch does (no gradient can flow there).
    """

    @staticmethod
    def forward(ctx, a, dtype=None):
        ctx.source = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.source, copy=False)


class Clone(Function):
    """y = a copy of a with its own memory.   dL/da = g."""

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g
