"""Matrix product with NumPy's @ semantics (1-D operands, batched stacks)."""
from time import perf_counter

import numpy as np

from ..autograd import Function
from ..errors import ShapeError
from ..kernels.blas_threads import THREADED_FROM_MACS, after_gemm, before_gemm


def _product(a, b):
    """a @ b; a large product on the host reports its time (blas_threads.after_gemm: a stalled BLAS worker)."""
    if type(a) is not np.ndarray or a.dtype.char not in "fd" or a.size * b.shape[-1] < THREADED_FROM_MACS:
        return a @ b  # on the GPU, an integer product (no BLAS) or one BLAS runs on the caller alone
    started = perf_counter()
    y = a @ b
    after_gemm(started, y.size * a.shape[-1])
    return y


class MatMul(Function):
    """y = a @ b.

    dL/da = g @ b^T,  dL/db = a^T @ g   (transposes swap the last two axes).
    A 1-D a acts as a row (1, k) and a 1-D b as a column (k, 1); the inserted
    axis is removed again, and batch axes broadcast (the traversal sums them back).
    """

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul: both operands need at least 1 dimension, got shapes {tuple(a.shape)} "
                f"and {tuple(b.shape)}; use * to multiply by a scalar"
            )
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] != k_b:
            raise ShapeError(
                f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align: "
                f"{a.shape[-1]} (last axis of the first) != {k_b} "
                f"({'only' if b.ndim == 1 else 'second-to-last'} axis of the second)"
            )
        ctx.a, ctx.b = a, b
        before_gemm()
        return _product(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        need_a, need_b = ctx.needs_input_grad
        before_gemm()
        if a.ndim == 2 and b.ndim == 2:  # the common case, kept plain
            return (_product(g, b.T) if need_a else None), (_product(a.T, g) if need_b else None)
        if b.ndim == 1:
            g, b = g[..., None], b[:, None]
        if a.ndim == 1:
            g, a = g[..., None, :], a[None, :]
        ga = _product(g, b.swapaxes(-1, -2)) if need_a else None
        gb = _product(a.swapaxes(-1, -2), g) if need_b else None
        if ctx.a.ndim == 1 and ga is not None:
            ga = ga[..., 0, :]
        if ctx.b.ndim == 1 and gb is not None:
            gb = gb[..., 0]
        return ga, gb
