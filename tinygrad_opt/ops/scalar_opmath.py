"""A float16 tensor times or divided by a Python number, as torch computes it.

torch multiplies and divides a reduced-precision tensor by a wrapped Python number in float32
("opmath"): the number enters as a float32 (not rounded to float16 first) and the product or
quotient is rounded once. NumPy would round the number to float16 and then compute, which differs
from torch in about a quarter of the elements for a factor such as 0.1. float32 and float64
tensors keep the plain operators (the number in the tensor's dtype, as torch).

Notation: g is the upstream gradient dL/dy, y the output, c the number.
"""
from ..autograd import Function
from ..kernels.opmath import HALF, opmath, over_number, rounded, times_number
from ..quiet_numpy import silent


class MulNumber(Function):
    """y = a * c, c in float32, rounded once.   dL/da = g * c (alike: torch's backward multiplies
    the gradient by the same wrapped number)."""

    @staticmethod
    @silent
    def forward(ctx, a, factor=1.0):
        ctx.factor = factor
        return times_number(a, factor)

    @staticmethod
    @silent
    def backward(ctx, g):
        return times_number(g, ctx.factor)


class DivNumber(Function):
    """y = a / c, c in float32, rounded once.   dL/da = g / c (alike)."""

    @staticmethod
    @silent
    def forward(ctx, a, divisor=1.0):
        ctx.divisor = divisor
        return over_number(a, divisor)

    @staticmethod
    @silent
    def backward(ctx, g):
        return over_number(g, ctx.divisor)


class Reciprocal(Function):
    """y = 1 / a.   dL/da = -g * (y * y) (torch's formula, each product rounded to a's dtype)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        y = rounded(1 / opmath(a), a.dtype)
        ctx.y = y
        return y

    @staticmethod
    @silent
    def backward(ctx, g):
        y = ctx.y
        return -g * (y * y)


class AddScaled(Function):
    """y = a + alpha * b (torch.add/sub with alpha) on float16, as torch's kernel: alpha rounded to float16,
    a + b * alpha in float32, rounded once.   dL/da = g,  dL/db = g * alpha (alpha the number itself, as
    torch's backward multiplies by the wrapped alpha)."""

    @staticmethod
    @silent
    def forward(ctx, a, b, alpha=1.0):
        ctx.alpha = alpha
        return rounded(opmath(a) + opmath(b) * float(HALF.type(alpha)), a.dtype)

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (g if need_a else None), (times_number(g, ctx.alpha) if need_b else None)
