"""Layer normalisation as one graph node."""
import math

from ..autograd import Function
from ..kernels import get as kernel


class LayerNorm(Function):
    """Normalise over the last k axes (torch.nn.functional.layer_norm), then scale and shift.

    With m the number of elements in those axes, mean and var their (biased) statistics:
        xhat = (x - mean) * invstd,  invstd = 1 / sqrt(var + eps),  y = xhat * w + b
    Backward, with gh = g * w (g itself without w) and means over the last k axes:
        dL/dx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat))
        dL/dw = sum over the leading axes of g * xhat,  dL/db = the same sum of g
    w and b have the normalized shape; either may be left out (b needs w here:
    the caller passes a ones weight when only a bias is given).
    Both directions are kernels over x seen as (rows, m) (kernels/layer_norm_reference.py
    holds the expressions). Float32 (and float16) inputs are computed in float64 and
    rounded once at the end: dL/dx is a difference of nearly equal terms, which in float32
    loses up to half its digits when the normalized axes are short. Forward keeps the
    rows' mean and invstd; backward recomputes xhat from them.
    """

    @staticmethod
    def forward(ctx, x, w=None, b=None, k=1, eps=1e-5):
        m = math.prod(x.shape[x.ndim - k:])
        rows = x.reshape(math.prod(x.shape[:x.ndim - k]), m)
        w_rows, b_rows = (v.reshape(m) if v is not None else None for v in (w, b))
        y, mean, invstd = kernel("layer_norm", rows)(rows, w_rows, b_rows, eps)
        ctx.x, ctx.mean, ctx.invstd, ctx.w = x, mean, invstd, w_rows  # x itself: its version is tracked
        ctx.rows_shape, ctx.k, ctx.has_b = rows.shape, k, b is not None
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        w = ctx.w
        rows = ctx.x.reshape(ctx.rows_shape)
        g_rows = g.reshape(ctx.rows_shape)
        gx, gw, gb = kernel("layer_norm_backward", g_rows)(g_rows, rows, ctx.mean, ctx.invstd, w)
        needs = ctx.needs_input_grad
        gx = gx.reshape(g.shape) if needs[0] else None
        if w is None:
            return (gx,)
        normalized_shape = g.shape[g.ndim - ctx.k:]
        gw = gw.reshape(normalized_shape) if needs[1] else None
        if not ctx.has_b:
            return gx, gw
        return gx, gw, (gb.reshape(normalized_shape) if needs[2] else None)
