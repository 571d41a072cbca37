"""A fully connected layer followed by ReLU, as plain array expressions (the twins of linear_cpu.py).

    forward   y = relu(x W^T + b)          bias_relu(h, b) with h = x W^T: y is written into h
              (or bias_relu_transposed(h_t, b, y) from the transposed product h_t = W x^T)
    backward  gz = 0 where y <= 0, else g  relu_backward_bias_grad(g, y) -> (gz, db)
              db = sum of gz over rows     (dL/db; dL/dW = gz^T x and dL/dx = gz W stay on BLAS)

They compute what Linear then ReLU compute one after the other (the same operations in
the same order), so the fused layer gives the unfused numbers.
"""
from __future__ import annotations

from .reference import _xp, bias_grad, relu_backward, relu_into


def bias_relu(h, b):
    """h = relu(h + b) in place over the (rows, out) product h; returns h (NaN and -0.0 pass, as torch's relu)."""
    h += b
    return relu_into(h, h)


def bias_relu_transposed(h_t, b, out):
    """out = relu(h_t^T + b) for the (out_features, rows) product h_t = W x^T; returns out (as bias_relu)."""
    xp = _xp(h_t)
    xp.add(h_t.T, b, out=out)
    return relu_into(out, out)


def relu_backward_bias_grad(g, y):
    """(g masked where y <= 0, its column sums) for the (rows, out) upstream gradient g and ReLU output y."""
    gz = relu_backward(g, y)
    return gz, bias_grad(gz)


def relu_backward_bias_grad_live(g, y):
    """relu_backward_bias_grad(g, y) and the live columns of its masked gradient (live_columns)."""
    gz, db = relu_backward_bias_grad(g, y)
    return gz, db, live_columns(gz)


def live_columns(g):
    """The indices of g's columns that hold anything but zeros (a NaN counts): the units of a (rows, out)
    gradient that get a weight gradient; the others' weight rows are g's zero column times x."""
    xp = _xp(g)
    return xp.flatnonzero((g != 0).any(axis=0))


def live_columns_turned(g, live):
    """g[:, live]^T, the live units' gradient as the left operand of their weight gradient's product: the
    transposed view of the C-contiguous (rows, live units) gather, which BLAS takes as a transposed operand
    (packing it costs less than for the turned copy, and the product has the same bits). Allocated as the
    kernel allocates it, so that the two have the same strides even where an axis has one element (BLAS picks
    its path, and so its rounding, by the operand's layout)."""
    xp = _xp(g)
    gathered = xp.empty((g.shape[0], live.size), g.dtype)
    gathered[...] = g[:, live]
    return gathered.T


def place_live_rows(part, live, out):
    """out = the whole weight gradient from the live units' rows `part` (row k is unit live[k]; live ascending),
    every other row +0; returns whether part is all finite. Where it is not, out's contents are unspecified
    (the caller computes the whole product instead): one pass over part both checks and places it."""
    xp = _xp(part)
    if not bool(xp.isfinite(part).all()):
        return False
    out.fill(0)
    out[live] = part
    return True
