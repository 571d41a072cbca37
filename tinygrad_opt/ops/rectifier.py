"""Piecewise activations: ReLU's relatives with a kink (LeakyReLU, Hardtanh/ReLU6, ELU/SELU).

At a kink the gradient is the one PyTorch picks, stated in each docstring.
"""
from ..autograd import Function
from ..backend import array_module


class LeakyRelu(Function):
    """y = a for a > 0, slope * a otherwise.

    dL/da = g for a > 0, slope * g otherwise (slope at a == 0, as torch).
    """

    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        xp = array_module(a)
        positive = a > 0
        ctx.positive, ctx.slope = positive, negative_slope
        return xp.where(positive, a, a * negative_slope).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.where(ctx.positive, g, g * ctx.slope).astype(g.dtype, copy=False)


class Hardtanh(Function):
    """y = min(max(a, min_val), max_val)   (ReLU6 is min_val=0, max_val=6).

    dL/da = g where min_val < a < max_val, 0 elsewhere: unlike clamp, the gradient is 0
    at the two edges themselves, as in torch's hardtanh_backward.
    """

    @staticmethod
    def forward(ctx, a, min_val=-1.0, max_val=1.0):
        xp = array_module(a)
        ctx.inside = (a > min_val) & (a < max_val)
        return xp.clip(a, min_val, max_val).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.inside


class Elu(Function):
    """ELU family (torch's elu with scale and input_scale; SELU is one choice of the constants).

    y = scale * a                                  for a > 0
    y = scale * alpha * (exp(input_scale * a) - 1)  for a <= 0   (expm1: exact near 0)
    dL/da = g * scale for a > 0, g * scale * alpha * input_scale * exp(input_scale * a) for a <= 0
    (so the a <= 0 branch at a == 0, as torch).
    """

    @staticmethod
    def forward(ctx, a, alpha=1.0, scale=1.0, input_scale=1.0):
        xp = array_module(a)
        positive = a > 0
        negative_part = xp.minimum(a, 0) * input_scale  # exp of non-positive values only: no overflow
        y = xp.where(positive, a * scale, xp.expm1(negative_part) * (alpha * scale))
        # exp itself for the gradient: expm1 + 1 would round tiny exp values to 0 in float32
        ctx.positive, ctx.e, ctx.options = positive, xp.exp(negative_part), (alpha, scale, input_scale)
        return y.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        alpha, scale, input_scale = ctx.options
        return xp.where(ctx.positive, g * scale, g * ctx.e * (alpha * scale * input_scale)).astype(g.dtype, copy=False)
