"""Numba versions of layer_norm_reference.py: each row's statistics and result in one compiled loop.

The array expressions make about eight float64 temporaries of the whole input per direction;
these loops read x (and g) once per pass over a row that stays in cache, in float64 as the
reference does, and write the result once. The row sums may be reordered (fastmath "reassoc",
so LLVM can vectorise them): results agree with the reference to rounding, not bitwise.
They take C-contiguous 2-D float32/float64 x (g in any layout, copied) with w and b of x's dtype; the
registry sends anything else to the reference.
"""
from __future__ import annotations

import numpy as np

from .cpu import _ZERO, _jit
from .registry import takes


@_jit(fastmath={"reassoc"})
def _layer_norm(x, w, b, has_b, eps, y, mean, invstd):
    rows, m = x.shape
    for r in range(rows):
        s = 0.0
        for j in range(m):
            s += np.float64(x[r, j])
        mu = s / m
        s2 = 0.0
        for j in range(m):
            c = np.float64(x[r, j]) - mu
            s2 += c * c
        inv = (s2 / m + eps) ** -0.5
        mean[r, 0], invstd[r, 0] = mu, inv
        if has_b:
            for j in range(m):
                y[r, j] = (np.float64(x[r, j]) - mu) * inv * w[j] + b[j]
        else:
            for j in range(m):
                y[r, j] = (np.float64(x[r, j]) - mu) * inv * w[j]


def _same_layout(x, *vectors) -> bool:
    return all(v is None or (v.dtype == x.dtype and v.shape == (x.shape[1],) and v.flags.c_contiguous)
               for v in vectors)


@takes(lambda x, w, b, eps: x.dtype in _ZERO and x.ndim == 2 and x.flags.c_contiguous and _same_layout(x, w, b))
def layer_norm(x, w, b, eps: float):
    rows, m = x.shape
    y = np.empty_like(x)
    mean, invstd = np.empty((rows, 1)), np.empty((rows, 1))
    ones = w if w is not None else np.ones(m, x.dtype)  # * 1 is exact: the same numbers as no scale
    _layer_norm(x, ones, b if b is not None else ones, b is not None, float(eps), y, mean, invstd)
    return y, mean, invstd


@_jit(fastmath={"reassoc"})
def _layer_norm_backward(g, x, mean, invstd, w, gx, gw, gb):
    rows, m = x.shape
    for j in range(m):
        gw[j] = 0.0
        gb[j] = 0.0
    for r in range(rows):
        mu, inv = mean[r, 0], invstd[r, 0]
        s_gh = 0.0
        s_ghx = 0.0
        for j in range(m):
            gj = np.float64(g[r, j])
            xhat = (np.float64(x[r, j]) - mu) * inv
            gh = gj * w[j]
            s_gh += gh
            s_ghx += gh * xhat
            gw[j] += gj * xhat
            gb[j] += gj
        mean_gh, mean_ghx = s_gh / m, s_ghx / m
        for j in range(m):
            xhat = (np.float64(x[r, j]) - mu) * inv
            gx[r, j] = (np.float64(g[r, j]) * w[j] - mean_gh - xhat * mean_ghx) * inv


# g in any layout (the gradient of a sum is a broadcast view): copied into C order first, which the
# vectorised loop repays several times over
@takes(lambda g, x, mean, invstd, w: g.dtype in _ZERO and g.ndim == 2 and x.dtype == g.dtype
       and x.shape == g.shape and x.flags.c_contiguous and _same_layout(g, w))
def layer_norm_backward(g, x, mean, invstd, w):
    g = np.ascontiguousarray(g)
    rows, m = g.shape
    gx = np.empty_like(g)
    gw, gb = np.empty(m), np.empty(m)
    _layer_norm_backward(g, x, mean, invstd, w if w is not None else np.ones(m, g.dtype), gx, gw, gb)
    if w is None:
        return gx, None, None
    return gx, gw.astype(g.dtype), gb.astype(g.dtype)
