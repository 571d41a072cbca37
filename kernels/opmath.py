"""float16 arithmetic as torch's CPU kernels do it: in float32 ("opmath"), rounded once to float16.

torch's half kernels load each float16 element as a float32, evaluate the whole formula in float32 and
round the result once. NumPy evaluates a float16 expression one operation at a time, rounding to float16
after each, so a formula of several steps (sigmoid, GELU, a gradient) can end an ulp or more away.
These helpers let a kernel or op written for float32/float64 give torch's float16 bits.
"""
from __future__ import annotations

import functools

import numpy as np

HALF = np.dtype(np.float16)
_FLOAT32 = np.dtype(np.float32)


def opmath(a):
    """a as torch's kernels compute with it: a float32 copy of a float16 array, any other array itself."""
    return a.astype(_FLOAT32) if a.dtype == HALF else a


def rounded(x, dtype):
    """x in dtype (one rounding of a float32 result to float16; no copy when x already has it)."""
    return x.astype(dtype, copy=False)


def half_in_float32(kernel):
    """Run `kernel` on float32 copies of float16 arrays and round its result once to float16.

    For kernels whose first argument is an array: when it is float16, every float16 array argument is
    widened and the result (or a tuple's first item: the output; the others are intermediates kept for
    backward, which torch recomputes in float32 too) is rounded back. Other dtypes call it unchanged.
    """
    @functools.wraps(kernel)
    def run(first, *rest):
        if first.dtype != HALF:
            return kernel(first, *rest)
        out = kernel(opmath(first), *[opmath(r) if getattr(r, "dtype", None) == HALF else r for r in rest])
        if isinstance(out, tuple):
            return (rounded(out[0], HALF),) + out[1:]
        return rounded(out, HALF)

    return run


def times_number(x, c: float):
    """x * c as torch multiplies a tensor by a Python number: float16 in float32 with c in float32, rounded
    once; other dtypes in their own precision."""
    return rounded(opmath(x) * c, x.dtype) if x.dtype == HALF else x * c


def rsqrt(x):
    """1 / sqrt(x) as torch's rsqrt: float16 in float32, rounded once."""
    wide = opmath(x)
    if isinstance(wide, (np.ndarray, np.generic)):
        return rounded(1 / np.sqrt(wide), x.dtype)
    import cupy  # noqa: PLC0415 - only reached for CuPy arrays

    return rounded(1 / cupy.sqrt(wide), x.dtype)


def over_number(x, c: float):
    """x / c as torch divides a tensor by a Python number (float16 in float32, rounded once)."""
    return rounded(opmath(x) / c, x.dtype) if x.dtype == HALF else x / c
