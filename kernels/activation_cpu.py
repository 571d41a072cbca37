"""Numba versions of activation_reference.py: each activation's forward and backward as one pass.

The array expressions make up to ten temporaries per call (masks, exp, where, casts), each a
full pass over memory; these loops read the input (and the gradient) once and write the
result once. LeakyReLU and Tanh's backward take float32 and float64 and are bitwise equal to
their references.
SiLU and ELU take float32 only (float64, used for gradient checks, runs the reference):
their exp is cpu.exp_nonpositive_float32, which vectorises (Numba's scalar exp is a C call
per element, several times slower than NumPy's SIMD exp), so they agree with the reference
to float32 rounding (within a few ulp), not bitwise. Those loops (and GELU's and Softplus's)
let LLVM fuse multiply-adds (fastmath "contract": one rounding instead of two, nothing else
relaxed), which takes a third to a half off their polynomials' cost.

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
    """An upstream gradient of a's shape and dtype, in any layout: the backward loops copy a strided
    g into C order first, one pass (see _gradient_values for a broadcast one)."""
    return g.shape == a.shape and g.dtype == a.dtype


def _gradient_values(g):
    """g's elements in C order, flat; a single element when g is one value broadcast (the gradient of
    a sum or a mean). The loops that take it read g[0] for every element when g.size == 1, which
    also holds for a one-element a, where that is the same thing."""
    if g.flags.c_contiguous:
        return g.reshape(-1)
    if not any(g.strides):
        return g.reshape(-1)[:1]  # a view: the broadcast is not copied out
    return np.ascontiguousarray(g).reshape(-1)


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
    a, out = a.reshape(-1), out.reshape(-1)  # g is flat already (_gradient_values)
    if g.size == 1:  # one value for every element: the loop reads a alone
        v, scaled = g[0], g[0] * slope
        for i in numba.prange(a.size):
            out[i] = v if a[i] > zero else scaled
    else:
        for i in numba.prange(a.size):
            out[i] = g[i] if a[i] > zero else g[i] * slope


@takes(lambda g, a, slope: a.dtype in _ZERO and a.flags.c_contiguous and a.ndim > 0 and _gradient_fits(g, a))
def leaky_relu_backward(g, a, slope: float):
    out = np.empty_like(a)
    _leaky_relu_backward(_gradient_values(g), a, out, g.dtype.type(slope), _ZERO[g.dtype])
    return out


# ---- SiLU -------------------------------------------------------------------------------

@numba.njit(inline="always", error_model="numpy")  # inlined into the cached loops below
def _sigmoid_float32(v):
    e = exp_nonpositive_float32(-abs(v))
    return (_ONE if v >= _ZERO32 else e) / (_ONE + e)


@_jit(fastmath={"contract"})
def _silu(a, y):
    a, y = a.reshape(-1), y.reshape(-1)
    for i in numba.prange(a.size):
        y[i] = a[i] * _sigmoid_float32(a[i])


@takes(lambda a: _flat_float32(a))
def silu(a):
    y = np.empty_like(a)
    _silu(a, y)
    return y


@_jit(fastmath={"contract"})
def _silu_backward(g, a, out):
    a, out = a.reshape(-1), out.reshape(-1)  # g is flat already (_gradient_values)
    if g.size == 1:  # one value for every element: the loop reads a alone
        v = g[0]
        for i in numba.prange(a.size):
            s = _sigmoid_float32(a[i])
            out[i] = v * s * (_ONE + a[i] * (_ONE - s))
    else:
        for i in numba.prange(a.size):
            s = _sigmoid_float32(a[i])
            out[i] = g[i] * s * (_ONE + a[i] * (_ONE - s))


@takes(lambda g, a: _flat_float32(a) and _gradient_fits(g, a))
def silu_backward(g, a):
    out = np.empty_like(a)
    _silu_backward(_gradient_values(g), a, out)
    return out


# ---- Tanh's backward (its forward is NumPy's SIMD tanh) ----------------------------------------

@_jit()
def _tanh_backward(g, y, out):
    y, out = y.reshape(-1), out.reshape(-1)  # g is flat already (_gradient_values)
    one = out.dtype.type(1)
    if g.size == 1:  # one value for every element: the loop reads y alone
        w = g[0]
        for i in numba.prange(y.size):
            v = y[i]
            out[i] = w * (one - v * v)  # the reference's roundings, in its order: bitwise equal
    else:
        for i in numba.prange(y.size):
            v = y[i]
            out[i] = g[i] * (one - v * v)


@takes(lambda g, y: y.dtype in _ZERO and y.flags.c_contiguous and y.ndim > 0 and _gradient_fits(g, y))
def tanh_backward(g, y):
    out = np.empty_like(y)
    _tanh_backward(_gradient_values(g), y, out)
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


@_jit(fastmath={"contract"})
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


@_jit(fastmath={"contract"})
def _elu_backward(g, a, out, scale, slope, input_scale):
    g, a, out = g.reshape(-1), a.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        v = a[i]
        if v <= _ZERO32:  # torch's test: a NaN input takes the other branch, g * scale
            out[i] = g[i] * exp_nonpositive_float32(v * input_scale) * slope
        else:
            out[i] = g[i] * scale


@takes(lambda g, a, alpha, scale, input_scale: _flat_float32(a) and _gradient_fits(g, a) and input_scale >= 0)
def elu_backward(g, a, alpha: float, scale: float, input_scale: float):
    g = np.ascontiguousarray(g)
    out = np.empty_like(g)
    _elu_backward(g, a, out, _F(scale), _F(alpha * scale * input_scale), _F(input_scale))
    return out


# ---- GELU ------------------------------------------------------------------------------------
# Numba's erf and tanh are C calls per element (35 and 50 ns here, against NumPy's 0.4 ns SIMD
# tanh), so these float32 loops use the vectorisable forms below, computed in float64 inside and
# rounded once; float64 input (gradient checks) runs the reference.

_F64 = np.float64
# erf(x) = x * P(x^2 / 8 - 1) for |x| <= 4, P of degree 18 fitted to the relative error of erf (at most
# 3e-10 on [0, 4], computed against 30-digit erf: far below float32's half ulp, 3e-8). Beyond 4 erf rounds
# to +-1 in float32 (erfc(4) = 1.5e-8), so |x| is clamped there. A polynomial alone, with no division,
# exp or branch, vectorises fully.
_ERF_P = (0.35353099567018026, -0.17657623529385955, 0.13167511293319137, -0.10771031869476441,
          0.0902090825414213, -0.07473010710404696, 0.059886268897137086, -0.04574680120590477,
          0.0330618313439783, -0.0225539621300479, 0.014355032239730225, -0.00840080598832612,
          0.0048211290245845605, -0.0028911729325296113, 0.0013626377393279312, -0.00033636524339366523,
          0.00019946413754136052, -0.00024381667500631012, 8.802696152319437e-05)
(_R0, _R1, _R2, _R3, _R4, _R5, _R6, _R7, _R8, _R9, _R10, _R11, _R12, _R13, _R14, _R15, _R16, _R17,
 _R18) = _ERF_P
# tanh(u) = u + sum of T_n u^(2n+1), n = 1 ... 7 (Taylor, for |u| < 0.3)
_T1, _T2, _T3, _T4, _T5, _T6, _T7 = (-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
                                     -929569 / 638512875)
_HALF = _F(0.5)
_SQRT_HALF = _F(math.sqrt(0.5))
_INV_SQRT_2PI = _F(1.0 / math.sqrt(2.0 * math.pi))
_SQRT_2_OVER_PI = _F(math.sqrt(2.0 / math.pi))
_KAPPA, _KAPPA3 = _F(0.044715), _F(3 * 0.044715)
_MINUS_HALF = _F(-0.5)
_MINUS_TWO = _F64(-2.0)


@numba.njit(inline="always", error_model="numpy")
def _erf_float32(x):
    """erf of a float32, within 1 float32 ulp of the exact value; vectorisable (see _ERF_P)."""
    w = abs(_F64(x))
    c = 4.0 if w > 4.0 else w  # NaN stays NaN (the comparison is false), inf becomes 4
    u = c * c * 0.125 - 1.0
    p = _R0 + u * (_R1 + u * (_R2 + u * (_R3 + u * (_R4 + u * (_R5 + u * (_R6 + u * (_R7 + u * (_R8 + u * (
        _R9 + u * (_R10 + u * (_R11 + u * (_R12 + u * (_R13 + u * (_R14 + u * (_R15 + u * (_R16 + u * (
            _R17 + u * _R18)))))))))))))))))
    return _F(math.copysign(c * p, x))


@numba.njit(inline="always", error_model="numpy")
def _tanh_float32(u):
    """tanh of a float32 to about 1 ulp; vectorisable: Taylor below |u| = 0.3, (1 - e) / (1 + e) with
    e = exp(-2|u|) <= 0.55 above (no cancellation there)."""
    w = abs(_F64(u))
    w2 = w * w
    small = w * (1.0 + w2 * (_T1 + w2 * (_T2 + w2 * (_T3 + w2 * (_T4 + w2 * (_T5 + w2 * (_T6 + w2 * _T7)))))))
    e = _F64(exp_nonpositive_float32(_F(_MINUS_TWO * w)))
    large = (1.0 - e) / (1.0 + e)
    return _F(math.copysign(small if w < 0.3 else large, u))


@numba.njit(inline="always", error_model="numpy")
def _normal_cdf(v):
    """Phi(v) = (1 + erf(v / sqrt 2)) / 2 for a float32 v, in the reference's order of operations."""
    return (_erf_float32(v * _SQRT_HALF) + _ONE) * _HALF


