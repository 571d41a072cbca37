"""Numba versions of the fused kernels, for NumPy arrays (one pass over memory each).

Imported only when a kernel is first needed on the CPU, so `import tinygrad_opt`
never pays for importing Numba; nor does importing this module: the loops become
Numba functions when Numba starts (lazy_jit.py). Each loop is compiled at its first
call for the argument types it sees (float32 and float64 get separate machine code) and cached
on disk (`cache=True`): a new process loads it instead of compiling again (see
`_jit` for where the cache lives).

Rules that keep these loops bitwise equal to reference.py where the math allows:
- the same operations in the same order and precision as the array expressions;
- every constant enters as an argument already cast to the array's dtype (a bare
  literal such as `1 - x` would turn float32 arithmetic into float64 in Numba);
- no fastmath except in the norm reductions, whose summation order differs anyway.
Softmax cross-entropy (exp, row sums), log-softmax (row sums, and float32's exp from
exp_nonpositive_float32) and the norms agree to rounding, not bitwise.

Each public function checks what its loop assumes (arrays of one float dtype, and
C-contiguous unless the loop indexes 2-D through strides, as log-softmax's do) and
otherwise hands the call to the reference version, which accepts anything.

Elementwise loops are written with numba.prange, which is plain range here: they are
compiled serially. benchmarks/kernels.py --parallel compiles parallel=True twins of
them; on the 2-core development machine they did not pay (see benchmarks/README.md),
so none is used.
"""
from __future__ import annotations

import importlib.util
import math
import functools
import sys
import types as _python_types
from operator import is_ as _is

import numpy as np

from . import lazy_jit, reference
from . import denormal, parallel, spin_team
from .block_claims import fetch_add, finish, finished, pause
from .native_arrays import array_at
from .registry import takes


# Numba's names, bound when Numba starts (lazy_jit: the module imports without it); the loops and
# intrinsics below look them up when they are built and compiled, after the start
numba = ir = types = intrinsic = None


def _start_numba_without_scipy() -> None:
    """Set up Numba's CPU target now, keeping it from importing scipy.linalg on the way.

    Numba's first compile or cache load imports its NumPy support, which imports scipy.linalg
    (where SciPy is installed) only to learn whether jitted code may call BLAS for np.dot: about
    a third of the engine's first training step. None of these kernels calls BLAS. So Numba's
    check (numba.np.linalg.ensure_blas, which arraymath calls when it is imported) fails once,
    here, and Numba is then told what it would have found; a jitted np.dot still imports
    scipy.linalg itself when it is compiled. Only Numba's own function is swapped for the moment,
    not the import system: this may run on the background thread while the caller's thread imports
    SciPy. Where Numba is set up already, or its layout differs from this version's, nothing changes.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg.cython_blas" in sys.modules:
        return
    try:
        from numba.core.registry import cpu_target  # noqa: PLC0415
        from numba.np import linalg  # noqa: PLC0415
    except ImportError:  # another Numba: its first kernel call sets itself up as usual
        return
    ensure_blas = getattr(linalg, "ensure_blas", None)
    if ensure_blas is None:
        return

    def no_blas_check() -> None:
        raise ImportError("not looked up while the engine sets Numba up")

    linalg.ensure_blas = no_blas_check
    try:
        cpu_target.target_context.refresh()
    except Exception:  # noqa: BLE001 - another Numba: its first kernel call sets itself up as usual
        pass
    finally:
        linalg.ensure_blas = ensure_blas
    arraymath = sys.modules.get("numba.np.arraymath")
    if arraymath is not None and getattr(arraymath, "ensure_blas", None) is no_blas_check:
        arraymath.ensure_blas = ensure_blas  # what its np.dot calls when it is compiled
    if arraymath is not None and hasattr(arraymath, "_HAVE_BLAS"):
        arraymath._HAVE_BLAS = importlib.util.find_spec("scipy") is not None


def _bind_numba() -> None:
    """Import Numba's names for this module's loops and set up its CPU target (run once, at lazy_jit.start)."""
    global numba, ir, types, intrinsic
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)
    from llvmlite import ir  # noqa: PLC0415
    from numba import types  # noqa: PLC0415
    from numba.extending import intrinsic  # noqa: PLC0415

    _start_numba_without_scipy()


lazy_jit.on_start(_bind_numba)
_intrinsic = lazy_jit.deferred(lambda fn: intrinsic(fn))


def _jit(**options):
    """numba.njit(cache=True, error_model="numpy"), without the cache when no cache location is usable.

    error_model="numpy" makes x / 0 give inf or NaN as in NumPy instead of raising; it also
    removes the zero check before every division, without which LLVM cannot vectorise the
    loops (the optimizer updates run 8x faster with it).

    The cache (lazy_jit.cached) goes next to this file (kernels/__pycache__) or to the user-wide
    cache dir, so an installed package in a read-only site-packages still caches; where nothing is
    writable the kernels compile per process.

    Two wrappers Numba builds by default are left out, since these loops only read and write arrays
    the caller allocated: the reference-counted runtime (`_nrt`: without it a call passes each array
    without wrapping it in a counted memory object, and the compile emits less code) and the
    C-callable twin (`no_cfunc_wrapper`: used only when a jitted function is passed as a first-class
    value, which no kernel is): both cost compile time on a cold first step and buy these loops
    nothing. A loop that allocates inside (np.empty in the loop
    body) needs the runtime: Numba then says "NRT required but not enabled"; pass `_nrt=True`.
    """
    options.setdefault("error_model", "numpy")
    options.setdefault("_nrt", False)
    options.setdefault("no_cfunc_wrapper", True)

    def build(fn):
        return lazy_jit.cached(numba.njit, fn, **options)

    return lazy_jit.deferred(build)


def _flat_ok(*arrays) -> bool:
    """True when every array is C-contiguous and of the first one's dtype (what the loops assume)."""
    dtype = arrays[0].dtype
    for a in arrays:
        if a is not None and (a.dtype != dtype or not a.flags.c_contiguous):
            return False
    return dtype.char in "fd"  # float32 / float64 (float16 goes to the reference)


def _flat(a):
    """A 1-D view of a C-contiguous array (the loops index flat)."""
    return a if a.ndim == 1 else a.reshape(-1)


def _flat_all(arrays: list) -> list:
    """_flat of each array of a list, written out (one call per list: the group updates run every step)."""
    return [a if a.ndim == 1 else a.reshape(-1) for a in arrays]


# ---- a float32 exp that vectorises (for log-softmax: t <= 0) ---------------------------
# Numba compiles `np.exp` on a scalar to a call into the C library, one element at a
# time (about 5 ns each), so a loop that calls it cannot use SIMD lanes. This version is
# plain arithmetic, so a loop over it becomes one vector instruction stream:
#
#     exp(t) = 2**k * exp(r),   k = round(t / ln 2),   r = t - k ln 2,  |r| <= ln(2) / 2
#
# - k is rounded by the "magic number" trick: adding 1.5 * 2**23 pushes the fraction
#   bits out of a float32, so the sum's low mantissa bits hold k as an integer.
# - r is computed with ln 2 split into a short high part (k * LN2_HI is exact) and a
#   low correction (Cody and Waite's range reduction).
# - exp(r) is the Taylor polynomial of degree 7, evaluated by Horner's rule; its
#   truncation error on |r| <= 0.347 is below 1e-8, under a tenth of a float32 ulp.
# - 2**k is built directly from its IEEE-754 bits: exponent field k + 127, shifted
#   into place.
#
# Measured against exp computed in float64 and rounded (tests/test_kernels_exp.py), the
# results lie within 1.2 ulp, and about 9 in 10 are the correctly rounded float32; compiled
# with fused multiply-adds (fastmath "contract", as the log-softmax loop is), within 0.92
# ulp and 94% correctly rounded. NumPy's own SIMD float32 exp is within 2.6 ulp. Results that are subnormal are scaled in two
# steps so they round once, and results below half the smallest subnormal are 0.
#
# Domain: t <= 0, -inf and NaN (what `x - max(x)` gives). exp(-inf) = 0, and NaN stays
# NaN. Positive t is outside the domain: 2**k would overflow the exponent field for
# t > 88.
#
# It lives in this file, not a module of its own, because the loops below inline it and
# Numba's on-disk cache checks only the timestamp of the file a cached function is in.

_F = np.float32


@_intrinsic
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


@_intrinsic
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


# inlined into cached callers: no cache of its own
@lazy_jit.deferred(lambda fn: numba.njit(inline="always", error_model="numpy")(fn))
def exp_nonpositive_float32(t):
    """exp(t) for a float32 t <= 0 (or -inf, or NaN), within 1.2 ulp; vectorisable."""
    t = _FLOOR if _FLOOR > t else t  # -inf and very negative t: exp is 0 anyway (NaN stays: the compare is false)
    shifted = t * _LOG2E + _ROUNDER
    k = shifted - _ROUNDER  # round(t / ln 2), as a float
    r = (t - k * _LN2_HI) - k * _LN2_LO
    p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
    k_int = _bits_of_float32(shifted) - _ROUNDER_BITS
    subnormal = k_int < _SUBNORMAL_K
    exponent = k_int + _SUBNORMAL_SHIFT if subnormal else k_int
    value = p * _float32_from_bits((exponent + _BIAS) << _MANTISSA_BITS)
    return value * _TWO_POW_MINUS_64 if subnormal else value  # one rounding into the subnormals


def exp_nonpositive_float32_array(t: np.ndarray) -> np.ndarray:
    """exp_nonpositive_float32 on a float32 array in NumPy, one rounding per operation in its order: the loop's
    bits where it is compiled without fused multiply-adds (first_call's twins use it before Numba starts)."""
    with np.errstate(all="ignore"):  # NaN's bits as an integer, and the subnormal branch computed everywhere
        t = np.where(_FLOOR > t, _FLOOR, t).astype(_F, copy=False)
        shifted = t * _LOG2E + _ROUNDER
        k = shifted - _ROUNDER
        r = (t - k * _LN2_HI) - k * _LN2_LO
        p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
        k_int = shifted.view(np.int32) - _ROUNDER_BITS
        subnormal = k_int < _SUBNORMAL_K
        exponent = np.where(subnormal, k_int + _SUBNORMAL_SHIFT, k_int)
        value = p * ((exponent + _BIAS) << _MANTISSA_BITS).astype(np.int32).view(_F)
        return np.where(subnormal, value * _TWO_POW_MINUS_64, value)


# ---- softmax cross-entropy ------------------------------------------------------------
# Per row: m = max (NaN wins, as in NumPy's max), e = exp(z - m) in z's dtype, s = the float64 sum of e
# from left to right, loss = log(s) - (z[t] - m) and dz = e / s - q, each rounded once to z's dtype.
# float64 takes the C library's exp one element at a time. float32 takes exp_nonpositive_float32 over the
# whole array in one flat pass (it vectorises; a C call per element would be most of the loss's time at
# large batches), compiled without fused multiply-adds so that first_call's NumPy twin repeats it.

