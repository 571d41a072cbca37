"""Numba versions of linear_reference.py: the bias, ReLU and ReLU's backward mask in one pass each.

Unfused, a Linear + ReLU layer reads and writes its (rows, out) activations four times:
the bias add, ReLU into a new array, the backward mask into a new array, and the bias
gradient's column sums. Fused, forward is one in-place pass over the GEMM's output and
backward one pass that writes the masked gradient and sums its columns on the way.
Bitwise equal to the reference: the same float operations in the same order (the column
sums accumulate row after row in the array's dtype, as cpu.bias_grad does).
"""
from __future__ import annotations

import numpy as np

from . import linear_reference
from .cpu import _ZERO, _jit


@_jit()
def _bias_relu(h, b, zero):
    rows, cols = h.shape
    for r in range(rows):
        for j in range(cols):
            v = h[r, j] + b[j]
            h[r, j] = v if (v > zero or v != v) else zero  # NaN stays NaN, as np.maximum


def bias_relu(h, b):
    zero = _ZERO.get(h.dtype)
    if (zero is None or h.ndim != 2 or b.dtype != h.dtype or b.shape != (h.shape[1],)
            or not (h.flags.c_contiguous and b.flags.c_contiguous)):
        return linear_reference.bias_relu(h, b)
    _bias_relu(h, b, zero)
    return h


@_jit()
def _relu_backward_bias_grad(g, y, out, db, zero):
    rows, cols = g.shape
    for j in range(cols):
        db[j] = 0
    for r in range(rows):
        for j in range(cols):
            v = g[r, j] if y[r, j] > zero else g[r, j] * zero  # g * 0 keeps NaN and the sign of zero
            out[r, j] = v
            db[j] += v


def relu_backward_bias_grad(g, y):
    zero = _ZERO.get(g.dtype)
    if (zero is None or g.ndim != 2 or y.dtype != g.dtype or y.shape != g.shape
            or not (g.flags.c_contiguous and y.flags.c_contiguous)):
        return linear_reference.relu_backward_bias_grad(g, y)
    out = np.empty_like(g)
    db = np.empty(g.shape[1], g.dtype)
    _relu_backward_bias_grad(g, y, out, db, zero)
    return out, db


