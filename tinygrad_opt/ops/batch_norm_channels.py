"""Batch normalisation of (N, C, *spatial) as one graph node over channel blocks, with an optional fused ReLU."""
from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel
from .channel_layout import channel_major as is_channel_major
from .channel_layout import from_blocks, like_blocks, to_blocks


def batch_statistics(x):
    """(mean, var): x's biased per-channel statistics over every axis but 1, (C,) float64 each."""
    blocks, _ = to_blocks(x)
    return kernel("batch_norm_stats", blocks)(blocks)


class BatchNormChannels(Function):
    """y = xhat * w[c] + b[c] with xhat = (x - mean[c]) * invstd[c], invstd = 1 / sqrt(var[c] + eps),
    then y = max(y, 0) when relu=True (BatchNorm2d followed by ReLU, fused by nn.Sequential).

    mean and var ((C,) float64) are given: the batch's biased statistics (training=True),
    which depend on x, or running estimates (training=False), which do not. With gm = g
    (0 where y <= 0 under relu, as Relu's backward) and m elements per channel, sums over (N, *spatial):
        training:  dL/dx = w * invstd / m * (m * gm - sum(gm) - xhat * sum(gm * xhat))
        otherwise: dL/dx = gm * w * invstd
        dL/dw = sum(gm * xhat),  dL/db = sum(gm)
    w and b may be left out (then w = 1 and b = 0). The forward is x * scale + shift with
    scale = w * invstd, shift = b - mean * scale; the backward recomputes xhat (and the
    ReLU mask) from the saved x, which is the only activation kept.
    The output (and dL/dx) keep x's memory layout: NCHW, or channel-major as a
    convolution leaves it (ops/channel_layout.py). out (tg.compile's replay): an array of the
    output's shape and layout to write the output into; backward's out: (an array for dL/dx or
    None, None, None).
    """

    @staticmethod
    def forward(ctx, x, w=None, b=None, mean=None, var=None, eps=1e-5, training=True, relu=False, out=None):
        xp = array_module(x)
        x3, channel_major = to_blocks(x)
        out3 = _blocks_of(out, channel_major)
        invstd = 1.0 / xp.sqrt(var + eps)
        scale = invstd if w is None else w.astype(xp.float64) * invstd
        shift = -mean * scale if b is None else b.astype(xp.float64) - mean * scale
        forward = kernel("batch_norm_forward", x3)
        y3 = forward(x3, scale, shift, relu) if out3 is None else forward(x3, scale, shift, relu, out=out3)
        ctx.x = x  # the input array itself, so that an in-place change of it is caught before backward
        ctx.stats, ctx.training, ctx.relu = (mean, invstd, scale, shift), training, relu
        ctx.w_dtype = None if w is None else w.dtype
        return from_blocks(y3, x.shape, channel_major)

    @staticmethod
    def backward(ctx, g, out=None):
        needs = ctx.needs_input_grad
        x3, channel_major = to_blocks(ctx.x)
        g3 = like_blocks(g, channel_major)
        out3 = _blocks_of(out[0] if out is not None else None, channel_major)
        into = {} if out3 is None else {"out": out3}
        gx3, g_sum, gxhat_sum = kernel("batch_norm_backward", g3)(
            g3, x3, *ctx.stats, ctx.relu, ctx.training, needs[0], **into)
        gx = None if gx3 is None else from_blocks(gx3, ctx.x.shape, channel_major)
        if ctx.w_dtype is None:
            return (gx,)
        dtype = ctx.w_dtype
        gw = gxhat_sum.astype(dtype) if needs[1] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, g_sum.astype(dtype) if needs[2] else None


def _blocks_of(out, channel_major_layout: bool):
    """out's channel blocks to write a result into, or None (no out, or another layout than the result's)."""
    if out is None or not (out.flags.c_contiguous or is_channel_major(out)):  # else to_blocks would copy
        return None
    out3, out_channel_major = to_blocks(out)
    return out3 if out_channel_major == channel_major_layout else None
