"""Batch normalisation as one graph node (the statistics come in as options)."""
from ..autograd import Function


class BatchNorm(Function):
    """y = xhat * w + b with xhat = (x - mean) * invstd, invstd = 1 / sqrt(var + eps).

    mean and var (shaped to broadcast against x, e.g. (1, C) or (1, C, 1)) are given.
    axes are the reduced axes, m the number of elements per channel.
    training=True: mean and var are x's biased batch statistics, so they depend on x:
        dL/dx = w * invstd / m * (m * g - sum(g) - xhat * sum(g * xhat))
    training=False: mean and var are constants (running estimates):
        dL/dx = g * w * invstd
    Either way dL/dw = sum(g * xhat), dL/db = sum(g)  (sums over `axes`).
    w and b may be left out (affine=False, or bias=False): then w = 1 and b = 0.
    """

    @staticmethod
    def forward(ctx, x, w=None, b=None, mean=None, var=None, axes=(0,), eps=1e-5, training=True):
        invstd = (var + eps) ** -0.5
        xhat = (x - mean) * invstd
        shape = mean.shape  # (1, C) or (1, C, 1): how per-channel vectors broadcast
        if w is None:
            y = xhat
        else:
            y = xhat * w.reshape(shape)
            if b is not None:
                y += b.reshape(shape)
        ctx.xhat, ctx.invstd, ctx.w, ctx.axes, ctx.training = xhat, invstd, w, axes, training
        return y

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, w, axes = ctx.xhat, ctx.invstd, ctx.w, ctx.axes
        needs = ctx.needs_input_grad
        gx = gw = gb = None
        # the two per-channel sums are shared by dL/dx (training) and dL/dw, dL/db
        gxhat_sum = (g * xhat).sum(axis=axes, keepdims=True) if (needs[0] and ctx.training) or (w is not None and needs[1]) else None
        g_sum = g.sum(axis=axes, keepdims=True) if (needs[0] and ctx.training) or (len(needs) == 3 and needs[2]) else None
        if needs[0]:
            scale = invstd if w is None else w.reshape(invstd.shape) * invstd
            if ctx.training:
                m = g.size // invstd.size
                gx = (g - g_sum / m - xhat * (gxhat_sum / m)) * scale
            else:
                gx = g * scale
        if w is None:
            return (gx,)
        if needs[1]:
            gw = gxhat_sum.reshape(w.shape)
        if len(needs) == 2:
            return gx, gw
        if needs[2]:
            gb = g_sum.reshape(w.shape)
        return gx, gw, gb

