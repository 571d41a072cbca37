"""A fully connected layer followed by ReLU, as plain array expressions (the twins of linear_cpu.py).

    forward   y = max(x W^T + b, 0)        bias_relu(h, b) with h = x W^T: y is written into h
              (or bias_relu_transposed(h_t, b, y) from the transposed product h_t = W x^T)
    backward  gz = 0 where y <= 0, else g  relu_backward_bias_grad(g, y) -> (gz, db)
              db = sum of gz over rows     (dL/db; dL/dW = gz^T x and dL/dx = gz W stay on BLAS)

They compute what Linear then ReLU compute one after the other (the same operations in
the same order), so the fused layer gives the unfused numbers.
"""
from __future__ import annotations

from .reference import _xp, bias_grad, relu_backward


def bias_relu(h, b):
    """h = max(h + b, 0) in place over the (rows, out) product h; returns h. NaN stays NaN."""
    xp = _xp(h)
    h += b
    xp.maximum(h, 0, out=h)
    return h


def bias_relu_transposed(h_t, b, out):
    """out = max(h_t^T + b, 0) for the (out_features, rows) product h_t = W x^T; returns out. NaN stays NaN."""
    xp = _xp(h_t)
    xp.add(h_t.T, b, out=out)
    xp.maximum(out, 0, out=out)
    return out


def relu_backward_bias_grad(g, y):
    """(g masked where y <= 0, its column sums) for the (rows, out) upstream gradient g and ReLU output y."""
    gz = relu_backward(g, y)
    return gz, bias_grad(gz)
