"""Layer normalisation over the last axis of a (rows, m) array, as plain array expressions
(the twins of layer_norm_cpu.py; ops.LayerNorm flattens the normalized axes into m).

    forward   mean, var = the row's mean and biased variance,  invstd = 1 / sqrt(var + eps)
              xhat = (x - mean) * invstd,  y = xhat * w + b
    backward  gh = g * w,  dL/dx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat))
              dL/dw = sum over rows of g * xhat,  dL/db = sum over rows of g

Float32 (and float16) inputs are computed in float64 and rounded once at the end: dL/dx is a
difference of nearly equal terms, which in float32 loses up to half its digits when the rows
are short. float16's backward is torch's instead (float32 from the float16 mean and invstd torch
keeps), whose bits float16 users compare against. Forward returns mean and invstd (float64, shape (rows, 1)); backward recomputes
xhat from them and x instead of keeping a float64 copy of it alive between the passes.
w and b are (m,) arrays or None (no scale / no shift).
"""
from __future__ import annotations

from .opmath import HALF


def layer_norm(x, w, b, eps: float):
    """(y in x's dtype, mean, invstd) for x of shape (rows, m)."""
    work = x.astype("float64", copy=False)
    mean = work.mean(axis=1, keepdims=True)
    centred = work - mean
    var = (centred * centred).mean(axis=1, keepdims=True)
    invstd = (var + eps) ** -0.5
    y = centred * invstd
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    if x.dtype == HALF:  # torch keeps a float16 input's mean and invstd in float16; its backward reads those
        mean, invstd = (v.astype(HALF).astype("float32") for v in (mean, invstd))
    return y.astype(x.dtype, copy=False), mean, invstd


def _half_backward(g, x, mean, invstd, w):
    """torch's float16 backward: in float32 from the float16 mean and invstd, as
    dL/dx = invstd * g * w + b * x + c,  b = (sum(g w) mean - sum(g w x)) invstd^3 / m,
    c = -b mean - sum(g w) invstd / m (each rounded once to float16)."""
    g, x = g.astype("float32"), x.astype("float32")
    gh = g if w is None else g * w.astype("float32")
    share = x.dtype.type(1) / x.dtype.type(x.shape[1])
    ds = (gh * x).sum(axis=1, keepdims=True)
    db = gh.sum(axis=1, keepdims=True)
    b = (db * mean - ds) * invstd * invstd * invstd * share
    c = -b * mean - db * invstd * share
    gx = (invstd * g if w is None else invstd * g * w.astype("float32")) + b * x + c
    if w is None:
        return gx.astype(HALF), None, None
    return gx.astype(HALF), (g * ((x - mean) * invstd)).sum(axis=0).astype(HALF), g.sum(axis=0).astype(HALF)


def layer_norm_backward(g, x, mean, invstd, w):
    """(dL/dx, dL/dw, dL/db) in g's dtype for g and x of shape (rows, m); without w, (dL/dx, None, None)."""
    if g.dtype == HALF:
        return _half_backward(g, x, mean, invstd, w)
    dtype = g.dtype
    g = g.astype("float64", copy=False)
    xhat = (x.astype("float64", copy=False) - mean) * invstd
    gh = g if w is None else g * w
    gx = (gh - gh.mean(axis=1, keepdims=True) - xhat * (gh * xhat).mean(axis=1, keepdims=True)) * invstd
    if w is None:
        return gx.astype(dtype, copy=False), None, None
    gw = (g * xhat).sum(axis=0).astype(dtype, copy=False)
    gb = g.sum(axis=0).astype(dtype, copy=False)
    return gx.astype(dtype, copy=False), gw, gb