@_jit(fastmath={"contract"})
def _gelu(a, y, cdf):
    a, y, cdf = a.reshape(-1), y.reshape(-1), cdf.reshape(-1)
    for i in numba.prange(a.size):
        c = _normal_cdf(a[i])
        cdf[i] = c
        y[i] = a[i] * c


@_jit(fastmath={"contract"})
def _gelu_backward(g, a, cdf, out):
    g, a, cdf, out = g.reshape(-1), a.reshape(-1), cdf.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        v = a[i]
        pdf = exp_nonpositive_float32(v * v * _MINUS_HALF) * _INV_SQRT_2PI
        out[i] = g[i] * (cdf[i] + v * pdf)


@_jit()
def _gelu_tanh(a, y, t_out):
    a, y, t_out = a.reshape(-1), y.reshape(-1), t_out.reshape(-1)
    for i in numba.prange(a.size):
        v = a[i]
        t = _tanh_float32((v + v * v * v * _KAPPA) * _SQRT_2_OVER_PI)
        t_out[i] = t
        y[i] = v * _HALF * (_ONE + t)


@_jit()
def _gelu_tanh_backward(g, a, t_in, out):
    g, a, t_in, out = g.reshape(-1), a.reshape(-1), t_in.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        v, t = a[i], t_in[i]
        inner_derivative = (_ONE + v * v * _KAPPA3) * _SQRT_2_OVER_PI
        out[i] = g[i] * (_HALF * (_ONE + t) + v * _HALF * (_ONE - t * t) * inner_derivative)


