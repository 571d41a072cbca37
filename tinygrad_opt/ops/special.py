"""The error function family: erf, erfc, erfinv.   g is the upstream gradient dL/dy.

NumPy has none of them: the values come from kernels (reference.erf, special_reference.erfc and
.erfinv: double precision per element, rounded to the input's dtype). The gradients multiply by their
constant as torch's tensor-times-number (in float32 for float16, kernels/opmath.py).
"""
import math

from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel
from ..kernels.opmath import times_number
from ..quiet_numpy import silent
from .elementwise import _quiet

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Erf(Function):
    """y = erf(a) = 2 / sqrt(pi) * integral_0^a exp(-t^2) dt.   dL/da = g * 2 / sqrt(pi) * exp(-a^2)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return kernel("erf", a)(a)

    @staticmethod
    def backward(ctx, g):
        a = ctx.a
        return g * times_number(array_module(a).exp(-(a * a)), TWO_OVER_SQRT_PI).astype(g.dtype, copy=False)


class Erfc(Function):
    """y = erfc(a) = 1 - erf(a), without the cancellation for large a.   dL/da = -g * 2 / sqrt(pi) * exp(-a^2)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return kernel("erfc", a)(a)

    @staticmethod
    def backward(ctx, g):
        a = ctx.a
        return g * times_number(array_module(a).exp(-(a * a)), -TWO_OVER_SQRT_PI).astype(g.dtype, copy=False)


class Erfinv(Function):
    """y = erfinv(a): erf(y) = a on [-1, 1] (+-inf at +-1, NaN outside).

    dL/da = g / erf'(y) = g * sqrt(pi) / 2 * exp(y^2)   (inf at a = +-1, as torch).
    """

    @staticmethod
    @silent
    def forward(ctx, a):
        y = kernel("erfinv", a)(a)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        y = ctx.y
        with _quiet(xp):  # exp(inf^2) at a = +-1 is inf, as torch's
            return g * times_number(xp.exp(y * y), 0.5 * math.sqrt(math.pi)).astype(g.dtype, copy=False)
