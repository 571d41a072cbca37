"""int8 x int8 -> int32 matrix products: out[i, j] = sum_k int32(x[i, k]) * int32(w[j, k]).

Three ways to compute exactly the same integers (w is (out, in), as a Linear weight):
- "numpy":  x.astype(int32) @ w.T.astype(int32). NumPy has no integer BLAS, so this runs
            its generic loop; it is the reference.
- "numba":  a serial Numba kernel, int32 accumulators, the inner product over contiguous
            int8 rows of x and w.
- "blas":   a float GEMM on the int8 values. Every partial sum is an integer of magnitude
            at most K * 127 * 127, exactly representable in float32 while that is below
            2**24 (K <= 1040) and in float64 up to K ~ 5.6e11, so casting the result to
            int32 gives the same integers as int32 accumulation, with BLAS's speed.
All three give identical integers. Measured on the project's 2-core machine with one thread
(784-256-10 MLP, whole quantized forward): "numpy" is 15-20x slower than the others; "numba"
is fastest for a single sample (44 us vs 75 us), "blas" for large batches (7.4 ms vs 10.5 ms
at batch 1000).
"auto" therefore picks "numba" below AUTO_BLAS_ROWS rows on the CPU and "blas" otherwise
(always "blas" on the GPU); benchmarks/compression.py re-measures all three.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module

BACKENDS = ("auto", "numpy", "numba", "blas")
AUTO_BLAS_ROWS = 256
_FLOAT32_EXACT = 2 ** 24  # float32 represents every integer up to this exactly

_numba_kernel = None


def _get_numba_kernel():
    """Compile (once, lazily, cached on disk) the serial int8 -> int32 kernel.

    Serial, as every Numba loop of the project: on the shared 2-core machines a
    parallel=True version waits for its worker threads to be scheduled and measured no
    faster (10.5 ms at batch 1000 with one thread or two, milliseconds for one row).
    """
    global _numba_kernel
    if _numba_kernel is None:
        import numba

        @numba.njit(cache=True)
        def kernel(x, w, out):  # pragma: no cover - compiled
            n, k = x.shape
            m = w.shape[0]
            for i in range(n):
                for j in range(m):
                    acc = np.int32(0)
                    for t in range(k):
                        acc += np.int32(x[i, t]) * np.int32(w[j, t])
                    out[i, j] = acc

        _numba_kernel = kernel
    return _numba_kernel


def int8_matmul(x, w, backend: str = "auto"):
    """int32 array (N, out) of x (N, in) int8 times w (out, in) int8 transposed."""
    if backend not in BACKENDS:
        raise ValueError(f"int8_matmul: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if x.dtype != np.int8 or w.dtype != np.int8:
        raise TypeError(f"int8_matmul: both operands must be int8, got {x.dtype} and {w.dtype}")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"int8_matmul: shapes {tuple(x.shape)} and {tuple(w.shape)} do not fit (N, K) x (M, K)")
    xp = array_module(x)
    if backend == "auto":
        backend = "numba" if xp is np and x.shape[0] < AUTO_BLAS_ROWS else "blas"
    if backend == "numba" and xp is not np:
        backend = "blas"  # Numba runs on host arrays only
    k = x.shape[1]
    if backend == "blas":
        ftype = xp.float32 if k * 127 * 127 < _FLOAT32_EXACT else xp.float64
        return (x.astype(ftype) @ w.astype(ftype).T).astype(xp.int32)
    if backend == "numpy":
        return x.astype(xp.int32) @ w.astype(xp.int32).T
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.int32)
    _get_numba_kernel()(np.ascontiguousarray(x), np.ascontiguousarray(w), out)
    return out
