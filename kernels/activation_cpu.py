"""Numba versions of activation_reference.py: each activation's forward and backward as one pass.

The array expressions make up to ten temporaries per call (masks, exp, where, casts), each a
full pass over memory; these loops read the input (and the gradient) once and write the
result once. LeakyReLU takes float32 and float64 and is bitwise equal to its reference.
SiLU and ELU take float32 only (float64, used for gradient checks, runs the reference):
their exp is cpu.exp_nonpositive_float32, which vectorises (Numba's scalar exp is a C call
per element, several times slower than NumPy's SIMD exp), so they agree with the reference
to float32 rounding (within a few ulp), not bitwise.

Numba's on-disk cache checks only the timestamp of the file a cached function is in: a
change to cpu.exp_nonpositive_float32, which these loops inline, needs this file touched too.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .cpu import _ZERO, _jit, exp_nonpositive_float32
from .registry import takes

_F = np.float32
_ONE, _ZERO32 = _F(1.0), _F(0.0)
_LN_HALF = _F(math.log(0.5))
# expm1(t) = t * (1 + t/2 + t^2/6 + ...): 1/n! for n = 1 ... 11, as float32
_C = tuple(_F(1.0 / math.factorial(n)) for n in range(1, 12))
_C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11 = _C


def _flat_float32(a) -> bool:
    """a float32, C-contiguous and at least 1-D (the loops index flat)."""
    return a.dtype == _F and a.flags.c_contiguous and a.ndim > 0


def _gradient_fits(g, a) -> bool:
    """An upstream gradient of a's shape and dtype, in any layout: the backward loops copy a strided or
    broadcast g (the gradient of a sum is a broadcast view) into C order first, one pass."""
    return g.shape == a.shape and g.dtype == a.dtype


# ---- LeakyReLU --------------------------------------------------------------------------

@_jit()
def _leaky_relu(a, y, slope, zero):
    a, y = a.reshape(-1), y.reshape(-1)
    for i in numba.prange(a.size):
        v = a[i]
        y[i] = v if v > zero else v * slope


@takes(lambda a, slope: a.dtype in _ZERO and a.flags.c_contiguous and a.ndim > 0)
def leaky_relu(a, slope: float):
    y = np.empty_like(a)
    _leaky_relu(a, y, a.dtype.type(slope), _ZERO[a.dtype])
    return y


@_jit()
def _leaky_relu_backward(g, a, out, slope, zero):
    g, a, out = g.reshape(-1), a.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        out[i] = g[i] if a[i] > zero else g[i] * slope


@takes(lambda g, a, slope: a.dtype in _ZERO and a.flags.c_contiguous and a.ndim > 0 and _gradient_fits(g, a))
def leaky_relu_backward(g, a, slope: float):
    g = np.ascontiguousarray(g)
    out = np.empty_like(g)
    _leaky_relu_backward(g, a, out, g.dtype.type(slope), _ZERO[g.dtype])
    return out


# ---- SiLU -------------------------------------------------------------------------------

@numba.njit(inline="always", error_model="numpy")  # inlined into the cached loops below
def _sigmoid_float32(v):
    e = exp_nonpositive_float32(-abs(v))
    return (_ONE if v >= _ZERO32 else e) / (_ONE + e)


@_jit()
def _silu(a, y):
    a, y = a.reshape(-1), y.reshape(-1)
    for i in numba.prange(a.size):
        y[i] = a[i] * _sigmoid_float32(a[i])


@takes(lambda a: _flat_float32(a))
def silu(a):
    y = np.empty_like(a)
    _silu(a, y)
    return y


@_jit()
def _silu_backward(g, a, out):
    g, a, out = g.reshape(-1), a.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        s = _sigmoid_float32(a[i])
        out[i] = g[i] * s * (_ONE + a[i] * (_ONE - s))


@takes(lambda g, a: _flat_float32(a) and _gradient_fits(g, a))
def silu_backward(g, a):
    g = np.ascontiguousarray(g)
    out = np.empty_like(g)
    _silu_backward(g, a, out)
    return out


# ---- ELU (and SELU) -----------------------------------------------------------------------

@numba.njit(inline="always", error_model="numpy")
def _expm1_nonpositive_float32(t):
    """expm1(t) for a float32 t <= 0 (or -inf, or NaN), to a few ulp; vectorisable.

    Down to ln(1/2) a Taylor polynomial of degree 11 (truncation below 1e-9 relative there),
    so no cancellation near 0; below it exp(t) - 1, whose result is at least 1/2 in size,
    so the subtraction loses nothing.
    """
    p = t * (_C1 + t * (_C2 + t * (_C3 + t * (_C4 + t * (_C5 + t * (_C6 + t * (_C7 + t * (
        _C8 + t * (_C9 + t * (_C10 + t * _C11))))))))))
    return p if t > _LN_HALF else exp_nonpositive_float32(t) - _ONE  # NaN takes the exp branch: NaN


@_jit()
def _elu(a, y, scale, alpha_scale, input_scale):
    a, y = a.reshape(-1), y.reshape(-1)
    for i in numba.prange(a.size):
        v = a[i]
        t = (_ZERO32 if v > _ZERO32 else v) * input_scale  # min(v, 0) keeping -0.0 and NaN
        y[i] = v * scale if v > _ZERO32 else _expm1_nonpositive_float32(t) * alpha_scale


def _elu_takes(a, alpha: float, scale: float, input_scale: float) -> bool:
    return _flat_float32(a) and input_scale >= 0  # t <= 0: the domain of the exp above


@takes(_elu_takes)
def elu(a, alpha: float, scale: float, input_scale: float):
    y = np.empty_like(a)
    _elu(a, y, _F(scale), _F(alpha * scale), _F(input_scale))
    return y


@_jit()
def _elu_backward(g, a, out, scale, slope, input_scale):
    g, a, out = g.reshape(-1), a.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        v = a[i]
        if v > _ZERO32:
            out[i] = g[i] * scale
        else:
            out[i] = g[i] * exp_nonpositive_float32(v * input_scale) * slope


@takes(lambda g, a, alpha, scale, input_scale: _flat_float32(a) and _gradient_fits(g, a) and input_scale >= 0)
def elu_backward(g, a, alpha: float, scale: float, input_scale: float):
    g = np.ascontiguousarray(g)
    out = np.empty_like(g)
    _elu_backward(g, a, out, _F(scale), _F(alpha * scale * input_scale), _F(input_scale))
    return out
