"""A float32 exp that LLVM can vectorise inside Numba loops (for t <= 0, as softmax needs).

Numba compiles `np.exp` on a scalar to a call into the C library, one element at a
time (about 5 ns each), so a loop that calls it cannot use SIMD lanes. This version is
plain arithmetic, so a loop over it becomes one vector instruction stream:

    exp(t) = 2**k * exp(r),   k = round(t / ln 2),   r = t - k ln 2,  |r| <= ln(2) / 2

- k is rounded by the "magic number" trick: adding 1.5 * 2**23 pushes the fraction
  bits out of a float32, so the sum's low mantissa bits hold k as an integer.
- r is computed with ln 2 split into a short high part (k * LN2_HI is exact) and a
  low correction (Cody and Waite's range reduction).
- exp(r) is the Taylor polynomial of degree 7, evaluated by Horner's rule; its
  truncation error on |r| <= 0.347 is below 1e-8, under a tenth of a float32 ulp.
- 2**k is built directly from its IEEE-754 bits: exponent field k + 127, shifted
  into place.

Measured against exp computed in float64 and rounded (tests/test_vector_exp.py), the
results lie within 1.5 ulp, and about 9 in 10 are the correctly rounded float32. NumPy's
own SIMD float32 exp is within 2.6 ulp. Results that are subnormal are scaled in two
steps so they round once, and results below half the smallest subnormal are 0.

Domain: t <= 0, -inf and NaN (what `x - max(x)` gives). exp(-inf) = 0, and NaN stays
NaN. Positive t is outside the domain: 2**k would overflow the exponent field for
t > 88.

Editing this file: the function is inlined into cpu.py's loops, and Numba's on-disk cache
checks only cpu.py's own timestamp, so those loops keep the old machine code until
cpu.py changes too. Touch kernels/cpu.py (or delete kernels/__pycache__) after an edit
here. tests/test_vector_exp.py compiles its own uncached loop, so it always tests this
file as it is. A reinstall rewrites both files, so users never see this.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_F = np.float32


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 (an LLVM bitcast: it vectorises)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth > 32:  # Numba widens int32 arithmetic to int64
            value = builder.trunc(value, ir.IntType(32))
        elif bits.bitwidth < 32:
            value = builder.sext(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _bits_of_float32(typingctx, x):
    """The IEEE-754 bits of a float32 as an int32 (an LLVM bitcast)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


# Every constant is a float32 or int32 already: a Python float would turn the float32
# arithmetic into float64 in Numba (and halve the vector lanes).
_LOG2E = _F(1.0 / math.log(2.0))
_LN2_HI = _F(0.693359375)           # 8 significant bits: k * _LN2_HI is exact for |k| < 2**15
_LN2_LO = _F(math.log(2.0) - 0.693359375)
_ROUNDER = _F(1.5 * 2.0**23)        # t * log2(e) + this rounds to an integer kept in the low bits
_ROUNDER_BITS = np.int32(np.array(_ROUNDER).view(np.int32))
_FLOOR = _F(-104.0)                 # exp(-104) is below half the smallest subnormal: rounds to 0
_ONE = _F(1.0)
_TAYLOR = tuple(_F(1.0 / math.factorial(n)) for n in range(8))
_C2, _C3, _C4, _C5, _C6, _C7 = _TAYLOR[2:]
_BIAS = np.int32(127)
_MANTISSA_BITS = np.int32(23)
_SUBNORMAL_K = np.int32(-126)       # below this, 2**k is not a normal float32
_SUBNORMAL_SHIFT = np.int32(64)
_TWO_POW_MINUS_64 = _F(2.0**-64)


@numba.njit(inline="always", error_model="numpy")  # inlined into cached callers: no cache of its own
def exp_nonpositive_float32(t):
    """exp(t) for a float32 t <= 0 (or -inf, or NaN), within 1.5 ulp; vectorisable."""
    t = t if (t > _FLOOR or t != t) else _FLOOR  # -inf and very negative t: exp is 0 anyway
    shifted = t * _LOG2E + _ROUNDER
    k = shifted - _ROUNDER  # round(t / ln 2), as a float
    r = (t - k * _LN2_HI) - k * _LN2_LO
    p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
    k_int = _bits_of_float32(shifted) - _ROUNDER_BITS
    subnormal = k_int < _SUBNORMAL_K
    exponent = k_int + _SUBNORMAL_SHIFT if subnormal else k_int
    value = p * _float32_from_bits((exponent + _BIAS) << _MANTISSA_BITS)
    return value * _TWO_POW_MINUS_64 if subnormal else value  # one rounding into the subnormals