@_jit(inline="always")
def _row_max_nan_wins(z, r, c):
    m = z[r, 0]
    for j in range(1, c):
        v = z[r, j]
        if v > m or v != v:
            m = v
    return m


@_jit(inline="always")
def _cross_entropy_row(z, target, keep, share, smooth, loss, dz, r, c, m):
    """Row r's loss and dz from dz[r] = exp(z[r] - m); float64 accumulators: the row sums lose nothing."""
    s = 0.0
    total = 0.0
    for j in range(c):
        s += dz[r, j]
        total += z[r, j] - m
    t = target[r]
    if t < 0 or t >= c:  # F.cross_entropy checks targets first; never read out of bounds anyway
        raise IndexError("softmax_cross_entropy: a class index lies outside [0, C)")
    picked = z[r, t] - m
    if smooth:
        picked = picked * keep + total * share
    loss[r] = math.log(s) - picked
    for j in range(c):  # divided in float64, rounded once when stored
        dz[r, j] = dz[r, j] / s - share
    dz[r, t] -= keep


@_jit()
def _softmax_cross_entropy(z, target, keep, share, smooth, loss, dz):
    n, c = z.shape
    for r in range(n):
        m = _row_max_nan_wins(z, r, c)
        for j in range(c):
            dz[r, j] = np.exp(z[r, j] - m)
        _cross_entropy_row(z, target, keep, share, smooth, loss, dz, r, c, m)


@_jit()
def _softmax_cross_entropy_float32(z, target, keep, share, smooth, loss, dz):
    n, c = z.shape
    for r in range(n):  # the shifted logits, and each row's max kept in loss until the last pass
        m = _row_max_nan_wins(z, r, c)
        loss[r] = m
        for j in range(c):
            dz[r, j] = z[r, j] - m
    flat = dz.reshape(-1)
    for i in range(flat.size):
        flat[i] = exp_nonpositive_float32(flat[i])
    for r in range(n):
        _cross_entropy_row(z, target, keep, share, smooth, loss, dz, r, c, loss[r])


@takes(lambda z, target, label_smoothing: z.ndim == 2 and z.shape[1] > 0 and z.dtype.char in "fd"
       and target.dtype.kind in "iu")
def softmax_cross_entropy(z, target, label_smoothing: float):
    z = np.ascontiguousarray(z)
    n, c = z.shape
    dtype = z.dtype.type
    eps = label_smoothing
    loss = np.empty(n, z.dtype)
    dz = np.empty_like(z)
    loop = _softmax_cross_entropy_float32 if dtype is np.float32 else _softmax_cross_entropy
    loop(z, target, dtype(1.0 - eps), dtype(eps / c), bool(eps), loss, dz)
    return loss, dz


# ---- log-softmax along the last axis ------------------------------------------------
# NumPy reduces each row with a separate inner loop (~40 ns of set-up per row), so the row
# max and row sums of a (64, 10) batch of logits cost far more than the arithmetic. These
# loops do the per-row work. Row sums accumulate in float64 and may be reordered (fastmath
# "reassoc", so LLVM can vectorise them): they agree with NumPy to rounding.
# exp: float32 runs the whole forward in one call, with exp_nonpositive_float32 in the loop;
# float64 keeps NumPy's SIMD exp between two calls (Numba's scalar exp costs ~5 ns an element).

_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


@_jit(inline="always")
def _row_max(a, r, cols):
    """max(a[r, :]) through eight independent running maxima, so LLVM can put them in SIMD lanes.

    One running maximum is a chain of dependent compares that LLVM will not vectorise
    (that needs fast-math on the select). A NaN is skipped here (NumPy's max would return
    it), but it still reaches a[r, j] - m, then the row sum s, then every y via log(s) and
    every p via 1 / s: the row comes out NaN exactly as the reference's.
    """
    m = a[r, 0]
    j = 0
    if cols >= 16:
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = m
        while j + 8 <= cols:
            v = a[r, j]; m0 = v if v > m0 else m0
            v = a[r, j + 1]; m1 = v if v > m1 else m1
            v = a[r, j + 2]; m2 = v if v > m2 else m2
            v = a[r, j + 3]; m3 = v if v > m3 else m3
            v = a[r, j + 4]; m4 = v if v > m4 else m4
            v = a[r, j + 5]; m5 = v if v > m5 else m5
            v = a[r, j + 6]; m6 = v if v > m6 else m6
            v = a[r, j + 7]; m7 = v if v > m7 else m7
            j += 8
        m0 = m1 if m1 > m0 else m0
        m2 = m3 if m3 > m2 else m2
        m4 = m5 if m5 > m4 else m4
        m6 = m7 if m7 > m6 else m6
        m0 = m2 if m2 > m0 else m0
        m4 = m6 if m6 > m4 else m4
        m = m4 if m4 > m0 else m0
    for k in range(j, cols):
        v = a[r, k]
        m = v if v > m else m
    return m


@_jit()
def _shift_by_row_max(a, y):
    rows, cols = a.shape
    for r in range(rows):
        m = _row_max(a, r, cols)
        for j in range(cols):
            y[r, j] = a[r, j] - m


@_jit(fastmath={"reassoc"})
def _normalize_rows(e, y):
    """y -= log(s) and e *= 1 / s, row by row, with s the row sums of e = exp(y)."""
    rows, cols = e.shape
    for r in range(rows):
        total = 0.0
        for j in range(cols):
            total += e[r, j]
        s = e.dtype.type(total)  # rounded to the dtype, as the reference's e.sum
        log_s = np.log(s)        # in the array's dtype, as the reference's xp.log(s)
        inv_s = e.dtype.type(1.0) / s
        for j in range(cols):
            y[r, j] -= log_s
            e[r, j] *= inv_s


@_jit(fastmath={"contract"})  # fused multiply-adds where the CPU has them: faster, and closer
def _exp_nonpositive_rows(t, e):
    """e = exp(t) for the shifted float32 logits (all <= 0), flat: rows of 10 vectorise too."""
    t, e = t.reshape(-1), e.reshape(-1)
    for i in range(t.size):
        e[i] = exp_nonpositive_float32(t[i])


@_jit()
def _log_softmax_float32(a, y, p):
    _shift_by_row_max(a, y)
    _exp_nonpositive_rows(y, p)
    _normalize_rows(p, y)


@_jit(fastmath={"reassoc"})
def _log_softmax_backward(g, p, out):
    rows, cols = g.shape
    for r in range(rows):
        total = 0.0
        for j in range(cols):
            total += g[r, j]
        k = g.dtype.type(total)  # sum(g), rounded to the dtype as the reference's g.sum
        for j in range(cols):
            out[r, j] = g[r, j] - p[r, j] * k


def _as_rows(a, axis: int):
    """`a` as a 2-D (rows, last axis) array when the loops can take it, else None.

    The loops reduce the last axis of float32/float64 arrays and index through strides,
    so a 2-D array of any layout passes through untouched; an N-D one must be
    C-contiguous to be viewed as rows. Empty rows go to the reference (its error).
    The callers test the usual case, a 2-D (batch, classes) array, inline first: these
    wrappers run for every log_softmax of every step, and on small arrays their checks
    cost as much as the loops.
    """
    dtype = a.dtype
    if (dtype is not _FLOAT32 and dtype is not _FLOAT64) or not a.size:
        return None
    ndim = a.ndim
    if ndim == 2:
        return a if axis == -1 or axis == 1 else None
    if ndim == 0 or (axis != -1 and axis != ndim - 1) or not a.flags.c_contiguous:
        return None
    return a.reshape(-1, a.shape[-1])  # a view, since a is C-contiguous


def _log_softmax_takes(a, axis: int = -1) -> bool:
    if a.ndim == 2 and (axis == -1 or axis == 1) and a.shape[1] and (a.dtype is _FLOAT32 or a.dtype is _FLOAT64):
        return True
    return _as_rows(a, axis) is not None


@takes(_log_softmax_takes)
def log_softmax(a, axis: int = -1):
    dtype = a.dtype
    rows = a if a.ndim == 2 else _as_rows(a, axis)
    y = np.empty(rows.shape, dtype)
    p = np.empty(rows.shape, dtype)
    if dtype is _FLOAT32:
        _log_softmax_float32(rows, y, p)
    else:
        _shift_by_row_max(rows, y)
        np.exp(y, out=p)  # NumPy's SIMD exp
        _normalize_rows(p, y)
    if rows is not a:
        y, p = y.reshape(a.shape), p.reshape(a.shape)
    return y, p


def _log_softmax_backward_takes(g, p, axis: int = -1) -> bool:
    if g.shape != p.shape or g.dtype != p.dtype:
        return False
    if g.ndim == 2 and (axis == -1 or axis == 1):
        return bool(g.shape[1]) and (g.dtype is _FLOAT32 or g.dtype is _FLOAT64)
    return _as_rows(g, axis) is not None


@takes(_log_softmax_backward_takes)
def log_softmax_backward(g, p, axis: int = -1):
    dtype = g.dtype
    rows = g if g.ndim == 2 else _as_rows(g, axis)
    out = np.empty(g.shape, dtype)
    if rows is g:  # p may have any layout: Numba indexes 2-D arrays through their strides
        _log_softmax_backward(g, p, out)
    else:
        cols = g.shape[-1]
        _log_softmax_backward(rows, p.reshape(-1, cols), out.reshape(-1, cols))
    return out


# ---- ReLU and the bias gradient ----------------------------------------------------

_ZERO = {np.dtype(np.float32): np.float32(0), np.dtype(np.float64): np.float64(0)}  # the dtypes the loops take


@_jit()
def _relu(a, y, zero):
    a, y = a.reshape(-1), y.reshape(-1)  # C-contiguous (checked by the caller): flat views, no copies
    for i in numba.prange(a.size):
        v = a[i]
        y[i] = zero if v < zero else v  # PyTorch's relu: -0.0 and NaN pass unchanged


# ReLU runs once per layer of every step: its checks are written out, not delegated to _flat_ok,
# because on small arrays their cost is the kernel's cost. Arrays below 4096 elements never get
# here (kernels/__init__.py registers relu with cpu_from_size): np.maximum is as fast on them.
@takes(lambda a: a.dtype in _ZERO and a.flags.c_contiguous and a.ndim > 0)
def relu(a):
    y = np.empty_like(a)
    _relu(a, y, _ZERO[a.dtype])
    return y


@_jit()
def _relu_backward(g, y, out, zero):
    g, y, out = g.reshape(-1), y.reshape(-1), out.reshape(-1)
    for i in numba.prange(g.size):
        # as PyTorch's threshold_backward: +0 where y <= 0 (whatever g is), g elsewhere (a NaN y passes g)
        out[i] = zero if y[i] <= zero else g[i]


