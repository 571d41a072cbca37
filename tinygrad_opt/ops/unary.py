"""Element-wise functions of one input: log1p, expm1, rsqrt, sin, cos, and the step functions.

Notation: g is the upstream gradient dL/dy, y the output.
"""
from ..autograd import Function
from ..backend import array_module
from ..kernels.opmath import HALF, opmath, rounded, rsqrt
from ..quiet_numpy import silent
from .elementwise import _quiet


class Log1p(Function):
    """y = log(1 + a), accurate for small a.   dL/da = g / (1 + a)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return array_module(a).log1p(a)

    @staticmethod
    def backward(ctx, g):
        return g / (1 + ctx.a)


class Expm1(Function):
    """y = exp(a) - 1, accurate for small a.   dL/da = g * (y + 1)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        y = array_module(a).expm1(a)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        return g * (ctx.y + 1)


class Rsqrt(Function):
    """y = 1 / sqrt(a).   dL/da = -g * y**3 / 2.

    float16 as torch's: forward in float32, rounded once; backward (-0.5 * g) * y**3 with y**3 rounded
    to float16 first (torch's formula in float16 steps).
    """

    @staticmethod
    @silent
    def forward(ctx, a):
        with _quiet(array_module(a)):
            y = rsqrt(a)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        if y.dtype == HALF:
            wide = opmath(y)
            with _quiet(array_module(g)):
                return (g * -0.5) * rounded(wide * wide * wide, HALF)
        return g * (-0.5 * y * y * y)


class Sin(Function):
    """y = sin(a).   dL/da = g * cos(a)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return array_module(a).sin(a)

    @staticmethod
    def backward(ctx, g):
        return g * array_module(g).cos(ctx.a)


class Cos(Function):
    """y = cos(a).   dL/da = -g * sin(a)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return array_module(a).cos(a)

    @staticmethod
    def backward(ctx, g):
        return -g * array_module(g).sin(ctx.a)


class Step(Function):
    """y = sign(a), floor(a), ceil(a), round(a) (half to even) or trunc(a) (toward zero), by `fn`.

    Piecewise constant: dL/da = 0 everywhere (PyTorch's convention, also at the jumps).
    """

    @staticmethod
    @silent
    def forward(ctx, a, fn="sign"):
        xp = array_module(a)
        return {"sign": xp.sign, "floor": xp.floor, "ceil": xp.ceil, "round": xp.round, "trunc": xp.trunc}[fn](a)

    @staticmethod
    def backward(ctx, g):
        return array_module(g).zeros_like(g)


class RoundDecimals(Function):
    """y = round(a * 10**decimals) / 10**decimals (half to even).   dL/da = 0."""

    @staticmethod
    @silent
    def forward(ctx, a, decimals=0):
        return rounded(array_module(a).round(opmath(a), decimals), a.dtype)  # float16: in float32, as torch

    @staticmethod
    def backward(ctx, g):
        return array_module(g).zeros_like(g)

