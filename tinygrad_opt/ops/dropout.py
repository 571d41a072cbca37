"""Dropout as one graph node whose mask is regenerated, never stored."""
from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel


class Dropout(Function):
    """y = x * keep / (1 - p), keep_i = [u_i >= p] with u_i uniform in [0, 1).

    dL/dx = g * keep / (1 - p)
    u_i is a counter-based hash of (seed, i) (kernels.reference.dropout), so the
    backward calls the same fused kernel on g with the same seed instead of saving
    a mask: no memory is kept between forward and backward. The caller draws the
    seed from the engine's generator, so tg.manual_seed reproduces the mask, and it
    is the same mask on every device. 0 < p < 1 (p = 0 and p = 1 are handled by
    F.dropout without this node).
    """

    @staticmethod
    def forward(ctx, x, p=0.5, seed=0):
        ctx.p, ctx.seed, ctx.shape = p, seed, x.shape
        return kernel("dropout", x)(x, seed, p)

    @staticmethod
    def backward(ctx, g):
        if g.shape != ctx.shape:  # a gradient handed back smaller than the output broadcasts up
            g = array_module(g).broadcast_to(g, ctx.shape)
        return kernel("dropout", g)(g, ctx.seed, ctx.p)