@takes(lambda g, y: g.dtype in _ZERO and y.dtype == g.dtype and g.shape == y.shape and g.ndim > 0
       and g.flags.c_contiguous and y.flags.c_contiguous)
def relu_backward(g, y):
    zero = _ZERO[g.dtype]
    out = np.empty_like(g)
    _relu_backward(g, y, out, zero)
    return out


@_jit(fastmath={"reassoc"})
def _sum_rows(a, out):
    rows, cols = a.shape
    for r in range(rows):
        total = 0.0  # float64, reordered freely (so LLVM vectorises): closer to exact than NumPy's float32 sum
        for j in range(cols):
            total += a[r, j]
        out[r] = total


# NumPy starts a separate inner loop for every row (~40 ns each): on rows shorter than a
# few thousand elements this loop is 2-3x faster at every size measured (benchmarks/kernels.py)
@takes(lambda a: a.ndim == 2 and a.dtype in _ZERO)  # any strides will do: Numba indexes through them
def sum_rows(a):
    out = np.empty(a.shape[0], a.dtype)
    _sum_rows(a, out)
    return out


@_jit()
def _bias_grad(g, out):
    rows, cols = g.shape
    for j in range(cols):
        out[j] = 0
    for r in range(rows):  # row after row, as NumPy reduces axis 0 of wide rows (bitwise equal there)
        for j in range(cols):
            out[j] += g[r, j]


@takes(lambda g: g.ndim == 2 and _flat_ok(g))
def bias_grad(g):
    out = np.empty(g.shape[1], g.dtype)
    _bias_grad(g, out)
    return out


# ---- optimizer updates (in place) ----------------------------------------------------
# The hyperparameters travel as one small array `k` of the parameter's dtype: that casts
# each to the dtype exactly as t(value) would, at a third of the per-call cost (these
# wrappers run once per parameter per step, so their overhead shows at small batches).

def _loop_for(loops: dict, make, options: tuple):
    """The loop `make(*options)` compiles for one option set, made the first time that set is asked for.

    The optimizer updates take their options (weight decay or not, momentum, amsgrad...) as
    constants of a closure: Numba then drops the branches they decide. Taken as run-time flags
    in one loop, LLVM compiled a version of the loop for each flag combination, and a first
    training step waited for all of them (Adam: twice as long). Numba caches each option set's
    loop apart (a closure's values are part of its cache key). A maximize option is not one of
    them: the wrappers negate the gradient as an array of its own, as the references' -grad does,
    since LLVM folds a negation inside the loop into the next operation and a NaN's sign can flip.
    """
    loop = loops.get(options)
    if loop is None:
        loop = loops[options] = make(*options)
    return loop


# Float32 subnormals: the moments of a dead unit decay by beta1 a step into float32's subnormal range
# (about 800 steps) and stay there, and every multiplication or division with a subnormal operand or
# result takes the x86 cores' microcode path (about 200 cycles per vector; additions and conversions
# between float32 and float64 do not). Where a span of exp_avg holds one, Adam's loop runs that span's
# multiplications and division of exp_avg's values in float64 (and the other loops likewise for the state
# that decays in them: SGD's momentum buffer...), where the same magnitudes are normal:
# each exact float32 operand is widened, the float64 result rounded once to float32. As float64 has
# more than twice float32's precision plus two bits, that double rounding gives the float32 operation's
# correctly rounded result (Figueroa, "When is double rounding innocuous?", 1995): the same bits.
SUBNORMAL_SPAN = 256  # elements of exp_avg looked at before the loop updates them, one way or the other
_FLOAT32_MAGNITUDE, _FLOAT32_MANTISSA = 0x7FFFFFFF, 0x007FFFFF  # bit masks
_SMALLEST_NORMAL = _F(2.0**-126)
_FLOAT32_MAX = float(np.finfo(np.float32).max)

# Still weights: a dead unit's exp_avg stays subnormal (its decay rounds to nothing near the smallest subnormal),
# so its Adam step m / (sqrt(v) / bc2 + eps) * step_size is at most about 2**-126 / eps * |step_size|: some 1e-33
# at lr 1e-3, which no weight but a tiny one feels (p - d rounds to p where |d| < ulp(p) / 4). Adam's float64 span
# still computes the moments, but skips the division where every weight of the span is at least STILL_WEIGHTS *
# that bound (ulp(p) > |p| 2**-24, and a factor 2 more for the roundings on the way), every updated exp_avg below
# 2**-126 (or 0) and every second moment used >= 0 (not NaN, so that the denominator is at least eps): the
# weights keep their bits, as they would have computed. _still_weights works the bound out per step. A span where
# only some weights are still (a dead unit's row meeting a live one's, or an input that is always 0, as MNIST's
# border pixels, in every row) runs its weights' update in float32 with the still weights' subnormal exp_avg
# taken as 0, which moves them no more than their own step would.
STILL_WEIGHTS = 2.0**27


@_jit(nogil=True)
def _any_subnormal(bits, start, end) -> bool:
    """Whether float32 bits[start:end] (viewed as uint32) hold a subnormal: magnitude bits 1 to the mantissa's
    all-ones (zero wraps around to the largest value)."""
    found = False
    for i in range(start, end):
        magnitude = bits[i] & numba.uint32(_FLOAT32_MAGNITUDE)
        found |= magnitude - numba.uint32(1) < numba.uint32(_FLOAT32_MANTISSA)
    return found


# The update loops below work through their arrays in blocks of `block` elements, each claimed from
# counters[j] (one counter per array of a group, 0 at the start; _claim_block), and add each block's size to
# the last counter once it is written (block_claims.py): a call with block >= size does the whole array; two
# threads calling with the same counters share the blocks, one from each end of the array.
_FROM_BACK = 1 << 32  # a claim from an array's back, in its counter's high half (a front claim adds 1)


@_jit(nogil=True)
def _claim_block(counters, j, from_back, blocks):
    """The next block of array j for a thread that works through it from the front (0, 1, ...) or from the back
    (blocks - 1, blocks - 2, ...), or -1 once the two ends have met. counters[j] counts the front's claims in its
    low 32 bits and the back's in its high 32, so one atomic add takes a block and sees what the other end took.
    Each thread of a job keeps to the rows of a weight it multiplied in the step's products (see two_ended), so
    those rows do not move between the cores' caches."""
    before = fetch_add(counters, j, _FROM_BACK if from_back else 1)
    front, back = before & 0xFFFFFFFF, before >> 32
    if front + back >= blocks:
        return -1
    return blocks - 1 - back if from_back else front


