"""CuPy versions of activation_reference.py: each activation and its gradient as one ElementwiseKernel.

The reference's CuPy expressions launch one kernel per operation (up to ten for ELU or GELU,
each a full pass over device memory); these do one. The math functions are CUDA's (exp,
expm1, erf, tanh, log1p, in the array's precision), so results agree with the reference to
a few ulp; LeakyReLU has none and is bitwise equal. Constants go in as arguments of the
array's dtype, as the reference's Python scalars enter its arithmetic. Compiled with
--fmad=false like kernels/gpu.py, so every multiply and add rounds as the reference's.
Checked without a GPU by tests/test_kernels_activation_gpu_emulated.py.
"""
from __future__ import annotations

import math

import cupy as cp

from .registry import takes

_OPTIONS = ("--fmad=false",)
_kernels: dict[str, object] = {}


def _elementwise(name: str, in_params: str, out_params: str, body: str):
    """An ElementwiseKernel made once (CuPy compiles it per dtype at its first call)."""
    kernel = _kernels.get(name)
    if kernel is None:
        kernel = cp.ElementwiseKernel(in_params, out_params, body, name, options=_OPTIONS)
        _kernels[name] = kernel
    return kernel


def _floats(*arrays) -> bool:
    """CuPy arrays of one float dtype and of the first one's shape (g may be a broadcast view)."""
    first = arrays[0]
    return first.dtype.char in "fd" and all(
        isinstance(a, cp.ndarray) and a.dtype == first.dtype and a.shape == first.shape for a in arrays)


@takes(lambda a, slope: _floats(a))
def leaky_relu(a, slope: float):
    return _elementwise("tg_leaky_relu", "T a, T slope", "T y", "y = a > (T)0 ? a : a * slope;")(
        a, a.dtype.type(slope))


@takes(lambda g, a, slope: _floats(g, a))
def leaky_relu_backward(g, a, slope: float):
    return _elementwise("tg_leaky_relu_backward", "T g, T a, T slope", "T out", "out = a > (T)0 ? g : g * slope;")(
        g, a, g.dtype.type(slope))


_SIGMOID = "T e = exp(-fabs(a)); T s = (a >= (T)0 ? (T)1 : e) / ((T)1 + e);"


@takes(lambda a: _floats(a))
def silu(a):
    return _elementwise("tg_silu", "T a", "T y", _SIGMOID + " y = a * s;")(a)


@takes(lambda g, a: _floats(g, a))
def silu_backward(g, a):
    return _elementwise("tg_silu_backward", "T g, T a", "T out", _SIGMOID + " out = g * s * ((T)1 + a * ((T)1 - s));")(
        g, a)


@takes(lambda a, alpha, scale, input_scale: _floats(a))
def elu(a, alpha: float, scale: float, input_scale: float):
    t = a.dtype.type
    body = "y = a > (T)0 ? a * scale : expm1((a > (T)0 ? (T)0 : a) * input_scale) * alpha_scale;"
    return _elementwise("tg_elu", "T a, T scale, T alpha_scale, T input_scale", "T y", body)(
        a, t(scale), t(alpha * scale), t(input_scale))


@takes(lambda g, a, alpha, scale, input_scale: _floats(g, a))
def elu_backward(g, a, alpha: float, scale: float, input_scale: float):
    t = g.dtype.type
    body = "out = a <= (T)0 ? g * exp(a * input_scale) * slope : g * scale;"  # NaN: g * scale, as torch
    return _elementwise("tg_elu_backward", "T g, T a, T scale, T slope, T input_scale", "T out", body)(
        g, a, t(scale), t(alpha * scale * input_scale), t(input_scale))


_SQRT_HALF, _INV_SQRT_2PI = math.sqrt(0.5), 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI, _KAPPA = math.sqrt(2.0 / math.pi), 0.044715


@takes(lambda a, approximate: _floats(a))
def gelu(a, approximate: str):
    t = a.dtype.type
    if approximate == "tanh":
        body = "s = tanh((a + a * a * a * kappa) * c); y = a * (T)0.5 * ((T)1 + s);"
        return _elementwise("tg_gelu_tanh", "T a, T kappa, T c", "T y, T s", body)(a, t(_KAPPA), t(_SQRT_2_OVER_PI))
    body = "cdf = (erf(a * sqrt_half) + (T)1) * (T)0.5; y = a * cdf;"
    return _elementwise("tg_gelu", "T a, T sqrt_half", "T y, T cdf", body)(a, t(_SQRT_HALF))


@takes(lambda g, a, saved, approximate: _floats(g, a, saved))
def gelu_backward(g, a, saved, approximate: str):
    t = g.dtype.type
    if approximate == "tanh":
        body = ("T inner = ((T)1 + a * a * kappa3) * c;"
                " out = g * ((T)0.5 * ((T)1 + s) + a * (T)0.5 * ((T)1 - s * s) * inner);")
        return _elementwise("tg_gelu_tanh_backward", "T g, T a, T s, T kappa3, T c", "T out", body)(
            g, a, saved, t(3 * _KAPPA), t(_SQRT_2_OVER_PI))
    body = "out = g * (cdf + a * (exp(a * a * (T)-0.5) * inv_sqrt_2pi));"
    return _elementwise("tg_gelu_backward", "T g, T a, T cdf, T inv_sqrt_2pi", "T out", body)(
        g, a, saved, t(_INV_SQRT_2PI))


_SOFTPLUS_Z = "T s = a * beta; T z = exp(s > threshold ? threshold : s);"  # min(s, threshold), NaN stays NaN


@takes(lambda a, beta, threshold: _floats(a))
def softplus(a, beta: float, threshold: float):
    t = a.dtype.type
    body = _SOFTPLUS_Z + " y = s > threshold ? a : log1p(z) / beta;"
    return _elementwise("tg_softplus", "T a, T beta, T threshold", "T y", body)(a, t(beta), t(threshold))


@takes(lambda g, a, beta, threshold: _floats(g, a))
def softplus_backward(g, a, beta: float, threshold: float):
    t = g.dtype.type
    body = _SOFTPLUS_Z + " out = s > threshold ? g : g * z / (z + (T)1);"
    return _elementwise("tg_softplus_backward", "T g, T a, T beta, T threshold", "T out", body)(
        g, a, t(beta), t(threshold))
