"""Numba versions of special_reference.py: erfc and erfinv in one compiled loop each.

Both evaluate in double precision per element and round to the array's dtype, as their references,
whose scalar functions they compile: erfc is libm's (math.erfc), erfinv is
special_reference.erfinv_scalar, so the loops give their references' results bit for bit.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .cpu import _flat, _flat_ok, _jit
from .registry import takes
from .special_reference import erfinv_scalar

_erfinv_scalar = _jit()(erfinv_scalar)


@_jit()
def _erfc(x, out):
    for i in numba.prange(x.size):
        out[i] = math.erfc(np.float64(x[i]))


@_jit()
def _erfinv(y, out):
    for i in numba.prange(y.size):
        out[i] = _erfinv_scalar(np.float64(y[i]))


@takes(lambda x: _flat_ok(x))
def erfc(x):
    """special_reference.erfc in one compiled loop."""
    out = np.empty_like(x)
    _erfc(_flat(x), _flat(out))
    return out


@takes(lambda y: _flat_ok(y))
def erfinv(y):
    """special_reference.erfinv in one compiled loop."""
    out = np.empty_like(y)
    _erfinv(_flat(y), _flat(out))
    return out
