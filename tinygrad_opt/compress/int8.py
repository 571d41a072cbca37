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
"auto" runs the kernel registry's int8_matmul, so `set_kernels` applies as to every fused
kernel: the reference is "numpy"; the CPU version is "numba" below 256 rows and "blas"
above, the GPU version "blas". benchmarks/compression.py re-measures all three.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..backend import array_module

BACKENDS = ("auto", "numpy", "numba", "blas")


def int8_matmul(x, w, backend: str = "auto"):
    """int32 array (N, out) of x (N, in) int8 times w (out, in) int8 transposed."""
    if backend not in BACKENDS:
        raise ValueError(f"int8_matmul: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if x.dtype != np.int8 or w.dtype != np.int8:
        raise TypeError(f"int8_matmul: both operands must be int8, got {x.dtype} and {w.dtype}")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"int8_matmul: shapes {tuple(x.shape)} and {tuple(w.shape)} do not fit (N, K) x (M, K)")
    if backend == "auto":
        return kernels.get("int8_matmul", x)(x, w)
    if backend == "numpy":
        return kernels.reference.int8_matmul(x, w)
    if backend == "numba" and array_module(x) is np:  # Numba runs on host arrays only
        from ..kernels.cpu import int8_matmul_loop  # noqa: PLC0415 - imports Numba

        return int8_matmul_loop(x, w)
    return kernels.reference.int8_matmul_via_float(x, w)