def _sgd_loop(has_wd: bool, has_momentum: bool, nesterov: bool):
    """SGD's update loop for one option set (see _loop_for); the first step's copy into the buffer stays a flag.

    A dead unit's momentum buffer decays by `momentum` a step into float32's subnormal range and stays there
    (see SUBNORMAL_SPAN's comment): spans whose buffer holds a subnormal multiply by momentum and lr in float64
    and round once, the same bits. `wide` holds the switch (1.0: look for them) and k's momentum and lr as
    float64 (loaded, so LLVM cannot narrow the products back to float32), or zeros (see _sgd_wide)."""
    @_jit(nogil=True)
    def sgd_loop(param, grad, buf, k, wide, first, counters, j, block, from_back=False):
        lr, wd, momentum, damp_keep = k[0], k[1], k[2], k[3]
        momentum_wide, lr_wide = wide[1], wide[2]
        look = has_momentum and not first and wide[0] == 1.0
        buf_bits = buf.view(np.uint32)  # read only where look is on, i.e. for float32 arrays
        n, size = numba.uint64(param.size), numba.uint64(block)  # unsigned: no negative-index wraparound
        span = numba.uint64(SUBNORMAL_SPAN) if look else size
        blocks = numba.int64((n + size - numba.uint64(1)) // size)
        while True:
            taken = _claim_block(counters, j, from_back, blocks)
            if taken < 0:
                return
            start = numba.uint64(taken) * size
            stop = min(start + size, n)
            begin = start
            while start < stop:
                end = min(start + span, stop)
                if look and _any_subnormal(buf_bits, start, end):
                    for i in range(start, end):
                        p = param[i]
                        d = grad[i]
                        if has_wd:
                            d = d + wd * p
                        b = np.float32(np.float64(buf[i]) * momentum_wide)
                        b = b + damp_keep * d
                        buf[i] = b
                        d = d + np.float32(momentum_wide * np.float64(b)) if nesterov else b
                        param[i] = p - np.float32(lr_wide * np.float64(d))
                else:
                    for i in range(start, end):
                        p = param[i]
                        d = grad[i]
                        if has_wd:
                            d = d + wd * p
                        if has_momentum:
                            if first:
                                b = d
                            else:
                                b = buf[i] * momentum
                                b = b + damp_keep * d
                            buf[i] = b
                            d = d + momentum * b if nesterov else b
                        param[i] = p - lr * d
                start = end
            finish(counters, stop - begin)

    return sgd_loop


_SGD_LOOPS: dict = {}  # (has_wd, has_momentum, nesterov) -> its loop


def _sgd_takes(param, grad, momentum_buffer, *, momentum: float, **_) -> bool:
    return _flat_ok(param, grad, momentum_buffer if momentum != 0 else None) and grad.shape == param.shape


@takes(_sgd_takes)
def sgd_update(param, grad, momentum_buffer, *, lr: float, momentum: float, dampening: float,
               weight_decay: float, nesterov: bool, maximize: bool, first_step: bool) -> None:
    sgd_update_group([param], [grad], [momentum_buffer], lr=lr, momentum=momentum, dampening=dampening,
                     weight_decay=weight_decay, nesterov=nesterov, maximize=maximize, first_step=first_step)


def _group_ok(params, grads, *state) -> bool:
    """What a group kernel takes: every array of these lists C-contiguous in params[0]'s float dtype, each
    gradient its parameter's shape. Written out rather than through _flat_ok: it runs at every step."""
    dtype = params[0].dtype
    if dtype.char not in "fd":
        return False
    for arrays in (params, grads, *state):
        for a in arrays:
            if a.dtype != dtype or not a.flags.c_contiguous:
                return False
    for p, g in zip(params, grads):
        if p.shape != g.shape:
            return False
    return True


def _sgd_group_takes(params, grads, momentum_buffers, *, momentum: float, **_) -> bool:
    return _group_ok(params, grads, momentum_buffers) if momentum != 0 else _group_ok(params, grads)


@takes(_sgd_group_takes)
def sgd_update_group(params, grads, momentum_buffers, *, lr: float, momentum: float, dampening: float,
                     weight_decay: float, nesterov: bool, maximize: bool, first_step: bool) -> None:
    has_momentum = momentum != 0
    options = (weight_decay != 0, has_momentum, bool(nesterov) and has_momentum)
    k = np.array([lr, weight_decay, momentum, 1 - dampening], params[0].dtype)
    first = bool(first_step)
    if maximize:
        grads = [np.negative(a) for a in grads]
    p, g = _flat_all(params), _flat_all(grads)
    b = _flat_all(momentum_buffers) if has_momentum else p
    wide = _sgd_wide(k) if has_momentum else _NOT_WIDENED
    sizes = [a.size for a in p]
    split = _block_split(sizes)
    args = _filled_job_args(sizes, split, (p, g, b), k, wide)
    args[ARGS_FIRST] = first
    _run_job(sgd_job(k.dtype, options), args, split, (k, wide))


def _sgd_wide(k: np.ndarray) -> np.ndarray:
    """SGD loop's `wide`: the switch and k's momentum and lr as float64, for float32 with subnormals kept."""
    if k.dtype != np.float32 or denormal.flushing():
        return _NOT_WIDENED
    return np.array([1.0, k[2], k[0], 0.0])




@lazy_jit.deferred(lambda fn: numba.njit(inline="always", nogil=True, error_model="numpy", _nrt=False)(fn))
def _adam_moved(p, m, v, bc2, eps, step_size):
    """The weight p after Adam's step: p - m / (sqrt(v) / bc2 + eps) * step_size, each operation rounded in the
    arrays' dtype, in torch's order."""
    d = np.sqrt(v)
    d = d / bc2
    d = d + eps
    d = m / d
    d = d * step_size
    return p - d


def _adam_loop(decay_mode: int, amsgrad: bool):
    """Adam's update loop for one option set (see _loop_for): decay_mode 0 none, 1 decoupled (AdamW), 2 L2.

    `wide` holds 1.0, k's 1 - beta1 and step size as float64, and the switch (1.0) where the arrays are
    float32 and subnormals are kept (see SUBNORMAL_SPAN's comment), else zeros. Only the operations that
    meet exp_avg's subnormals are widened (v is normal for tens of thousands of steps more). LLVM may
    turn float32(float64(a) * float64(b)) back into a float32 multiplication when both operands are
    widened float32 values; a float64 constant it cannot see, or a product with `one` (which it cannot
    see either: the switch is another element), is not one, so the widened operations stay float64."""
    @_jit(nogil=True)
    def adam_loop(param, grad, m_arr, v_arr, vmax_arr, k, wide, counters, j, block, from_back=False):
        c1, c2, beta2, wd, decay, step_size, bc2, eps = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
        one, c1_wide, step_size_wide = wide[0], wide[1], wide[2]
        look = wide[3] == 1.0  # the switch: look for subnormals in exp_avg
        still_from = np.float32(wide[4])  # a float32 value; NaN: no span is still (the spans run for float32 only)
        smallest_normal, zero = _SMALLEST_NORMAL, np.float32(0.0)
        m_bits = m_arr.view(np.uint32)  # read only where the switch is on, i.e. for float32 arrays
        n, size = numba.uint64(param.size), numba.uint64(block)  # unsigned: no negative-index wraparound
        span = numba.uint64(SUBNORMAL_SPAN) if look else size  # not looking: the whole block in one loop
        blocks = numba.int64((n + size - numba.uint64(1)) // size)
        while True:
            taken = _claim_block(counters, j, from_back, blocks)
            if taken < 0:
                return
            start = numba.uint64(taken) * size
            stop = min(start + size, n)
            begin = start
            while start < stop:
                end = min(start + span, stop)
                subnormal = False
                if look:
                    for i in range(start, end):  # 0 < |m| < 2**-126: magnitude bits 1 to the mantissa's all-ones
                        magnitude = m_bits[i] & numba.uint32(_FLOAT32_MAGNITUDE)
                        subnormal |= magnitude - numba.uint32(1) < numba.uint32(_FLOAT32_MANTISSA)  # 0 wraps around
                if subnormal:
                    still = True  # no weight of the span moves (see STILL_WEIGHTS' comment)
                    narrow = True  # every subnormal exp_avg of the span is a still weight's: float32 for the rest
                    for i in range(start, end):  # the moments first
                        p = param[i]
                        g = grad[i]
                        if decay_mode == 1:  # AdamW: decay the weight itself
                            p = p * decay
                        elif decay_mode == 2:  # Adam: L2 penalty in the gradient
                            g = g + wd * p
                        m = m_arr[i]
                        m = m + np.float32(c1_wide * np.float64(g - m))
                        m_arr[i] = m
                        v = v_arr[i] * beta2
                        v = v + c2 * g * g
                        v_arr[i] = v
                        if amsgrad:
                            vm = vmax_arr[i]
                            if not (vm >= v or vm != vm):  # NumPy's maximum: NaN wins
                                vm = v
                            vmax_arr[i] = vm
                            v = vm
                        unmoved = (v >= zero) & (abs(p) >= still_from)
                        small = abs(m) < smallest_normal
                        still &= small & unmoved
                        narrow &= (not small) | (m == zero) | unmoved
                    if still:
                        if decay_mode == 1:
                            for i in range(start, end):
                                param[i] = param[i] * decay
                    elif narrow:  # the weights in float32, a still weight's subnormal exp_avg taken as +0: its
                        # step rounds away either way (a true zero keeps its sign: -0 - -0 is +0)
                        for i in range(start, end):
                            p = param[i]
                            if decay_mode == 1:
                                p = p * decay
                            m = m_arr[i]
                            if m != zero and abs(m) < smallest_normal:
                                m = zero
                            param[i] = _adam_moved(p, m, vmax_arr[i] if amsgrad else v_arr[i], bc2, eps, step_size)
                    else:
                        for i in range(start, end):  # then the weights, from the moments just written
                            p = param[i]
                            if decay_mode == 1:
                                p = p * decay
                            m = m_arr[i]
                            v = vmax_arr[i] if amsgrad else v_arr[i]
                            d = np.sqrt(v)
                            d = d / bc2
                            d = d + eps
                            d = np.float32(np.float64(m) * one / np.float64(d))
                            d = np.float32(np.float64(d) * step_size_wide)
                            param[i] = p - d
                else:  # the same operations in float32
                    for i in range(start, end):
                        p = param[i]
                        g = grad[i]
                        if decay_mode == 1:
                            p = p * decay
                        elif decay_mode == 2:
                            g = g + wd * p
                        m = m_arr[i]
                        m = m + c1 * (g - m)
                        m_arr[i] = m
                        v = v_arr[i] * beta2
                        v = v + c2 * g * g
                        v_arr[i] = v
                        if amsgrad:
                            vm = vmax_arr[i]
                            if not (vm >= v or vm != vm):
                                vm = v
                            vmax_arr[i] = vm
                            v = vm
                        param[i] = _adam_moved(p, m, v, bc2, eps, step_size)
                start = end
            finish(counters, stop - begin)

    return adam_loop


_ADAM_LOOPS: dict = {}  # (decay_mode, amsgrad) -> its loop


# ---- the optimizer updates' jobs for the spinning team (kernels/spin_team.py) --------------------------------
# A C function of one int64, the address of an int64 args block that the caller fills (_job_args):
ARGS_ARRAYS, ARGS_K, ARGS_WIDE, ARGS_FIRST = 0, 1, 2, 3  # n arrays of each kind, k's and wide's addresses, SGD's first
ARGS_ARRIVED = 4  # the threads that have entered the job so far (see two_ended)
ARGS_COUNTERS = 5  # n claim counters (one per array), then the elements finished (the loop's `counters`)
ARGS_PER_ARRAY = 7  # after the counters, each array's addresses (Adam's param, grad, exp_avg, exp_avg_sq,
ARGS_SIZE, ARGS_BLOCK = 5, 6  # max_exp_avg_sq; SGD's first three), its size and its block (its size, at least 1,
# for an array run whole)
_ADAM_WIDE_LENGTH, _SGD_WIDE_LENGTH = 5, 4  # float64 constants (_widened, _sgd_wide)

# The first thread into an update job (the caller, which the team's matrix products give their first block of rows
# too) claims each array's blocks from its front, the second from its back: the rows of a weight that a core
# multiplied in the step then stay in its cache for their update and for the next step's forward product
# (benchmarks/README.md, "Optimizer jobs claiming from both ends"). False: every thread claims from the fronts, as
# in a job whose arrival count starts past 1 (benchmarks/switch_ab.py flips it in one process). The blocks, and
# so the bits, are the same.
two_ended = True


@lazy_jit.deferred(lambda fn: numba.njit(inline="always", nogil=True)(fn))
def _job_parts(address):
    """A job's args block at `address` as arrays: its head (ARGS_COUNTERS slots), its claim counters, the rows."""
    head = array_at(address, ARGS_COUNTERS, np.int64)
    n = head[ARGS_ARRAYS]
    counters = array_at(address + 8 * ARGS_COUNTERS, n + 1, np.int64)
    rows = array_at(address + 8 * (ARGS_COUNTERS + n + 1), ARGS_PER_ARRAY * n, np.int64)
    return head, counters, rows


def _adam_job(dtype, decay_mode: int, amsgrad: bool):
    """Adam's job for arrays of `dtype` and one option set (see _loop_for): adam_loop over each array of the args
    block in turn, block by block, with the claim counters of the block (each thread that runs the job takes the
    blocks no other took; the blocks, and so the bits, are the same however many threads run it). Compiled when
    first asked for, after Numba's start, and cached on disk where Numba can (_cfunc)."""
    def adam_job(address):
        head, counters, rows = _job_parts(address)
        from_back = fetch_add(head, ARGS_ARRIVED, 1) == 1  # the second thread in (see two_ended)
        k = array_at(head[ARGS_K], 8, dtype)
        wide = array_at(head[ARGS_WIDE], _ADAM_WIDE_LENGTH, np.float64)
        for j in range(head[ARGS_ARRAYS]):
            a = rows[ARGS_PER_ARRAY * j:ARGS_PER_ARRAY * (j + 1)]
            size = a[ARGS_SIZE]
            _job_loop(array_at(a[0], size, dtype), array_at(a[1], size, dtype), array_at(a[2], size, dtype),
                      array_at(a[3], size, dtype), array_at(a[4], size, dtype), k, wide, counters, j, a[ARGS_BLOCK],
                      from_back)

    loop = _loop_for(_ADAM_LOOPS, _adam_loop, (decay_mode, amsgrad))
    return _cfunc(adam_job, f"adam_job_{decay_mode}_{int(amsgrad)}", _job_loop=_inlined(loop))


def _sgd_job(dtype, has_wd: bool, has_momentum: bool, nesterov: bool):
    """SGD's job for arrays of `dtype` and one option set, as _adam_job: sgd_loop over each array of the args block
    (param, grad and momentum_buffer), the first step's flag in the block's head."""
    def sgd_job(address):
        head, counters, rows = _job_parts(address)
        from_back = fetch_add(head, ARGS_ARRIVED, 1) == 1  # the second thread in (see two_ended)
        k = array_at(head[ARGS_K], 4, dtype)
        wide = array_at(head[ARGS_WIDE], _SGD_WIDE_LENGTH, np.float64)
        first = head[ARGS_FIRST] != 0
        for j in range(head[ARGS_ARRAYS]):
            a = rows[ARGS_PER_ARRAY * j:ARGS_PER_ARRAY * (j + 1)]
            size = a[ARGS_SIZE]
            _job_loop(array_at(a[0], size, dtype), array_at(a[1], size, dtype), array_at(a[2], size, dtype), k,
                      wide, first, counters, j, a[ARGS_BLOCK], from_back)

    loop = _loop_for(_SGD_LOOPS, _sgd_loop, (has_wd, has_momentum, nesterov))
    return _cfunc(sgd_job, f"sgd_job_{int(has_wd)}{int(has_momentum)}{int(nesterov)}", _job_loop=_inlined(loop))


_JOBS: dict = {}  # (its factory, dtype char, options) -> the job (a Numba cfunc: .address)


_job_loop = None  # in a job: the loop _cfunc hands it among its globals


def _inlined(loop):
    """The loop's Python function compiled to be inlined into its job: the job then holds its own copy of the loop,
    the same machine code whether compiled now or loaded from the cache. A job that called the loop's dispatcher
    instead ran either that dispatcher's code or a copy made with the job and optimised again with it, depending
    on which the process had loaded first, and the two gave NaNs of other signs where two NaNs meet (15 elements
    in 300,000); so every group update runs its job, on one thread too (_run_job)."""
    return numba.njit(inline="always", error_model="numpy", nogil=True, _nrt=False)(loop.py_func)


def _cfunc(job, name: str, **loops):
    """A team job: Numba's cfunc of `job` with signature void(int64), built now (Numba has started) and cached on
    disk where _jit's loops are, under `name` (one per option set). The loops it calls come as globals of the job
    (`loops` over this module's): Numba's cache key holds the job's closure pickled, and a loop there (a dispatcher,
    pickled with an id of its own process) would make a key no later process finds. The options that pick the
    loops are in `name` instead (Numba caches each name in a file of its own); the dtype stays in the closure."""
    function = _python_types.FunctionType(job.__code__, {**globals(), **loops}, name, job.__defaults__,
                                          job.__closure__)
    function.__qualname__ = name
    return lazy_jit.cached(functools.partial(numba.cfunc, types.void(types.int64)), function, nopython=True,
                           error_model="numpy")


def adam_job(dtype: np.dtype, options: tuple):
    """The Numba cfunc of Adam's job for arrays of this dtype and options (decay_mode, amsgrad: see _adam_job),
    made at its first need."""
    return _JOBS.get((_adam_job, dtype.char, options)) or _job_for(_adam_job, dtype, options)


def sgd_job(dtype: np.dtype, options: tuple):
    """The Numba cfunc of SGD's job for arrays of this dtype and options (has_wd, has_momentum, nesterov)."""
    return _JOBS.get((_sgd_job, dtype.char, options)) or _job_for(_sgd_job, dtype, options)


def _job_for(make, dtype: np.dtype, options: tuple):
    lazy_jit.start()
    job = _JOBS[(make, dtype.char, options)] = make(dtype.type, *options)
    return job


def _run_job(job, args: np.ndarray, split: tuple, constants: tuple, reused: bool = False) -> None:
    """Run a group update's job over its args block (every group update runs its job: see _inlined). On the spinning
    team where the group has shared arrays, the machine has room for a second thread (parallel.machine_has_room:
    sharing on, not overloaded) and the team's helper polls already (spin_team.spinning: a job of the step ran just
    before, a matrix product's). Where it sleeps, the update wakes parallel.share's helper instead: the team's would
    poll for a millisecond after the update, on the core that OpenBLAS's second thread needs for the next step's
    products (taken at every update, the team made the whole step at batch 64 slower: benchmarks/README.md).
    Else on this thread alone. The resident helper may still be leaving the job when share returns (it claims no
    block, but reads the constants k and wide first): its work holds the args block and `constants`; `reused`,
    the args block serves the next call too (AdamGroupPlan), so share gets a copy."""
    if not two_ended:
        args[ARGS_ARRIVED] = 2  # no thread arrives second: every one claims from the fronts
    if not split[1] or not parallel.machine_has_room():
        spin_team.alone(job.address)(args.ctypes.data)
    elif spin_team.spinning():
        spin_team.run(job.address, args)
    else:
        if reused:
            args = args.copy()
        counters, total = args[ARGS_COUNTERS:ARGS_COUNTERS + args[ARGS_ARRAYS] + 1], split[2]
        call, address = spin_team.alone(job.address), args.ctypes.data
        # returns once every block is written: the helper's last ones counted in (_wait_finished), or, if they
        # take too long, once the helper has left the work
        def work(_held=(args, constants)) -> None:  # the helper may run it after share returned: it holds them
            call(address)

        parallel.share(work, lambda: _wait_finished(counters, total, _SPINS))


def _job_args(sizes: list, split: tuple) -> np.ndarray:
    """An args block for a job over arrays of these sizes, in the group's order, split as _block_split says: each
    shared array in blocks (which either thread may take), each other one whole (one block: the array): the blocks,
    and so the bits, do not depend on who runs them. Counters at 0; the addresses still to put (_put_addresses,
    _put_constants)."""
    block, shared = split[:2]
    n = len(sizes)
    args = np.zeros(ARGS_COUNTERS + n + 1 + ARGS_PER_ARRAY * n, np.int64)
    args[ARGS_ARRAYS] = n
    rows = args[ARGS_COUNTERS + n + 1:].reshape(n, ARGS_PER_ARRAY)
    rows[:, ARGS_SIZE] = sizes
    rows[:, ARGS_BLOCK] = [max(size, 1) for size in sizes]
    rows[shared, ARGS_BLOCK] = block
    return args


def _filled_job_args(sizes: list, split: tuple, kinds: tuple, k: np.ndarray, wide: np.ndarray) -> np.ndarray:
    """The args block of a job over a group's flat arrays, `kinds` their lists in the job's order (Adam's param,
    grad, exp_avg, exp_avg_sq, max_exp_avg_sq or exp_avg again; SGD's param, grad, momentum_buffer), k and wide."""
    args = _job_args(sizes, split)
    for kind, arrays in enumerate(kinds):
        _put_addresses(args, kind, tuple(arrays))
    _put_constants(args, k, wide)
    return args


@_jit(nogil=True)
def _put_addresses(args, kind, arrays):
    """Each array's slot `kind` (0 param, 1 grad...) of the args block := the address of arrays[j] (a tuple: one
    call puts a whole list, where NumPy's .ctypes.data takes a microsecond and a half per array)."""
    where = ARGS_COUNTERS + args[ARGS_ARRAYS] + 1 + kind
    for a in numba.literal_unroll(arrays):
        args[where] = a.ctypes.data
        where += ARGS_PER_ARRAY


@_jit(nogil=True)
def _put_constants(args, k, wide):
    """The args block's addresses of k and wide."""
    args[ARGS_K] = k.ctypes.data
    args[ARGS_WIDE] = wide.ctypes.data


@_jit(nogil=True)
def _put_step(args, grads, vmax, k, wide):
    """A planned args block (AdamGroupPlan) made ready for the next step in one call: its counters back to 0, the
    addresses of the step's gradients, of max_exp_avg_sq (or exp_avg where no amsgrad), of k and of wide."""
    for i in range(ARGS_ARRIVED, ARGS_COUNTERS + args[ARGS_ARRAYS] + 1):
        args[i] = 0
    _put_addresses(args, 1, grads)
    _put_addresses(args, 4, vmax)
    _put_constants(args, k, wide)


def _adam_takes(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, amsgrad: bool, **_) -> bool:
    return (_flat_ok(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None)
            and grad.shape == param.shape)


@takes(_adam_takes)
def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step: int, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                decoupled_weight_decay: bool = False) -> None:
    adam_update_group([param], [grad], [exp_avg], [exp_avg_sq], [max_exp_avg_sq], step=step, lr=lr, beta1=beta1,
                      beta2=beta2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                      decoupled_weight_decay=decoupled_weight_decay)


def _adam_group_takes(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, amsgrad: bool, **_) -> bool:
    if amsgrad:
        return _group_ok(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
    return _group_ok(params, grads, exp_avgs, exp_avg_sqs)


@takes(_adam_group_takes)
def adam_update_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, step: int, lr: float,
                      beta1: float, beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                      decoupled_weight_decay: bool = False) -> None:
    options, k, grads = _adam_step(grads, params[0].dtype, step, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                                   decoupled_weight_decay)
    p, g, m, v = _flat_all(params), _flat_all(grads), _flat_all(exp_avgs), _flat_all(exp_avg_sqs)
    vmax = _flat_all(max_exp_avg_sqs) if amsgrad else m
    wide = _wide_constants(k)
    sizes = [a.size for a in p]
    split = _block_split(sizes)
    args = _filled_job_args(sizes, split, (p, g, m, v, vmax), k, wide)
    _run_job(adam_job(k.dtype, options), args, split, (k, wide))


def _adam_step(grads: list, dtype, step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
               amsgrad: bool, maximize: bool, decoupled_weight_decay: bool) -> tuple:
    """What one Adam step over a group needs besides the arrays: its options (decay_mode, amsgrad), the constants k
    and the gradients to use (negated for maximize)."""
    options = (0 if weight_decay == 0 else (1 if decoupled_weight_decay else 2), bool(amsgrad))
    k = np.array([1 - beta1, 1 - beta2, beta2, weight_decay, 1 - lr * weight_decay, lr / (1 - beta1**step),
                  (1 - beta2**step) ** 0.5, eps], dtype)
    return options, k, ([np.negative(a) for a in grads] if maximize else grads)


class AdamGroupPlan:
    """adam_update_group for one group whose parameter and moment arrays stay the same objects from step to step,
    as an optimizer's do: their checks, flat views and sizes are worked out once, and a call checks only the
    gradients, which backward makes anew at every step. `matches` says whether lists still hold these arrays
    (a replaced parameter or state array needs a new plan); a call returns False, having changed nothing, where
    the arrays do not fit the loops: the caller then runs the kernel as usual. Same bits as adam_update_group."""

    def __init__(self, params: list, exp_avgs: list, exp_avg_sqs: list, max_exp_avg_sqs: list):
        self.arrays = (list(params), list(exp_avgs), list(exp_avg_sqs), list(max_exp_avg_sqs))
        has_max = max_exp_avg_sqs[0] is not None
        self.fits = _group_ok(params, params, exp_avgs, exp_avg_sqs, *([max_exp_avg_sqs] if has_max else []))
        self.dtype = params[0].dtype
        self.shapes = [p.shape for p in params]
        self.flat = [_flat_all(arrays) for arrays in self.arrays[:3]]
        self.flat_max = _flat_all(max_exp_avg_sqs) if has_max else None
        self.sizes = [p.size for p in params]
        self.blocks: tuple = (None, None, None)  # (BLOCK_ELEMENTS, SHARE_FROM), _block_split, the job's args

    def matches(self, params: list, exp_avgs: list, exp_avg_sqs: list, max_exp_avg_sqs: list) -> bool:
        planned = self.arrays
        return (len(params) == len(planned[0]) and all(map(_is, params, planned[0]))
                and all(map(_is, exp_avgs, planned[1])) and all(map(_is, exp_avg_sqs, planned[2]))
                and all(map(_is, max_exp_avg_sqs, planned[3])))

    def __call__(self, grads: list, step: int, lr: float, beta1: float, beta2: float, eps: float,
                 weight_decay: float, amsgrad: bool, maximize: bool, decoupled_weight_decay: bool) -> bool:
        if not self.fits or (amsgrad and self.flat_max is None):
            return False
        dtype = self.dtype
        for g, shape in zip(grads, self.shapes):
            if g.dtype != dtype or not g.flags.c_contiguous or g.shape != shape:
                return False
        self.update(grads, step, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay)
        return True

    def update(self, grads: list, step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
               amsgrad: bool, maximize: bool, decoupled_weight_decay: bool) -> None:
        """The call's update without its checks, for a caller that has made them (optim/adam_bound.py: gradients
        of the planned dtype, shapes and C layout; amsgrad only where the plan has max_exp_avg_sq)."""
        options, k, grads = _adam_step(grads, self.dtype, step, lr, beta1, beta2, eps, weight_decay, amsgrad,
                                       maximize, decoupled_weight_decay)
        g = _flat_all(grads)
        p, m, v = self.flat
        vmax = self.flat_max if amsgrad else m
        wide = _wide_constants(k)
        split, args = self._split()
        _put_step(args, tuple(g), tuple(vmax), k, wide)  # one args block per plan (see _run_job's `reused`)
        _run_job(adam_job(k.dtype, options), args, split, (k, wide), reused=True)

    def _split(self) -> tuple:
        """_block_split of the arrays, and the args block of Adam's job with the planned arrays' addresses (the
        gradients', max_exp_avg_sq's, k's and wide's put by each call, _put_step), made again only when the block
        settings change."""
        settings = (parallel.BLOCK_ELEMENTS, parallel.SHARE_FROM)
        if self.blocks[0] != settings:
            split = _block_split(self.sizes)
            args = _job_args(self.sizes, split)
            for kind, arrays in zip((0, 2, 3), self.flat):
                _put_addresses(args, kind, tuple(arrays))
            self.blocks = (settings, split, args)
        return self.blocks[1:]


adam_update_group.prepare = AdamGroupPlan  # what Adam keeps per parameter group (optim/adam.py)

_NOT_WIDENED = np.zeros(5)  # the switch off: float64 arrays (no wider type), or subnormals flushed anyway


def _wide_constants(k: np.ndarray) -> np.ndarray:
    """Adam loop's `wide` argument: the float64 spans switched on for float32 arrays while subnormals are kept."""
    return _widened(k) if k.dtype == np.float32 and not denormal.flushing() else _NOT_WIDENED


def _widened(k: np.ndarray) -> np.ndarray:
    """The float64 constants of Adam's loop for spans with subnormal moments: 1.0, k's 1 - beta1 and step size
    (each the float32 value exactly), 1.0 again as the switch that turns the look on, and _still_weights(k)."""
    return np.array((1.0, k[0], k[5], 1.0, _still_weights(k)))  # float64: k's float32 values exactly


def _still_weights(k: np.ndarray) -> float:
    """A |weight| from which Adam's step with float32 constants k cannot move a weight whose exp_avg is below 2**-126
    (see STILL_WEIGHTS' comment), a little above the bound so that the loop's float32 of it is not below; NaN where
    no such bound holds (eps <= 0, bc2 not a positive number, a step size or bound that is not finite in float32).
    Plain float arithmetic: it runs at every step."""
    step_size, bc2, eps = k[5:8].tolist()
    if not (eps > 0 and 0 < bc2 < math.inf and -math.inf < step_size < math.inf):
        return math.nan
    largest_step = 2.0**-126 / eps * abs(step_size) * 2 + 2.0**-149 * (2 * abs(step_size) + 1)  # roundings in
    still = largest_step * STILL_WEIGHTS * (1 + 2.0**-20)  # float32 rounds it by at most 2**-24 of it
    return still if still < _FLOAT32_MAX / 2 else math.nan


def _wide_switch(k: np.ndarray, picks: tuple) -> np.ndarray:
    """A loop's `wide` argument (see SUBNORMAL_SPAN's comment): the switch (1.0: look for subnormals), 1.0 and
    k[picks] as float64 where k is float32 and subnormals are kept; zeros (the float32 path only) else. Loaded
    from memory, the float64 constants keep LLVM from narrowing a widened product back to float32."""
    wide = np.zeros(2 + len(picks))
    if k.dtype == np.float32 and not denormal.flushing():
        wide[0] = wide[1] = 1.0
        wide[2:] = k[list(picks)]
    return wide


def _block_split(sizes: list) -> tuple:
    """How a group's job runs arrays of these sizes (_job_args): (block, the arrays shared with a second thread, in
    blocks; the others run whole, the group's elements in all). A group too small to share runs every array whole;
    else the arrays of more than one block are shared."""
    block = parallel.BLOCK_ELEMENTS
    shared = [j for j, size in enumerate(sizes) if size > block] if sum(sizes) >= parallel.SHARE_FROM else []
    return block, shared, sum(sizes)


_SPINS = 1 << 14  # pause instructions: about 0.4 ms on Zen 3 (25 ns each), then the caller blocks instead


@_jit(nogil=True)
def _wait_finished(counters, total, spins) -> bool:
    """Spin (without the GIL) until counters[-1], the elements the loops have written, reaches total; False if
    it has not after `spins` pauses."""
    for _ in range(spins):
        if finished(counters) >= total:
            return True
        pause()
    return finished(counters) >= total


def _rmsprop_loop(has_wd: bool, centered: bool, has_momentum: bool):
    """RMSprop's loop for one option set (see _loop_for; as run-time flags, the loop with its float64 spans kept
    LLVM from vectorising it). Spans where square_avg, grad_avg or the momentum buffer (each decays without a
    gradient) holds a float32 subnormal run the operations on them in float64 and round once (see
    SUBNORMAL_SPAN's comment and _wide_switch: wide = switch, 1.0, alpha, 1 - alpha, momentum, lr)."""
    @_jit(nogil=True)
    def rmsprop_loop(param, grad, sq_arr, ga_arr, buf_arr, k, wide, neg):
        alpha, c1, wd, eps, lr, momentum = k[0], k[1], k[2], k[3], k[4], k[5]
        one, alpha_w, c1_w, momentum_w, lr_w = wide[1], wide[2], wide[3], wide[4], wide[5]
        look = wide[0] == 1.0
        sq_bits, ga_bits, buf_bits = sq_arr.view(np.uint32), ga_arr.view(np.uint32), buf_arr.view(np.uint32)
        n = numba.uint64(param.size)  # unsigned indices: no negative-index wraparound, which stops vectorising
        span = numba.uint64(SUBNORMAL_SPAN) if look else max(n, numba.uint64(1))
        start = numba.uint64(0)
        while start < n:
            end = min(start + span, n)
            if look and (_any_subnormal(sq_bits, start, end) or (centered and _any_subnormal(ga_bits, start, end))
                         or (has_momentum and _any_subnormal(buf_bits, start, end))):
                for i in range(start, end):
                    p = param[i]
                    g = -grad[i] if neg else grad[i]
                    if has_wd:
                        g = g + wd * p
                    s = np.float32(np.float64(sq_arr[i]) * alpha_w)
                    s = s + c1 * g * g
                    sq_arr[i] = s
                    if centered:
                        a = ga_arr[i]
                        a = a + np.float32(c1_w * np.float64(g - a))
                        ga_arr[i] = a
                        avg = np.float32(np.float64(a) * one * np.float64(a))
                        avg = s - avg
                    else:
                        avg = s
                    avg = np.float32(np.sqrt(np.float64(avg) * one))
                    avg = avg + eps
                    if has_momentum:
                        b = np.float32(np.float64(buf_arr[i]) * momentum_w)
                        b = b + g / avg
                        buf_arr[i] = b
                        param[i] = p - np.float32(lr_w * np.float64(b))
                    else:
                        d = g / avg
                        d = np.float32(np.float64(d) * lr_w)
                        param[i] = p - d
            else:
                for i in range(start, end):
                    p = param[i]
                    g = -grad[i] if neg else grad[i]
                    if has_wd:
                        g = g + wd * p
                    s = sq_arr[i] * alpha
                    s = s + c1 * g * g
                    sq_arr[i] = s
                    if centered:
                        a = ga_arr[i]
                        a = a + c1 * (g - a)
                        ga_arr[i] = a
                        avg = a * a
                        avg = s - avg
                        avg = np.sqrt(avg)
                    else:
                        avg = np.sqrt(s)
                    avg = avg + eps
                    if has_momentum:
                        b = buf_arr[i] * momentum
                        b = b + g / avg
                        buf_arr[i] = b
                        param[i] = p - lr * b
                    else:
                        d = g / avg
                        d = d * lr
                        param[i] = p - d
            start = end

    return rmsprop_loop


_RMSPROP_LOOPS: dict = {}  # (has_wd, centered, has_momentum) -> its loop


def _rmsprop_takes(param, grad, square_avg, grad_avg, momentum_buffer, *, momentum: float, centered: bool,
                   **_) -> bool:
    return (_flat_ok(param, grad, square_avg, grad_avg if centered else None,
                     momentum_buffer if momentum > 0 else None) and grad.shape == param.shape)


@takes(_rmsprop_takes)
def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, *, lr: float, alpha: float, eps: float,
                   weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    has_momentum = momentum > 0
    k = np.array([alpha, 1 - alpha, weight_decay, eps, lr, momentum], param.dtype)
    options = (weight_decay != 0, bool(centered), has_momentum)
    loop = _RMSPROP_LOOPS.get(options) or _loop_for(_RMSPROP_LOOPS, _rmsprop_loop, options)
    sq = _flat(square_avg)
    loop(_flat(param), _flat(grad), sq, _flat(grad_avg) if centered else sq,
         _flat(momentum_buffer) if has_momentum else sq, k, _wide_switch(k, (0, 1, 5, 4)), bool(maximize))


@_jit()
def _adagrad(param, grad, sum_arr, k, neg, has_wd):
    wd, clr, eps = k[0], k[1], k[2]
    for i in numba.prange(param.size):
        p = param[i]
        g = -grad[i] if neg else grad[i]
        if has_wd:
            g = g + wd * p
        s = sum_arr[i] + g * g
        sum_arr[i] = s
        d = np.sqrt(s)
        d = d + eps
        d = g / d
        d = d * clr
        param[i] = p - d


@takes(lambda param, grad, state_sum, **_: _flat_ok(param, grad, state_sum) and grad.shape == param.shape)
def adagrad_update(param, grad, state_sum, *, step: int, lr: float, lr_decay: float, weight_decay: float,
                   eps: float, maximize: bool) -> None:
    k = np.array([weight_decay, lr / (1 + (step - 1) * lr_decay), eps], param.dtype)
    _adagrad(_flat(param), _flat(grad), _flat(state_sum), k, bool(maximize), weight_decay != 0)


def _adadelta_loop(has_wd: bool):
    """Adadelta's loop for one option set (see _loop_for). Both running averages decay by rho without a gradient:
    spans where either holds a float32 subnormal multiply them by rho in float64 and round once (see
    SUBNORMAL_SPAN's comment and _wide_switch: wide = switch, 1.0, rho)."""
    @_jit(nogil=True)
    def adadelta_loop(param, grad, v_arr, u_arr, k, wide):
        wd, rho, c, eps, neg_lr = k[0], k[1], k[2], k[3], k[4]
        rho_w = wide[2]
        look = wide[0] == 1.0
        v_bits, u_bits = v_arr.view(np.uint32), u_arr.view(np.uint32)  # read only where look is on: float32
        n = numba.uint64(param.size)  # unsigned indices: no negative-index wraparound, which stops vectorising
        span = numba.uint64(SUBNORMAL_SPAN) if look else max(n, numba.uint64(1))
        start = numba.uint64(0)
        while start < n:
            end = min(start + span, n)
            if look and (_any_subnormal(v_bits, start, end) or _any_subnormal(u_bits, start, end)):
                for i in range(start, end):
                    p = param[i]
                    g = grad[i]
                    if has_wd:
                        g = g + wd * p
                    v = np.float32(np.float64(v_arr[i]) * rho_w)
                    v = v + c * g * g
                    v_arr[i] = v
                    d = np.sqrt(u_arr[i] + eps)
                    d = d / np.sqrt(v + eps)
                    d = d * g
                    u = np.float32(np.float64(u_arr[i]) * rho_w)
                    u_arr[i] = u + c * d * d
                    param[i] = p + neg_lr * d
            else:
                for i in range(start, end):
                    p = param[i]
                    g = grad[i]
                    if has_wd:
                        g = g + wd * p
                    v = v_arr[i] * rho
                    v = v + c * g * g
                    v_arr[i] = v
                    d = np.sqrt(u_arr[i] + eps)
                    d = d / np.sqrt(v + eps)
                    d = d * g
                    u = u_arr[i] * rho
                    u_arr[i] = u + c * d * d
                    param[i] = p + neg_lr * d
            start = end

    return adadelta_loop


_ADADELTA_LOOPS: dict = {}  # (has_wd,) -> its loop


def _update_takes(param, grad, *state, **_) -> bool:
    """What the later optimizer kernels take: the gradient and every state array like the parameter."""
    return _flat_ok(param, grad, *state) and grad.shape == param.shape


@takes(_update_takes)
def adadelta_update(param, grad, square_avg, acc_delta, *, lr: float, rho: float, eps: float, weight_decay: float,
                    maximize: bool) -> None:
    options = (weight_decay != 0,)
    loop = _ADADELTA_LOOPS.get(options) or _loop_for(_ADADELTA_LOOPS, _adadelta_loop, options)
    k = np.array([weight_decay, rho, 1 - rho, eps, -lr], param.dtype)
    if maximize:  # an array of its own, as the reference's -grad (see _loop_for)
        grad = np.negative(grad)
    loop(_flat(param), _flat(grad), _flat(square_avg), _flat(acc_delta), k, _wide_switch(k, (1,)))


def _lerp_constants(weight: float, dtype) -> tuple:
    """(low, w, 1 - w) for torch's two lerp branches (see reference.lerp_), cast as NumPy casts them."""
    return abs(weight) < 0.5, np.array([weight, 1 - weight], dtype)


@_jit()
def _adamax(param, grad, m_arr, u_arr, k, wide, neg, has_wd, low):
    """Adamax's loop; spans where exp_avg holds a float32 subnormal (exp_inf >= eps does not decay past it) run
    the operations on exp_avg in float64 and round once (see SUBNORMAL_SPAN's comment and _wide_switch: wide =
    switch, 1.0, w, 1 - w, -lr / bias correction)."""
    wd, w, w_rest, beta2, eps, neg_clr = k[0], k[1], k[2], k[3], k[4], k[5]
    one, w_w, w_rest_w, neg_clr_w = wide[1], wide[2], wide[3], wide[4]
    look = wide[0] == 1.0
    m_bits = m_arr.view(np.uint32)
    n = numba.uint64(param.size)  # unsigned indices: no negative-index wraparound, which stops vectorising
    span = numba.uint64(SUBNORMAL_SPAN) if look else max(n, numba.uint64(1))
    start = numba.uint64(0)
    while start < n:
        end = min(start + span, n)
        if look and _any_subnormal(m_bits, start, end):
            for i in range(start, end):
                p = param[i]
                g = -grad[i] if neg else grad[i]
                if has_wd:
                    g = g + wd * p
                m = m_arr[i]
                if low:
                    m = m + np.float32(w_w * np.float64(g - m))
                else:
                    m = g - np.float32(np.float64(g - m) * w_rest_w)
                m_arr[i] = m
                u = u_arr[i] * beta2
                a = abs(g) + eps
                if not (u >= a or u != u):
                    u = a
                u_arr[i] = u
                d = np.float32(neg_clr_w * np.float64(m))
                param[i] = p + np.float32(np.float64(d) * one / np.float64(u))
        else:
            for i in range(start, end):
                p = param[i]
                g = -grad[i] if neg else grad[i]
                if has_wd:
                    g = g + wd * p
                m = m_arr[i]
                m = m + w * (g - m) if low else g - (g - m) * w_rest
                m_arr[i] = m
                u = u_arr[i] * beta2
                a = abs(g) + eps
                if not (u >= a or u != u):  # NumPy's maximum: NaN wins
                    u = a
                u_arr[i] = u
                param[i] = p + neg_clr * m / u
        start = end


@takes(_update_takes)
def adamax_update(param, grad, exp_avg, exp_inf, *, step: int, lr: float, beta1: float, beta2: float, eps: float,
                  weight_decay: float, maximize: bool) -> None:
    low, lerp = _lerp_constants(1 - beta1, param.dtype)
    k = np.array([weight_decay, lerp[0], lerp[1], beta2, eps, -(lr / (1 - beta1**step))], param.dtype)
    _adamax(_flat(param), _flat(grad), _flat(exp_avg), _flat(exp_inf), k, _wide_switch(k, (1, 2, 5)),
            bool(maximize), weight_decay != 0, low)


@_jit()
def _nadam(param, grad, m_arr, v_arr, k, wide, neg, decay_mode, low):
    """NAdam's loop; spans where exp_avg holds a float32 subnormal (exp_avg_sq, decaying by beta2, stays normal
    far longer) run the operations on exp_avg in float64 and round once (see SUBNORMAL_SPAN's comment and
    _wide_switch: wide = switch, 1.0, w, 1 - w, the momentum term's coefficient)."""
    wd, decay, w, w_rest, beta2, c2, bc2, eps, coef_g, coef_m = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], \
        k[8], k[9]
    one, w_w, w_rest_w, coef_m_w = wide[1], wide[2], wide[3], wide[4]
    look = wide[0] == 1.0
    m_bits = m_arr.view(np.uint32)
    n = numba.uint64(param.size)  # unsigned indices: no negative-index wraparound, which stops vectorising
    span = numba.uint64(SUBNORMAL_SPAN) if look else max(n, numba.uint64(1))
    start = numba.uint64(0)
    while start < n:
        end = min(start + span, n)
        if look and _any_subnormal(m_bits, start, end):
            for i in range(start, end):
                p = param[i]
                g = -grad[i] if neg else grad[i]
                if decay_mode == 1:
                    p = p * decay
                elif decay_mode == 2:
                    g = g + wd * p
                m = m_arr[i]
                if low:
                    m = m + np.float32(w_w * np.float64(g - m))
                else:
                    m = g - np.float32(np.float64(g - m) * w_rest_w)
                m_arr[i] = m
                v = v_arr[i] * beta2
                v = v + c2 * g * g
                v_arr[i] = v
                d = np.sqrt(v / bc2)
                d = d + eps
                p = p + coef_g * g / d
                e = np.float32(coef_m_w * np.float64(m))
                param[i] = p + np.float32(np.float64(e) * one / np.float64(d))
        else:
            for i in range(start, end):
                p = param[i]
                g = -grad[i] if neg else grad[i]
                if decay_mode == 1:  # decoupled: decay the weight itself
                    p = p * decay
                elif decay_mode == 2:  # L2 penalty in the gradient
                    g = g + wd * p
                m = m_arr[i]
                m = m + w * (g - m) if low else g - (g - m) * w_rest
                m_arr[i] = m
                v = v_arr[i] * beta2
                v = v + c2 * g * g
                v_arr[i] = v
                d = np.sqrt(v / bc2)
                d = d + eps
                p = p + coef_g * g / d
                param[i] = p + coef_m * m / d
        start = end


