"""lerp as torch computes it: one of two fused multiply-adds, chosen by the size of the weight."""
import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..kernels.opmath import times_number
from ..quiet_numpy import silent
from .elementwise import _quiet

_SPLITTER = 134217729.0  # 2**27 + 1: splits a float64 into two halves whose products are exact


def _split(x):
    scaled = _SPLITTER * x
    high = scaled - (scaled - x)
    return high, x - high


def fused_multiply_add(x, y, z):
    """x * y + z rounded once, as C's fma (torch's CPU kernels use it).

    float32/float16: x * y is exact in float64, so one float64 add and the cast back round once.
    float64: Dekker's exact product (p + e == x * y) and Knuth's exact sum (s + t == z + p), then
    s + (t + e); where a split overflows, the plain x * y + z.
    """
    xp = array_module(x)
    dtype = x.dtype
    if dtype.itemsize < 8:
        wide = x.astype(np.float64) * y.astype(np.float64) + z.astype(np.float64)
        return wide.astype(dtype)
    product = x * y
    x_high, x_low = _split(x)
    y_high, y_low = _split(y)
    product_error = ((x_high * y_high - product) + x_high * y_low + x_low * y_high) + x_low * y_low
    total = z + product
    z_part = total - product
    sum_error = (z - z_part) + (product - (total - z_part))
    correction = sum_error + product_error
    # an exact total keeps its own sign of zero (-0.0 + -0.0 is -0.0; adding a +0.0 correction is not)
    fused = xp.where(correction == 0, total, total + correction)
    return xp.where(xp.isfinite(fused), fused, total)


def _lerp(xp, a, b, w):
    with _quiet(xp):
        difference = b - a
        small = fused_multiply_add(*xp.broadcast_arrays(w, difference, a))
        large = fused_multiply_add(*xp.broadcast_arrays(-difference, 1 - w, b))
    return xp.where(xp.abs(w) < 0.5, small, large)


class Lerp(Function):
    """y = a + w * (b - a), computed as torch: fma(w, b - a, a) where |w| < 0.5, else
    fma(-(b - a), 1 - w, b) (exact at w == 1); w is a tensor input or the option `weight`. float16 is
    computed in float32 and rounded once, as torch's CPU kernel does.

    dL/da = g * (1 - w),  dL/db = g * w,  dL/dw = g * (b - a); a number w multiplies as torch's
    tensor-times-number (float32 opmath for float16, kernels/opmath.py).
    """

    @staticmethod
    @silent
    def forward(ctx, a, b, *tensor_weight, weight=None):
        xp = array_module(a)
        w = tensor_weight[0] if tensor_weight else xp.asarray(weight, dtype=a.dtype)
        if tensor_weight:
            ctx.w, ctx.one_minus_w, ctx.difference = w, 1 - w, b - a
        else:  # torch's gradients multiply by the numbers w and 1 - w (in double, as tensor-times-number)
            ctx.w, ctx.one_minus_w = float(weight), 1 - float(weight)
        if a.dtype.itemsize < 4:  # torch computes float16 in float32 and rounds once at the end
            wide = (a.astype(np.float32), b.astype(np.float32))
            w = tensor_weight[0].astype(np.float32) if tensor_weight else xp.asarray(weight, dtype=np.float32)
            return _lerp(xp, *wide, w).astype(a.dtype)
        return _lerp(xp, a, b, w)

    @staticmethod
    def backward(ctx, g):
        needs = ctx.needs_input_grad
        with _quiet(array_module(g)):
            ga = times_number(g, ctx.one_minus_w) if needs[0] else None
            gb = times_number(g, ctx.w) if needs[1] else None
            gw = g * ctx.difference if len(needs) > 2 and needs[2] else None
        return (ga, gb, gw)[:len(needs)]
