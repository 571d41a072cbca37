"""The further element-wise functions of torch: tan, the hyperbolic and inverse trigonometric
functions, log2/log10/exp2, and of two inputs atan2, hypot, logaddexp and xlogy.

Notation: g is the upstream gradient dL/dy, y the output. Out-of-domain inputs give NaN or inf
quietly, as in torch.
"""
import math

from ..autograd import Function
from ..backend import array_module
from ..kernels.opmath import rsqrt, times_number
from ..quiet_numpy import silent
from .elementwise import _quiet


class Tan(Function):
    """y = tan(a).   dL/da = g * (1 + y**2)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.y = array_module(a).tan(a)
        return ctx.y

    @staticmethod
    def backward(ctx, g):
        return g * (1 + ctx.y * ctx.y)


class Sinh(Function):
    """y = sinh(a).   dL/da = g * cosh(a)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).sinh(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g * array_module(g).cosh(ctx.a)


class Cosh(Function):
    """y = cosh(a).   dL/da = g * sinh(a)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).cosh(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g * array_module(g).sinh(ctx.a)


class Asin(Function):
    """y = asin(a).   dL/da = g * rsqrt(-a * a + 1) (torch's formula and order: in float16 each step rounds)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).arcsin(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g * rsqrt(-ctx.a * ctx.a + 1)


class Acos(Function):
    """y = acos(a).   dL/da = g * -rsqrt(-a * a + 1) (torch's formula and order)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).arccos(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g * -rsqrt(-ctx.a * ctx.a + 1)


class Atan(Function):
    """y = atan(a).   dL/da = g / (1 + a**2)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return array_module(a).arctan(a)

    @staticmethod
    def backward(ctx, g):
        return g / (1 + ctx.a * ctx.a)


class Asinh(Function):
    """y = asinh(a).   dL/da = g * rsqrt(a * a + 1) (torch's formula and order)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return array_module(a).arcsinh(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g * rsqrt(ctx.a * ctx.a + 1)


class Acosh(Function):
    """y = acosh(a).   dL/da = g * rsqrt(a * a - 1) (torch's formula and order)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).arccosh(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g * rsqrt(ctx.a * ctx.a - 1)


class Atanh(Function):
    """y = atanh(a).   dL/da = g / (1 - a**2)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).arctanh(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g / (1 - ctx.a * ctx.a)


class Log2(Function):
    """y = log2(a).   dL/da = g / (a * ln 2) (a * ln 2 as torch's tensor-times-number: kernels/opmath.py)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).log2(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g / times_number(ctx.a, math.log(2.0))


class Log10(Function):
    """y = log10(a).   dL/da = g / (a * ln 10) (a * ln 10 as torch's tensor-times-number)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        with _quiet(array_module(a)):
            return array_module(a).log10(a)

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g / times_number(ctx.a, math.log(10.0))


class Exp2(Function):
    """y = 2**a.   dL/da = (g * y) * ln 2 (the last product as torch's tensor-times-number)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        with _quiet(array_module(a)):
            ctx.y = array_module(a).exp2(a)
        return ctx.y

    @staticmethod
    def backward(ctx, g):
        return times_number(g * ctx.y, math.log(2.0))


class Atan2(Function):
    """y = atan2(a, b), the angle of the point (b, a).

    dL/da = g * b * r,  dL/db = g * -a * r,  r = 1 / (a * a + b * b), 0 at the origin (torch's formula and
    order; in float16 each step rounds).
    """

    @staticmethod
    @silent
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return array_module(a).arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a, b = ctx.a, ctx.b
        squared = a * a + b * b
        with _quiet(xp):
            inverse = xp.where(squared == 0, xp.zeros((), squared.dtype), 1 / squared)
        need_a, need_b = ctx.needs_input_grad
        return (g * b * inverse if need_a else None), (g * -a * inverse if need_b else None)


class Hypot(Function):
    """y = sqrt(a**2 + b**2) without overflow.   dL/da = (g * a) / y,  dL/db = (g * b) / y   (NaN where y = 0, as
    torch; its order, in float16 each step rounds)."""

    @staticmethod
    @silent
    def forward(ctx, a, b):
        y = array_module(a).hypot(a, b)
        ctx.a, ctx.b, ctx.y = a, b, y
        return y

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        with _quiet(xp):
            need_a, need_b = ctx.needs_input_grad
            return (g * ctx.a / ctx.y if need_a else None), (g * ctx.b / ctx.y if need_b else None)


class LogAddExp(Function):
    """y = log(exp(a) + exp(b)) without overflow.

    dL/da = g * exp(a - y) = g / (1 + exp(b - a)),  dL/db = g / (1 + exp(a - b))   (torch's form: with one
    input infinite, the other gets 0 and it gets g).
    """

    @staticmethod
    @silent
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return array_module(a).logaddexp(a, b)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        need_a, need_b = ctx.needs_input_grad
        with _quiet(xp):
            ga = g / (1 + xp.exp(ctx.b - ctx.a)) if need_a else None
            gb = g / (1 + xp.exp(ctx.a - ctx.b)) if need_b else None
        return ga, gb


class Xlogy(Function):
    """y = a * log(b), and 0 where a == 0 and b is not NaN (torch.xlogy).

    dL/da = xlogy(g, b) = g * log(b) (0 where g == 0 and b is not NaN), and 0 where a == 0 and b <= 0
            (torch's formula: with a == 0 the forward is flat there);
    dL/db = g * a / b.
    """

    @staticmethod
    @silent
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        xp = array_module(a)
        with _quiet(xp):
            y = a * xp.log(b)
        return xp.where((a == 0) & ~xp.isnan(b), xp.zeros((), dtype=y.dtype), y)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a, b = ctx.a, ctx.b
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        zero = xp.zeros((), dtype=g.dtype)
        with _quiet(xp):
            if need_a:
                ga = xp.where((g == 0) & ~xp.isnan(b), zero, g * xp.log(b))
                ga = xp.where((a == 0) & (b <= 0), zero, ga)
            if need_b:
                gb = g * a / b
        return ga, gb