@takes(_update_takes)
def nadam_update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, mu: float, mu_next: float, mu_product: float,
                 decoupled_weight_decay: bool, maximize: bool) -> None:
    decay_mode = 0 if weight_decay == 0 else (1 if decoupled_weight_decay else 2)
    low, lerp = _lerp_constants(1 - beta1, param.dtype)
    k = np.array([weight_decay, 1 - lr * weight_decay, lerp[0], lerp[1], beta2, 1 - beta2, 1 - beta2**step, eps,
                  -lr * (1.0 - mu) / (1.0 - mu_product), -lr * mu_next / (1.0 - mu_product * mu_next)], param.dtype)
    _nadam(_flat(param), _flat(grad), _flat(exp_avg), _flat(exp_avg_sq), k, _wide_switch(k, (2, 3, 9)),
           bool(maximize), decay_mode, low)


@_jit()
def _radam(param, grad, m_arr, v_arr, k, wide, neg, decay_mode, low, rectified):
    """RAdam's loop; spans where exp_avg holds a float32 subnormal run the operations on exp_avg in float64 and
    round once (see SUBNORMAL_SPAN's comment and _wide_switch: wide = switch, 1.0, w, 1 - w, the bias
    correction, lr, the rectification)."""
    wd, decay, w, w_rest, beta2, c2, bc1, lr, sqrt_bc2, eps, rect = k[0], k[1], k[2], k[3], k[4], k[5], k[6], \
        k[7], k[8], k[9], k[10]
    one, w_w, w_rest_w, bc1_w, lr_w, rect_w = wide[1], wide[2], wide[3], wide[4], wide[5], wide[6]
    look = wide[0] == 1.0
    m_bits = m_arr.view(np.uint32)
    n = numba.uint64(param.size)  # unsigned indices: no negative-index wraparound, which stops vectorising
    span = numba.uint64(SUBNORMAL_SPAN) if look else max(n, numba.uint64(1))
    start = numba.uint64(0)
    while start < n:
        end = min(start + span, n)
        if look and _any_subnormal(m_bits, start, end):
            for i in range(start, end):
                p = param[i]
                g = -grad[i] if neg else grad[i]
                if decay_mode == 1:
                    p = p * decay
                elif decay_mode == 2:
                    g = g + wd * p
                m = m_arr[i]
                if low:
                    m = m + np.float32(w_w * np.float64(g - m))
                else:
                    m = g - np.float32(np.float64(g - m) * w_rest_w)
                m_arr[i] = m
                v = v_arr[i] * beta2
                v = v + c2 * g * g
                v_arr[i] = v
                d = np.float32(np.float64(m) / bc1_w)
                d = np.float32(np.float64(d) * lr_w)
                if rectified:
                    d = np.float32(np.float64(d) * one * np.float64(sqrt_bc2 / (np.sqrt(v) + eps)))
                    d = np.float32(np.float64(d) * rect_w)
                param[i] = p - d
        else:
            for i in range(start, end):
                p = param[i]
                g = -grad[i] if neg else grad[i]
                if decay_mode == 1:
                    p = p * decay
                elif decay_mode == 2:
                    g = g + wd * p
                m = m_arr[i]
                m = m + w * (g - m) if low else g - (g - m) * w_rest
                m_arr[i] = m
                v = v_arr[i] * beta2
                v = v + c2 * g * g
                v_arr[i] = v
                d = m / bc1
                d = d * lr
                if rectified:
                    d = d * (sqrt_bc2 / (np.sqrt(v) + eps))
                    d = d * rect
                param[i] = p - d
        start = end


