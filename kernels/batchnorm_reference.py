"""Batch normalisation over channel blocks as plain array expressions (NumPy or CuPy).

The ground truth for batchnorm_cpu.py (Numba), which has the same signatures. Every
kernel sees the input as channel blocks x3 of shape (A, C, L): channel c holds the
elements x3[:, c, :]. An (N, C, H, W) array in NCHW order is (N, C, H*W); one laid
out channel-major (what a convolution's GEMM produces) is (1, C, N*H*W). Both are
plain reshapes, so no kernel copies its input to reach one layout.

Per-channel vectors (mean, invstd, scale, shift, the sums) are float64 whatever x's
dtype: the statistics of a few hundred thousand float32 values keep their digits, and
the per-element arithmetic is done in float64 and rounded once to x's dtype.
`relu=True` fuses a ReLU after the affine map: y = max(x * scale + shift, 0) (NaN stays
NaN, as torch's relu), and the backward zeroes the gradient where that y <= 0 (a NaN y passes it).
"""
from __future__ import annotations

from .reference import _xp


def batch_norm_stats(x3):
    """(mean, var), each (C,) float64: the biased per-channel statistics over axes 0 and 2."""
    xp = _xp(x3)
    work = x3.astype(xp.float64)
    mean = work.mean(axis=(0, 2))
    centred = work - mean[None, :, None]
    return mean, (centred * centred).mean(axis=(0, 2))


def _affine(x3, scale, shift, relu: bool):
    """x * scale + shift per channel in float64 (and max(., 0) with relu, NaN kept)."""
    xp = _xp(x3)
    y = x3.astype(xp.float64) * scale[None, :, None] + shift[None, :, None]
    if relu:
        y = xp.where(y < 0, 0.0, y)
    return y


def batch_norm_forward(x3, scale, shift, relu: bool, out=None):
    """y3 = x3 * scale[c] + shift[c] (then ReLU), in x3's dtype and layout; written into `out` when given.

    The caller folds normalisation and affine map into scale = w * invstd and
    shift = b - mean * scale, so the forward is one multiply-add per element.
    """
    y3 = _affine(x3, scale, shift, relu).astype(x3.dtype)
    if out is None:
        return y3
    out[...] = y3
    return out


def batch_norm_backward(g3, x3, mean, invstd, scale, shift, relu: bool, training: bool, want_gx: bool, out=None):
    """(gx3 or None, g_sum, gxhat_sum): the input gradient (written into `out` when given) and the two sums.

    With gm = g zeroed where y <= 0 under relu (else g), xhat = (x - mean) * invstd and
    m = A * L elements per channel:
        g_sum = sum(gm),  gxhat_sum = sum(gm * xhat)       (dL/db and dL/dw)
        training:  gx = scale * (gm - g_sum / m - xhat * gxhat_sum / m)
        otherwise: gx = scale * gm                          (mean, var constants)
    """
    xp = _xp(g3)
    gm = g3.astype(xp.float64)
    if relu:
        gm = xp.where(_affine(x3, scale, shift, True) <= 0, 0.0, gm)  # a NaN y passes g, as relu_backward
    xhat = (x3.astype(xp.float64) - mean[None, :, None]) * invstd[None, :, None]
    g_sum = gm.sum(axis=(0, 2))
    gxhat_sum = (gm * xhat).sum(axis=(0, 2))
    gx = None
    if want_gx:
        if training:
            m = g3.shape[0] * g3.shape[2]
            gm = gm - (g_sum / m)[None, :, None] - xhat * (gxhat_sum / m)[None, :, None]
        gx = (gm * scale[None, :, None]).astype(g3.dtype)
        if out is not None:
            out[...] = gx
            gx = out
    return gx, g_sum, gxhat_sum
