"""The piecewise and sigmoid-based activations as plain array expressions (the twins of activation_cpu.py).

    leaky_relu           y = a for a > 0, slope * a otherwise
    leaky_relu_backward  dL/da = g for a > 0, slope * g otherwise
    silu                 y = a * s,  s = sigmoid(a)
    silu_backward        dL/da = g * s * (1 + a * (1 - s))
    elu                  y = scale * alpha * expm1(input_scale * a) for a <= 0, scale * a otherwise
    elu_backward         dL/da = g * scale * alpha * input_scale * exp(input_scale * a) for a <= 0, g * scale
                         otherwise (NaN too: torch's test is a <= 0)
    tanh_backward        dL/da = g * (1 - y^2), y = tanh(a) the forward's output
    softplus, softplus_backward  torch's, with beta and threshold (formulas below)
    gelu, gelu_backward  both of torch's forms (approximate="none" or "tanh"), formulas below; forward
                         also returns Phi(a) or tanh(u) for backward: erf and tanh cost more than
                         keeping one array

Backward takes the forward's input a and recomputes what it needs (a mask, a sigmoid,
an exp) instead of keeping it from the forward: one array less to write and keep alive,
and the fused versions read a once anyway. Sigmoid comes from e = exp(-|a|) <= 1, so
nothing overflows: s = 1 / (1 + e) for a >= 0 and e / (1 + e) for a < 0.
float16 arrays are computed in float32 and rounded once (kernels/opmath.py), as torch's half kernels.
"""
from __future__ import annotations

import math

import numpy as np

from .opmath import half_in_float32
from .reference import _xp

_HOST_ONES = {np.dtype(np.float32): np.ones((), np.float32), np.dtype(np.float64): np.ones((), np.float64)}
_ndarray = np.ndarray  # a module-level name: NumPy's module __getattr__ makes np.ndarray a dict lookup per use
from .registry import get as kernel


@half_in_float32
def leaky_relu(a, slope: float):
    xp = _xp(a)
    return xp.where(a > 0, a, a * slope).astype(a.dtype, copy=False)


@half_in_float32
def leaky_relu_backward(g, a, slope: float):
    xp = _xp(g)
    return xp.where(a > 0, g, g * slope).astype(g.dtype, copy=False)


def sigmoid(a):
    """1 / (1 + exp(-a)) in a's dtype, without evaluating exp of a positive number."""
    xp = _xp(a)
    e = xp.exp(-xp.abs(a))
    return (xp.where(a >= 0, 1, e) / (1 + e)).astype(a.dtype, copy=False)


@half_in_float32
def silu(a):
    return a * sigmoid(a)


@half_in_float32
def silu_backward(g, a):
    s = sigmoid(a)
    return g * s * (1 + a * (1 - s))


@half_in_float32
def tanh_backward(g, y):
    one = _HOST_ONES.get(y.dtype) if type(y) is _ndarray else None  # see reference._HOST_ZEROS
    return g * ((1 if one is None else one) - y * y)


@half_in_float32
def elu(a, alpha: float, scale: float, input_scale: float):
    xp = _xp(a)
    # exp of non-positive values only (no overflow); where, not minimum, keeps -0.0 (expm1(-0.0) = -0.0, as torch)
    negative_part = xp.where(a <= 0, a, a.dtype.type(0)) * input_scale
    return xp.where(a <= 0, xp.expm1(negative_part) * (alpha * scale), a * scale).astype(a.dtype, copy=False)


@half_in_float32
def elu_backward(g, a, alpha: float, scale: float, input_scale: float):
    xp = _xp(g)
    # exp itself, not expm1 + 1, which would round tiny exp values to 0 in float32
    e = xp.exp(xp.where(a <= 0, a, a.dtype.type(0)) * input_scale)
    # torch's test is a <= 0: a NaN input takes the a > 0 branch, g * scale
    return xp.where(a <= 0, g * e * (alpha * scale * input_scale), g * scale).astype(g.dtype, copy=False)


# ---- GELU ------------------------------------------------------------------------------------
# none: y = a * Phi(a),  Phi(a) = (1 + erf(a / sqrt 2)) / 2,  dL/da = g * (Phi(a) + a * phi(a)),
#       phi(a) = exp(-a^2 / 2) / sqrt(2 pi)
# tanh: u = sqrt(2/pi) * (a + 0.044715 a^3),  t = tanh(u),  y = a * (1 + t) / 2
#       dL/da = g * ((1 + t) / 2 + a / 2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 a^2))

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_TANH_KAPPA = 0.044715


def _normal_cdf(a):
    x = a * SQRT_HALF
    return (kernel("erf", x)(x) + 1) * 0.5  # NumPy has no erf: the kernel (math.erf in a loop)


def _gelu_tanh_t(a):
    return _xp(a).tanh((a + a * a * a * GELU_TANH_KAPPA) * SQRT_2_OVER_PI)


@half_in_float32
def gelu(a, approximate: str):
    """(y, saved): saved is Phi(a) (none) or t (tanh), what backward needs besides a."""
    if approximate == "tanh":
        t = _gelu_tanh_t(a)
        return (a * 0.5 * (1 + t)).astype(a.dtype, copy=False), t
    cdf = _normal_cdf(a)
    return (a * cdf).astype(a.dtype, copy=False), cdf


@half_in_float32
def gelu_backward(g, a, saved, approximate: str):
    xp = _xp(g)
    if approximate == "tanh":
        t = saved
        inner_derivative = (1 + a * a * (3 * GELU_TANH_KAPPA)) * SQRT_2_OVER_PI
        return g * (0.5 * (1 + t) + a * 0.5 * (1 - t * t) * inner_derivative)
    pdf = xp.exp(a * a * -0.5) * INV_SQRT_2PI
    return g * (saved + a * pdf)


# ---- Softplus --------------------------------------------------------------------------------
# torch's softplus: y = log1p(exp(beta * a)) / beta, and y = a where beta * a > threshold;
# dL/da = g * z / (z + 1), z = exp(beta * a) (sigmoid(beta * a)), and g where beta * a > threshold.
# exp is taken of min(beta * a, threshold) only, so it cannot overflow.

@half_in_float32
def softplus(a, beta: float, threshold: float):
    xp = _xp(a)
    scaled = a * beta
    z = xp.exp(xp.minimum(scaled, threshold))
    return xp.where(scaled > threshold, a, xp.log1p(z) / beta).astype(a.dtype, copy=False)


@half_in_float32
def softplus_backward(g, a, beta: float, threshold: float):
    xp = _xp(g)
    scaled = a * beta
    z = xp.exp(xp.minimum(scaled, threshold))
    return xp.where(scaled > threshold, g, g * z / (z + 1)).astype(g.dtype, copy=False)
