"""Numba versions of linear_reference.py: the bias, ReLU and ReLU's backward mask in one pass each.

Unfused, a Linear + ReLU layer reads and writes its (rows, out) activations four times:
the bias add, ReLU into a new array, the backward mask into a new array, and the bias
gradient's column sums. Fused, forward is one in-place pass over the GEMM's output and
backward one pass that writes the masked gradient and sums its columns on the way.
Bitwise equal to the unfused kernels: the same float operations in the same order (the
column sums accumulate row after row in the array's dtype, as cpu.bias_grad does).
Each version takes C-contiguous 2-D float32/float64 arrays of one dtype; the registry
sends anything else to the reference.
"""
from __future__ import annotations

import numpy as np

from .cpu import _ZERO, _jit
from .registry import takes


@_jit()
def _bias_relu(h, b, zero):
    rows, cols = h.shape
    for r in range(rows):
        for j in range(cols):
            v = h[r, j] + b[j]
            h[r, j] = v if (v > zero or v != v) else zero  # NaN stays NaN, as np.maximum


@takes(lambda h, b: h.dtype in _ZERO and h.ndim == 2 and b.dtype == h.dtype and b.shape == (h.shape[1],)
       and h.flags.c_contiguous and b.flags.c_contiguous)
def bias_relu(h, b):
    _bias_relu(h, b, _ZERO[h.dtype])
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


@takes(lambda g, y: g.dtype in _ZERO and g.ndim == 2 and y.dtype == g.dtype and y.shape == g.shape
       and g.flags.c_contiguous and y.flags.c_contiguous)
def relu_backward_bias_grad(g, y):
    out = np.empty_like(g)
    db = np.empty(g.shape[1], g.dtype)
    _relu_backward_bias_grad(g, y, out, db, _ZERO[g.dtype])
    return out, db
