"""Piecewise activations: ReLU's relatives with a kink (LeakyReLU, Hardtanh/ReLU6, ELU/SELU, Hardsigmoid,
Hardshrink/Softshrink).

At a kink the gradient is the one PyTorch picks, stated in each docstring.
"""
import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel
from ..kernels.opmath import opmath, rounded
from ..kernels.reference import clamp
from ..quiet_numpy import silent
from .elementwise import _quiet


_ONE_SIXTH_FLOAT32 = float(np.float32(1.0) / np.float32(6.0))  # torch's hardsigmoid_backward constant


class LeakyRelu(Function):
    """y = a for a > 0, slope * a otherwise.

    dL/da = g for a > 0, slope * g otherwise (slope at a == 0, as torch).
    Both directions are kernels (kernels/activation_reference.py holds the expressions);
    backward reads the saved input for the mask.
    """

    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        ctx.a, ctx.slope = a, negative_slope
        return kernel("leaky_relu", a)(a, negative_slope)

    @staticmethod
    def backward(ctx, g):
        return kernel("leaky_relu_backward", g)(g, ctx.a, ctx.slope)


class Hardtanh(Function):
    """y = min(max(a, min_val), max_val)   (ReLU6 is min_val=0, max_val=6).

    dL/da = 0 where a <= min_val or a >= max_val, g elsewhere: unlike clamp, the gradient is 0
    at the two edges themselves, and g at NaN, as in torch's hardtanh_backward (its scalar loop;
    README: Differences from PyTorch).
    """

    @staticmethod
    def forward(ctx, a, min_val=-1.0, max_val=1.0):
        ctx.inside = ~((a <= min_val) | (a >= max_val))
        return clamp(a, min_val, max_val).astype(a.dtype, copy=False)  # torch's: -0.0 stays -0.0

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.where(ctx.inside, g, xp.zeros((), g.dtype))  # +0 outside (not g * 0), as torch's


class Elu(Function):
    """ELU family (torch's elu with scale and input_scale; SELU is one choice of the constants).

    y = scale * a                                  for a > 0
    y = scale * alpha * (exp(input_scale * a) - 1)  for a <= 0   (expm1: exact near 0)
    dL/da = g * scale * alpha * input_scale * exp(input_scale * a) for a <= 0, g * scale otherwise
    (torch's test is a <= 0: a == 0 and -0.0 take the exp branch, NaN the other, and -0.0 gives -0.0).
    exp is taken of min(a, 0) * input_scale only (no overflow); backward recomputes it from the saved
    input. Both directions are kernels.
    """

    @staticmethod
    def forward(ctx, a, alpha=1.0, scale=1.0, input_scale=1.0):
        ctx.a, ctx.options = a, (alpha, scale, input_scale)
        return kernel("elu", a)(a, alpha, scale, input_scale)

    @staticmethod
    def backward(ctx, g):
        return kernel("elu_backward", g)(g, ctx.a, *ctx.options)


class Hardswish(Function):
    """y = a * min(max(a + 3, 0), 6) / 6.

    dL/da = 0 for a <= -3, g * (a / 3 + 0.5) for -3 < a < 3, g otherwise (a >= 3, +inf and NaN:
    torch's hardswish_backward tests a <= -3 and a < 3, both false for NaN).
    """

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        wide = opmath(a)  # float16: in float32, rounded once (torch's half kernel), both ways
        return rounded(wide * clamp(wide + 3, 0.0, 6.0) / 6, a.dtype)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a = ctx.a
        wide = opmath(a)
        inside = rounded(opmath(g) * (wide / 3 + 0.5).astype(wide.dtype, copy=False), g.dtype)
        return xp.where(a <= -3, xp.zeros((), dtype=g.dtype), xp.where(a < 3, inside, g))


class Celu(Function):
    """y = a for a > 0, alpha * (exp(a * (1 / alpha)) - 1) otherwise (torch's elu with input_scale 1 / alpha;
    -0.0 and a negative alpha keep torch's signs, NaN stays NaN).

    dL/da = g for a > 0 and for NaN (torch tests a <= 0), g * exp(a / alpha) otherwise
    (alpha * input_scale == 1).
    """

    @staticmethod
    @silent
    def forward(ctx, a, alpha=1.0):
        xp = array_module(a)
        wide = opmath(a)  # float16: in float32, rounded once (torch's half kernel), both ways
        input_scale = wide.dtype.type(1.0 / alpha)
        ctx.a, ctx.input_scale = a, input_scale
        below = xp.where(wide <= 0, wide, xp.zeros((), dtype=wide.dtype))  # exp only where it is used
        with _quiet(xp):
            return rounded(xp.where(wide <= 0, xp.expm1(below * input_scale) * wide.dtype.type(alpha), wide), a.dtype)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a = opmath(ctx.a)
        below = xp.where(a <= 0, a, xp.zeros((), dtype=a.dtype))
        with _quiet(xp):
            return rounded(xp.where(a <= 0, opmath(g) * xp.exp(below * ctx.input_scale), opmath(g)), g.dtype)


class Hardsigmoid(Function):
    """y = min(max(a + 3, 0), 6) / 6.

    dL/da = g * 1/6 for -3 < a < 3, 0 elsewhere (the edges and NaN too), as torch's hardsigmoid_backward,
    whose 1/6 is a float32 constant also for float64 (so g * 0.16666667163..., not g / 6).
    """

    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return rounded(clamp(opmath(a) + 3, 0.0, 6.0) / 6, a.dtype)  # float16: in float32, rounded once

    @staticmethod
    def backward(ctx, g):
        a = ctx.a
        inside = (a > -3) & (a < 3)
        wide = opmath(g)
        xp = array_module(g)
        return rounded(xp.where(inside, wide * wide.dtype.type(_ONE_SIXTH_FLOAT32), xp.zeros((), wide.dtype)), g.dtype)


class Hardshrink(Function):
    """y = 0 where -lambd <= a <= lambd, a elsewhere (NaN stays NaN; +0.0 inside, as torch).

    dL/da = 0 where -lambd <= a <= lambd, g elsewhere (NaN too: torch's scalar loop; README).
    """

    @staticmethod
    def forward(ctx, a, lambd=0.5):
        xp = array_module(a)
        ctx.kept = ~((a >= -lambd) & (a <= lambd))
        return xp.where(ctx.kept, a, xp.zeros((), dtype=a.dtype))

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.where(ctx.kept, g, xp.zeros((), g.dtype))  # +0 where dropped (not g * 0), as torch's


class Softshrink(Function):
    """y = a - lambd for a > lambd, a + lambd for a < -lambd, a * 0 between (-0.0 for negative a, as
    torch's scalar loop; NaN stays NaN).

    dL/da = 0 where -lambd <= a <= lambd, g elsewhere (NaN too: torch's scalar loop; README).
    """

    @staticmethod
    def forward(ctx, a, lambd=0.5):
        xp = array_module(a)
        ctx.kept = ~((a >= -lambd) & (a <= lambd))
        wide = opmath(a)  # float16: lambd in float32, one rounding (torch's half kernel)
        shifted = rounded(xp.where(wide > lambd, wide - wide.dtype.type(lambd), wide + wide.dtype.type(lambd)), a.dtype)
        with _quiet(xp):  # inf * 0 where lambd is inf: NaN, as torch's
            return xp.where(ctx.kept, shifted, a * a.dtype.type(0))

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.where(ctx.kept, g, xp.zeros((), g.dtype))  # +0 where dropped (not g * 0), as torch's