@takes(_update_takes)
def radam_update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, decoupled_weight_decay: bool, maximize: bool) -> None:
    decay_mode = 0 if weight_decay == 0 else (1 if decoupled_weight_decay else 2)
    low, lerp = _lerp_constants(1 - beta1, param.dtype)
    rect = reference.radam_rectification(step, beta2)
    k = np.array([weight_decay, 1 - lr * weight_decay, lerp[0], lerp[1], beta2, 1 - beta2, 1 - beta1**step, lr,
                  (1 - beta2**step) ** 0.5, eps, 0.0 if rect is None else rect], param.dtype)
    _radam(_flat(param), _flat(grad), _flat(exp_avg), _flat(exp_avg_sq), k, _wide_switch(k, (2, 3, 6, 7, 10)),
           bool(maximize), decay_mode, low, rect is not None)


@_jit()
def _lion(param, grad, m_arr, k, wide, neg):
    """Lion's loop; spans where exp_avg (decaying by beta2 without a gradient) holds a float32 subnormal multiply
    it by beta1 and beta2 in float64 and round once (see SUBNORMAL_SPAN's comment and _wide_switch: wide =
    switch, 1.0, beta1, beta2)."""
    decay, beta1, c1, neg_lr, beta2, c2, one = k[0], k[1], k[2], k[3], k[4], k[5], k[6]
    beta1_w, beta2_w = wide[2], wide[3]
    look = wide[0] == 1.0
    m_bits = m_arr.view(np.uint32)
    n = numba.uint64(param.size)  # unsigned indices: no negative-index wraparound, which stops vectorising
    span = numba.uint64(SUBNORMAL_SPAN) if look else max(n, numba.uint64(1))
    start = numba.uint64(0)
    while start < n:
        end = min(start + span, n)
        if look and _any_subnormal(m_bits, start, end):
            for i in range(start, end):
                g = -grad[i] if neg else grad[i]
                p = param[i] * decay
                m = m_arr[i]
                c = np.float32(np.float64(m) * beta1_w)
                c = c + c1 * g
                s = one if c > 0 else (-one if c < 0 else c)
                param[i] = p + neg_lr * s
                m = np.float32(np.float64(m) * beta2_w)
                m_arr[i] = m + c2 * g
        else:
            for i in range(start, end):
                g = -grad[i] if neg else grad[i]
                p = param[i] * decay
                m = m_arr[i]
                c = m * beta1
                c = c + c1 * g
                s = one if c > 0 else (-one if c < 0 else c)  # np.sign in the array's dtype: 0 and NaN stay
                param[i] = p + neg_lr * s
                m = m * beta2
                m_arr[i] = m + c2 * g
        start = end


