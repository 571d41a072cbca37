"""The piecewise and sigmoid-based activations as plain array expressions (the twins of activation_cpu.py).

    leaky_relu           y = a for a > 0, slope * a otherwise
    leaky_relu_backward  dL/da = g for a > 0, slope * g otherwise
    silu                 y = a * s,  s = sigmoid(a)
    silu_backward        dL/da = g * s * (1 + a * (1 - s))
    elu                  y = scale * a for a > 0, scale * alpha * expm1(input_scale * a) otherwise
    elu_backward         dL/da = g * scale for a > 0, g * scale * alpha * input_scale * exp(input_scale * a) otherwise

Backward takes the forward's input a and recomputes what it needs (a mask, a sigmoid,
an exp) instead of keeping it from the forward: one array less to write and keep alive,
and the fused versions read a once anyway. Sigmoid comes from e = exp(-|a|) <= 1, so
nothing overflows: s = 1 / (1 + e) for a >= 0 and e / (1 + e) for a < 0.
"""
from __future__ import annotations

from .reference import _xp


def leaky_relu(a, slope: float):
    xp = _xp(a)
    return xp.where(a > 0, a, a * slope).astype(a.dtype, copy=False)


def leaky_relu_backward(g, a, slope: float):
    xp = _xp(g)
    return xp.where(a > 0, g, g * slope).astype(g.dtype, copy=False)


def sigmoid(a):
    """1 / (1 + exp(-a)) in a's dtype, without evaluating exp of a positive number."""
    xp = _xp(a)
    e = xp.exp(-xp.abs(a))
    return (xp.where(a >= 0, 1, e) / (1 + e)).astype(a.dtype, copy=False)


def silu(a):
    return a * sigmoid(a)


def silu_backward(g, a):
    s = sigmoid(a)
    return g * s * (1 + a * (1 - s))


def elu(a, alpha: float, scale: float, input_scale: float):
    xp = _xp(a)
    negative_part = xp.minimum(a, 0) * input_scale  # exp of non-positive values only: no overflow
    return xp.where(a > 0, a * scale, xp.expm1(negative_part) * (alpha * scale)).astype(a.dtype, copy=False)


def elu_backward(g, a, alpha: float, scale: float, input_scale: float):
    xp = _xp(g)
    # exp itself, not expm1 + 1, which would round tiny exp values to 0 in float32
    e = xp.exp(xp.minimum(a, 0) * input_scale)
    return xp.where(a > 0, g * scale, g * e * (alpha * scale * input_scale)).astype(g.dtype, copy=False)
