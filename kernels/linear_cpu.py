"""Numba versions of linear_reference.py: the bias, ReLU and ReLU's backward mask in one pass each.

bias_relu_transposed does bias_relu's pass on the transposed product W x^T (what ops.Linear
computes for a few rows against many features, see there), writing the (rows, out) result.

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


TILE = 8  # rows of h_t read and rows of out written per tile


@_jit()
def _bias_relu_transposed(h_t, b, out, zero):
    cols, rows = h_t.shape
    # in square tiles: walking one array along its rows walks the other down a column, and a column of a
    # power-of-two-wide array falls into a few cache sets (each line evicting the last)
    for j0 in range(0, cols, TILE):
        for r0 in range(0, rows, TILE):
            if j0 + TILE <= cols and r0 + TILE <= rows:  # a whole tile: fixed bounds, which LLVM unrolls
                for r in range(r0, r0 + TILE):
                    for j in range(j0, j0 + TILE):
                        v = h_t[j, r] + b[j]
                        out[r, j] = v if (v > zero or v != v) else zero
            else:  # the edge tiles (the bounds written out: Numba's min() is one more function to compile)
                r_end = r0 + TILE if r0 + TILE < rows else rows
                j_end = j0 + TILE if j0 + TILE < cols else cols
                for r in range(r0, r_end):
                    for j in range(j0, j_end):
                        v = h_t[j, r] + b[j]
                        out[r, j] = v if (v > zero or v != v) else zero


@takes(lambda h_t, b, out: h_t.dtype in _ZERO and h_t.ndim == 2 and b.dtype == h_t.dtype == out.dtype
       and b.shape == (h_t.shape[0],) and out.shape == h_t.shape[::-1] and h_t.flags.c_contiguous
       and b.flags.c_contiguous and out.flags.c_contiguous)
def bias_relu_transposed(h_t, b, out):
    _bias_relu_transposed(h_t, b, out, _ZERO[h_t.dtype])
    return out


@_jit()
def _relu_backward_bias_grad(g, y, out, db, zero):
    rows, cols = g.shape
    for j in range(cols):
        db[j] = 0
    for r in range(rows):
        for j in range(cols):
            v = zero if y[r, j] <= zero else g[r, j]  # as relu_backward: +0 where y <= 0, a NaN y passes g
            out[r, j] = v
            db[j] += v


@takes(lambda g, y: g.dtype in _ZERO and g.ndim == 2 and y.dtype == g.dtype and y.shape == g.shape
       and g.flags.c_contiguous and y.flags.c_contiguous)
def relu_backward_bias_grad(g, y):
    out = np.empty_like(g)
    db = np.empty(g.shape[1], g.dtype)
    _relu_backward_bias_grad(g, y, out, db, _ZERO[g.dtype])
    return out, db