@takes(_update_takes)
def lion_update(param, grad, exp_avg, *, lr: float, beta1: float, beta2: float, weight_decay: float,
                maximize: bool) -> None:
    k = np.array([1 - lr * weight_decay, beta1, 1 - beta1, -lr, beta2, 1 - beta2, 1.0], param.dtype)
    _lion(_flat(param), _flat(grad), _flat(exp_avg), k, _wide_switch(k, (1, 4)), bool(maximize))


@_jit()
def _schedule_free_adamw(param, grad, z_arr, v_arr, k, has_wd, low):
    beta2, c2, bc2, eps, wd, w, w_rest, coef_y, lr = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
    for i in numba.prange(param.size):
        g = grad[i]
        y = param[i]
        z = z_arr[i]
        v = v_arr[i] * beta2
        v = v + c2 * g * g
        v_arr[i] = v
        d = np.sqrt(v / bc2)
        d = d + eps
        u = g / d
        if has_wd:
            u = u + wd * y
        y = y + w * (z - y) if low else z - (z - y) * w_rest
        param[i] = y + coef_y * u
        z_arr[i] = z - lr * u


@takes(_update_takes)
def schedule_free_adamw_update(param, grad, z, exp_avg_sq, *, lr: float, beta1: float, beta2: float, eps: float,
                               weight_decay: float, ckp1: float, bias_correction2: float) -> None:
    low, lerp = _lerp_constants(ckp1, param.dtype)
    k = np.array([beta2, 1 - beta2, bias_correction2, eps, weight_decay, lerp[0], lerp[1],
                  lr * (beta1 * (1 - ckp1) - 1), lr], param.dtype)
    _schedule_free_adamw(_flat(param), _flat(grad), _flat(z), _flat(exp_avg_sq), k, weight_decay != 0, low)


