"""erfc and erfinv element-wise (the twins of special_cpu.py; erf itself is reference.erf).

NumPy has neither. The host versions evaluate in double precision per element, then round to the
array's dtype: erfc is math.erfc (libm's: glibc's is within 3 ulp in double); erfinv is computed here:

    erfinv(y) = x with erf(x) = y, for y in [-1, 1]; +-inf at +-1, NaN outside and at NaN, +-0 at +-0.

A start from M. Giles' single-precision approximation ("Approximating the erfinv function", GPU
Computing Gems, 2011: a polynomial in w = -log(1 - y^2), two branches), good to about 1e-7
relative in float32's range, then for |y| <= 1/2 two Halley steps on f(x) = erf(x) - y
(f' = 2/sqrt(pi) exp(-x^2), f'' = -2 x f'), each of which triples the correct digits; for |y| > 1/2
Newton steps on log(erfc(|x|)) = log(1 - |y|) (1 - |y| is exact there, where erf(x) rounds to 1).
CuPy ships both (cupyx.scipy.special).
"""
from __future__ import annotations

import math

import numpy as np

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_TAIL_STEPS = 8  # Newton converges quadratically; 1 - |y| near 2**-53 takes the most (about 5)

# Giles' coefficients, highest power first: centre branch in w - 2.5 (w < 5), tail branch in sqrt(w) - 3
_GILES_CENTRE = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                 -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def erfinv_scalar(y: float) -> float:
    """erfinv of one double (see the module's docstring)."""
    if y != y or y > 1.0 or y < -1.0:
        return math.nan
    if y == 1.0 or y == -1.0:
        return math.copysign(math.inf, y)
    if y == 0.0:
        return y  # keeps the sign of -0.0
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        t, coefficients = w - 2.5, _GILES_CENTRE
    else:
        t, coefficients = math.sqrt(w) - 3.0, _GILES_TAIL
    p = 0.0
    for c in coefficients:
        p = p * t + c
    x = p * y
    if abs(y) <= 0.5:  # two Halley steps on erf(x) - y
        for _ in range(2):
            step = (math.erf(x) - y) / (TWO_OVER_SQRT_PI * math.exp(-x * x))  # Newton's step f / f'
            x -= step / (1.0 + x * step)  # Halley's correction: f'' / f' = -2x
        return x
    # the tail: Newton on log(erfc(z)) = log(1 - |y|), z = |x|, nearly a parabola in z, so it converges
    # from the start's error even where erf(x) has rounded to 1 (1 - |y| is exact for |y| > 1/2)
    z, target = abs(x), math.log(1.0 - abs(y))
    for _ in range(_TAIL_STEPS):
        tail = math.erfc(z)
        step = (math.log(tail) - target) * tail / (-TWO_OVER_SQRT_PI * math.exp(-z * z))
        z -= step
        if abs(step) <= 1e-17 * z:
            break
    x = math.copysign(z, y)
    return x


def erfc(x):
    """1 - erf(x), without the cancellation for large x, in x's dtype."""
    if isinstance(x, (np.ndarray, np.generic)):
        return _per_element(x, math.erfc)
    from cupyx.scipy.special import erfc as cupy_erfc  # noqa: PLC0415 - only reached for CuPy arrays

    return cupy_erfc(x)


def erfinv(y):
    """The inverse of erf on [-1, 1], in y's dtype (see the module's docstring)."""
    if isinstance(y, (np.ndarray, np.generic)):
        return _per_element(y, erfinv_scalar)
    from cupyx.scipy.special import erfinv as cupy_erfinv  # noqa: PLC0415 - only reached for CuPy arrays

    return cupy_erfinv(y)


def _per_element(x, scalar_function):
    out = np.empty(np.shape(x), dtype=x.dtype)
    flat = out.reshape(-1)
    for i, v in enumerate(np.asarray(x).reshape(-1).tolist()):
        flat[i] = scalar_function(v)
    return out
