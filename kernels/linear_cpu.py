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
            h[r, j] = zero if v < zero else v  # PyTorch's relu: -0.0 and NaN pass unchanged


@takes(lambda h, b: h.dtype in _ZERO and h.ndim == 2 and b.dtype == h.dtype and b.shape == (h.shape[1],)
       and h.flags.c_contiguous and b.flags.c_contiguous)
def bias_relu(h, b):
    _bias_relu(h, b, _ZERO[h.dtype])
    return h


TURN = 16  # output columns per block of the turn: one 64-byte line of float32 per output row


@_jit()
def _bias_relu_transposed(h_t, b, out, zero):
    cols, rows = h_t.shape
    # Two passes over an array that stays in cache: first the plain turn, each output row's block of TURN
    # columns one contiguous store (which LLVM vectorises), then the bias and ReLU along out's contiguous
    # rows. One pass that compares and selects on every strided read does not vectorise its stores.
    whole = cols - cols % TURN
    for j0 in range(0, whole, TURN):
        for r in range(rows):
            for j in range(j0, j0 + TURN):
                out[r, j] = h_t[j, r]
    for j in range(whole, cols):
        for r in range(rows):
            out[r, j] = h_t[j, r]
    for r in range(rows):
        for j in range(cols):
            v = out[r, j] + b[j]
            out[r, j] = zero if v < zero else v


@takes(lambda h_t, b, out: h_t.dtype in _ZERO and h_t.ndim == 2 and b.dtype == h_t.dtype == out.dtype
       and b.shape == (h_t.shape[0],) and out.shape == h_t.shape[::-1] and h_t.flags.c_contiguous
       and b.flags.c_contiguous and out.flags.c_contiguous)
def bias_relu_transposed(h_t, b, out):
    _bias_relu_transposed(h_t, b, out, _ZERO[h_t.dtype])
    return out


@_jit()
def _relu_backward_bias_grad_live(g, y, out, db, flags, live, zero):
    """Relu's backward mask, its column sums (the bias gradient, row after row) and the live columns' flags; the
    live columns' numbers in ascending order into `live`, their count returned (in the loop, not as a second NumPy
    call on the flags: on a small batch a NumPy call's overhead is of the loop's own order)."""
    rows, cols = g.shape
    for j in range(cols):
        db[j] = 0
        flags[j] = 0
    for r in range(rows):
        for j in range(cols):
            v = zero if y[r, j] <= zero else g[r, j]  # as relu_backward: +0 where y <= 0, a NaN y passes g
            out[r, j] = v
            db[j] += v
            flags[j] |= v != zero  # as _live_columns, on the way (as cheap as a pass without it)
    count = 0
    for j in range(cols):
        if flags[j]:
            live[count] = j
            count += 1
    return count


def _relu_backward_bias_grad_takes(g, y) -> bool:
    return (g.dtype in _ZERO and g.ndim == 2 and y.dtype == g.dtype and y.shape == g.shape
            and g.flags.c_contiguous and y.flags.c_contiguous)


def _mask_pass(g, y):
    """The masked gradient, its column sums and its live columns' numbers (int64, ascending), from one pass."""
    out = np.empty_like(g)
    db = np.empty(g.shape[1], g.dtype)
    flags = np.empty(g.shape[1], np.uint8)
    live = np.empty(g.shape[1], np.int64)
    count = _relu_backward_bias_grad_live(g, y, out, db, flags, live, _ZERO[g.dtype])
    return out, db, live[:count]


@takes(_relu_backward_bias_grad_takes)
def relu_backward_bias_grad(g, y):
    out, db, _ = _mask_pass(g, y)
    return out, db


@takes(_relu_backward_bias_grad_takes)
def relu_backward_bias_grad_live(g, y):
    """relu_backward_bias_grad and live_columns of its result in one pass: the dead-unit skip's (ops/linear.py)
    look for live units then reads no array of its own."""
    return _mask_pass(g, y)


@_jit()
def _live_columns(g, flags):
    rows, cols = g.shape
    for j in range(cols):
        flags[j] = 0
    for r in range(rows):
        for j in range(cols):
            flags[j] |= g[r, j] != 0  # no branch, so LLVM vectorises the row; NaN != 0 keeps its column


@takes(lambda g: g.dtype in _ZERO and g.ndim == 2 and g.flags.c_contiguous)
def live_columns(g):
    flags = np.empty(g.shape[1], np.uint8)
    _live_columns(g, flags)
    return np.flatnonzero(flags)


@_jit()
def _live_columns_gathered(g, live, out):
    # row by row: each row of g read once and its live values written as one run of out's row
    rows = g.shape[0]
    for r in range(rows):
        for k in range(live.size):
            out[r, k] = g[r, live[k]]


@takes(lambda g, live: g.dtype in _ZERO and g.ndim == 2 and g.flags.c_contiguous and live.ndim == 1)
def live_columns_turned(g, live):
    out = np.empty((g.shape[0], live.size), g.dtype)
    _live_columns_gathered(g, live, out)
    return out.T


@_jit()
def _place_live_rows(part, live, out, zero):
    units, cols = out.shape
    bad = False
    k = 0
    for r in range(units):
        if k < live.size and live[k] == r:
            for c in range(cols):
                v = part[k, c]
                out[r, c] = v
                bad |= v - v != zero  # inf - inf and NaN - NaN are NaN: a non-finite entry
            k += 1
        else:
            for c in range(cols):
                out[r, c] = zero
    return not bad


@takes(lambda part, live, out: part.dtype in _ZERO and part.ndim == 2 and out.dtype == part.dtype
       and out.ndim == 2 and part.shape == (live.size, out.shape[1]) and part.flags.c_contiguous
       and out.flags.c_contiguous and live.ndim == 1)
def place_live_rows(part, live, out):
    return bool(_place_live_rows(part, live, out, _ZERO[part.dtype]))