# ---- pruning masks -------------------------------------------------------------------

@_jit()
def _apply_bool_mask(w, mask, out, zero):
    for i in numba.prange(w.size):
        out[i] = w[i] if mask[i] else w[i] * zero


# A boolean mask selects in one pass; a mask of w's dtype is NumPy's multiply, already one pass
# (a Numba loop measured no faster: benchmarks/kernels.py), so it goes to the reference.
@takes(lambda w, mask: mask.dtype == np.bool_ and w.shape == mask.shape and _flat_ok(w) and mask.flags.c_contiguous)
def apply_mask(w, mask):
    out = np.empty_like(w)
    _apply_bool_mask(_flat(w), _flat(mask), _flat(out), w.dtype.type(0))
    return out


# ---- dropout -------------------------------------------------------------------------

_GOLDEN = np.uint64(reference.GOLDEN)
_MIX1 = np.uint64(reference.MIX1)
_MIX2 = np.uint64(reference.MIX2)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)


@_jit()
def _dropout(x, out, seed, threshold, scale, zero):
    for i in numba.prange(x.size):
        z = np.uint64(i + 1) * _GOLDEN + seed  # splitmix64 of the element's counter
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
        z = z ^ (z >> _S31)
        out[i] = x[i] * scale if (z >> _S32) >= threshold else x[i] * zero


@takes(lambda x, seed, p: x.dtype.char in "fd")
def dropout(x, seed: int, p: float):
    if not x.flags.c_contiguous:
        x = x.copy(order="C")  # the loop walks the logical (C-order) element index
    out = np.empty_like(x)
    t = x.dtype.type
    _dropout(x.reshape(-1), out.reshape(-1), np.uint64(seed), np.uint64(reference.dropout_threshold(p)),
             t(1.0 / (1.0 - p)), t(0))
    return out


# ---- gradient norm for clipping ------------------------------------------------------

@_jit(fastmath={"reassoc", "contract"})  # reassociation lets LLVM vectorise the sum (and use FMA); NaN
def _sum_squares(x):                        # and inf still propagate
    s = 0.0
    for i in range(x.size):
        v = np.float64(x[i])
        s += v * v
    return s


@_jit(fastmath={"reassoc", "contract"})
def _sum_abs(x):
    s = 0.0
    for i in range(x.size):
        s += abs(np.float64(x[i]))
    return s


@_jit()
def _max_abs(x):
    m = 0.0
    for i in range(x.size):
        a = abs(np.float64(x[i]))
        if a > m or a != a:
            m = a
            if a != a:
                return a
    return m


@takes(lambda grads, norm_type: norm_type in (2.0, 1.0, math.inf) and all(g.dtype.char in "fd" for g in grads))
def grad_norm(grads: list, norm_type: float):
    """The total 2-, 1- or inf-norm in float64 accumulators, one pass per array; other norms: reference."""
    flats = [g.reshape(-1) if g.flags.c_contiguous else np.ravel(g) for g in grads]
    if norm_type == 2.0:
        total = math.sqrt(sum(_sum_squares(f) for f in flats))
    elif norm_type == 1.0:
        total = sum(_sum_abs(f) for f in flats)
    else:
        total = np.max([_max_abs(f) for f in flats])  # NumPy's max: a NaN anywhere wins
    return np.asarray(total, dtype=grads[0].dtype)


# ---- error function (GELU) -------------------------------------------------------------

@_jit()
def _erf(x, out):
    for i in numba.prange(x.size):
        out[i] = math.erf(x[i])


@takes(lambda x: _flat_ok(x))
def erf(x):
    """reference.erf in one compiled loop (math.erf in Numba is libm's erf / erff)."""
    out = np.empty_like(x)
    _erf(_flat(x), _flat(out))
    return out


# ---- int8 matrix product -------------------------------------------------------------

# Below this many rows the serial loop beats the float GEMM (one sample: 44 us vs 75 us on
# the 784-256-10 MLP); above it BLAS wins (batch 1000: 7.4 ms vs 10.5 ms): benchmarks/compression.py
INT8_LOOP_ROWS = 256


@_jit()
def _int8_matmul(x, w, out):
    n, k = x.shape
    m = w.shape[0]
    for i in range(n):
        for j in range(m):
            acc = np.int32(0)
            for t in range(k):
                acc += np.int32(x[i, t]) * np.int32(w[j, t])
            out[i, j] = acc


def int8_matmul_loop(x, w):
    """The serial int32-accumulating loop over contiguous int8 rows (any number of rows)."""
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.int32)
    _int8_matmul(np.ascontiguousarray(x), np.ascontiguousarray(w), out)
    return out


@takes(lambda x, w: x.dtype == np.int8 and w.dtype == np.int8 and x.ndim == 2 and w.ndim == 2)
def int8_matmul(x, w):
    if x.shape[0] < INT8_LOOP_ROWS:
        return int8_matmul_loop(x, w)
    return reference.int8_matmul_via_float(x, w)
