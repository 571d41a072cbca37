"""Copies as differentiable ops: dtype conversion (torch's `.to(dtype)`, `.float()`, ...) and clone."""
from ..autograd import Function
from ..backend import array_module


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


class CopyInto(Function):
    """y = src broadcast to a's shape and cast to a's dtype (torch's copy_: nothing of a survives).

    dL/da = 0,  dL/dsrc = g (summed back to src's shape and cast to its dtype by the traversal).
    """

    @staticmethod
    def forward(ctx, a, src):
        y = array_module(a).empty_like(a)
        y[...] = src
        return y

    @staticmethod
    def backward(ctx, g):
        need_a, need_src = ctx.needs_input_grad
        return (array_module(g).zeros_like(g) if need_a else None), (g if need_src else None)
