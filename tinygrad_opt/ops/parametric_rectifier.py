"""ReLU's relatives whose negative slope is not a fixed option: PReLU's learned weight, RReLU's random
noise (nn.PReLU / F.prelu, nn.RReLU / F.rrelu in training; RReLU's eval form is LeakyRelu)."""
import numpy as np

from ..autograd import Function
from ..backend import array_module
from .elementwise import _quiet


class Prelu(Function):
    """y = a for a > 0, w * a otherwise (torch's _prelu_kernel: a == 0, -0.0 and NaN take w * a); w has
    one element, or one per channel (dim 1 of a) and is broadcast over the other dims.

    dL/da = g for a > 0, w * g otherwise;
    dL/dw = the sum over every dim but the channel's of (0 for a > 0, a * g otherwise).
    """

    @staticmethod
    def forward(ctx, a, w):
        xp = array_module(a)
        # w's elements along dim 1 (a channel each) or a single one against every element
        wide = w.reshape([w.size if i == 1 else 1 for i in range(a.ndim)]) if w.size != 1 else w.reshape(())
        ctx.a, ctx.wide, ctx.w_shape = a, wide, w.shape
        ctx.positive = a > 0
        with _quiet(xp):
            return xp.where(ctx.positive, a, wide * a)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        need_a, need_w = ctx.needs_input_grad
        zero = xp.zeros((), dtype=g.dtype)
        with _quiet(xp):
            ga = xp.where(ctx.positive, g, ctx.wide * g) if need_a else None
            gw = None
            if need_w:
                per_element = xp.where(ctx.positive, zero, ctx.a * g)
                kept = (1,) if ctx.wide.ndim and g.ndim > 1 else ()
                gw = per_element.sum(axis=tuple(i for i in range(g.ndim) if i not in kept)).reshape(ctx.w_shape)
        return ga, gw


class Rrelu(Function):
    """y = a * noise, noise = r where a <= 0 and 1 elsewhere (a > 0 and NaN), r uniform in [lower, upper)
    drawn in float64 and rounded to a's dtype, as torch's rrelu_with_noise in training.

    r comes from a generator seeded by `seed`, which the caller draws from the engine's generator (as
    Dropout's), so tg.manual_seed reproduces it, every device gets the same noise, and a captured step
    (tg.compile) draws a new seed per step as eager does.
    dL/da = g * noise   (torch's rrelu_with_noise_backward in training).
    """

    @staticmethod
    def forward(ctx, a, lower=0.125, upper=1.0 / 3.0, seed=0):
        xp = array_module(a)
        r = np.random.default_rng(seed).uniform(lower, upper, size=a.shape).astype(a.dtype)
        ctx.noise = xp.where(a <= 0, xp.asarray(r), xp.ones((), dtype=a.dtype))
        with _quiet(xp):
            return a * ctx.noise

    @staticmethod
    def backward(ctx, g):
        with _quiet(array_module(g)):
            return g * ctx.noise
