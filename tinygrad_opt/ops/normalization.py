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


class LayerNorm(Function):
    """Normalise over the last k axes (torch.nn.functional.layer_norm), then scale and shift.

    With m the number of elements in those axes, mean and var their (biased) statistics:
        xhat = (x - mean) * invstd,  invstd = 1 / sqrt(var + eps),  y = xhat * w + b
    Backward, with gh = g * w (g itself without w) and means over the last k axes:
        dL/dx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat))
        dL/dw = sum over the leading axes of g * xhat,  dL/db = the same sum of g
    w and b have the normalized shape; either may be left out (b needs w here:
    the caller passes a ones weight when only a bias is given).
    Float32 (and float16) inputs are computed in float64 and rounded once at the end: dL/dx
    is a difference of nearly equal terms, which in float32 loses up to half its digits
    when the normalized axes are short.
    """

    @staticmethod
    def forward(ctx, x, w=None, b=None, k=1, eps=1e-5):
        axes = tuple(range(x.ndim - k, x.ndim))
        work = x.astype("float64", copy=False)
        mean = work.mean(axis=axes, keepdims=True)
        centred = work - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        invstd = (var + eps) ** -0.5
        xhat = centred * invstd
        y = xhat if w is None else xhat * w
        if b is not None:
            y = y + b
        ctx.xhat, ctx.invstd, ctx.w, ctx.axes, ctx.has_b = xhat, invstd, w, axes, b is not None
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, w, axes = ctx.xhat, ctx.invstd, ctx.w, ctx.axes
        needs = ctx.needs_input_grad
        dtype = g.dtype
        g = g.astype("float64", copy=False)
        gx = gw = gb = None
        leading = tuple(range(g.ndim - len(axes)))
        if needs[0]:
            gh = g if w is None else g * w
            gx = (gh - gh.mean(axis=axes, keepdims=True) - xhat * (gh * xhat).mean(axis=axes, keepdims=True)) * invstd
            gx = gx.astype(dtype, copy=False)
        if w is None:
            return (gx,)
        if needs[1]:
            gw = (g * xhat).sum(axis=leading).astype(dtype, copy=False)
        if not ctx.has_b:
            return gx, gw
        if needs[2]:
            gb = g.sum(axis=leading).astype(dtype, copy=False)
        return gx, gw, gb