@takes(lambda a, approximate: _flat_float32(a))
def gelu(a, approximate: str):
    y, saved = np.empty_like(a), np.empty_like(a)
    (_gelu_tanh if approximate == "tanh" else _gelu)(a, y, saved)
    return y, saved


@takes(lambda g, a, saved, approximate: _flat_float32(a) and _gradient_fits(g, a) and _flat_float32(saved)
       and saved.shape == a.shape)
def gelu_backward(g, a, saved, approximate: str):
    g = np.ascontiguousarray(g)
    out = np.empty_like(g)
    (_gelu_tanh_backward if approximate == "tanh" else _gelu_backward)(g, a, saved, out)
    return out


# ---- Softplus --------------------------------------------------------------------------------
# log1p(exp(t)) = max(t, 0) + log1p(e), e = exp(-|t|) <= 1: nothing overflows, and log1p of
# e in [0, 1] is 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...) with s = e / (2 + e) <= 1/3, ten
# terms of a series in float64 (Numba's log1p is a C call per element).

_ATANH = tuple(1.0 / (2 * k + 1) for k in range(10))
_A0, _A1, _A2, _A3, _A4, _A5, _A6, _A7, _A8, _A9 = _ATANH


@numba.njit(inline="always", error_model="numpy")
def _log1p_unit(e):
    """log1p(e) for a float64 e in [0, 1] (or NaN), to float64 rounding; vectorisable."""
    s = e / (2.0 + e)
    s2 = s * s
    return 2.0 * s * (_A0 + s2 * (_A1 + s2 * (_A2 + s2 * (_A3 + s2 * (_A4 + s2 * (_A5 + s2 * (_A6 + s2 * (
        _A7 + s2 * (_A8 + s2 * _A9)))))))))


@_jit(fastmath={"contract"})
def _softplus(a, y, beta, threshold, inv_beta):
    a, y = a.reshape(-1), y.reshape(-1)
    for i in numba.prange(a.size):
        v = a[i]
        scaled = v * beta
        t = _F64(scaled)
        e = _F64(exp_nonpositive_float32(-abs(scaled)))
        smooth = _F((max(t, 0.0) + _log1p_unit(e)) * inv_beta)  # a NaN t makes e NaN, so smooth NaN
        y[i] = v if scaled > threshold else smooth


@_jit(fastmath={"contract"})
def _softplus_backward(g, a, out, beta, threshold):
    g, a, out = g.reshape(-1), a.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        scaled = a[i] * beta
        out[i] = g[i] if scaled > threshold else g[i] * _sigmoid_float32(scaled)


def _softplus_takes(a, beta: float, threshold: float) -> bool:
    return _flat_float32(a) and beta != 0 and math.isfinite(beta)


@takes(_softplus_takes)
def softplus(a, beta: float, threshold: float):
    y = np.empty_like(a)
    _softplus(a, y, _F(beta), _F(threshold), 1.0 / _F64(_F(beta)))
    return y


@takes(lambda g, a, beta, threshold: _softplus_takes(a, beta, threshold) and _gradient_fits(g, a))
def softplus_backward(g, a, beta: float, threshold: float):
    g = np.ascontiguousarray(g)
    out = np.empty_like(g)
    _softplus_backward(g, a, out, _F(beta), _F(threshold))
    return out
