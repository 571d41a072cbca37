"""A large matrix product split by columns over the engine's threads, for when BLAS itself runs on one thread.

Once the engine's own parallel loops have run (a convolution), blas_threads.py keeps BLAS on
one thread for the rest of the process, so that OpenBLAS's spinning workers do not take the
cores those loops need. The fully connected layers after the convolutions then ran their
products on one core while the other idled. Here such a product is cut into one column
block per thread, each one BLAS call on its own thread (parallel.map_chunks):
out[:, c0:c1] = a @ b[:, c0:c1]. Column blocks, not row blocks: BLAS packs the operand it
reuses, and with rows cut each call packs all of b again (a layer's weight, the larger
operand), which cost more than a second thread gains.

Every element of a block is the same dot product, summed in the same order, as in the
whole product, as long as BLAS takes its general blocked path for both: OpenBLAS multiplies
small products (under about a million multiply-adds) with other kernels, whose sums can
round differently. So only products whose every block keeps MIN_BLOCK_MACS multiply-adds are
split, and the result is the whole product's, bit for bit, whatever the thread count
(tests/test_split_gemm.py checks that on the CNN's shapes).
"""
from __future__ import annotations

import numpy as np

from .blas_threads import blas_yields_to_engine_threads, engine_threads
from .parallel import map_chunks, split

MIN_BLOCK_MACS = 4 << 20  # multiply-adds per block: well above OpenBLAS's small-product kernels


def matmul(a, b, out=None):
    """a @ b (written into `out` when given), split by columns of `b` where that pays (see the module docstring)."""
    parts = _parts(a, b, out)
    if parts <= 1:
        return a @ b if out is None else np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    map_chunks(lambda c0, c1: np.matmul(a, b[:, c0:c1], out=out[:, c0:c1]), split(b.shape[1], parts))
    return out


def _parts(a, b, out) -> int:
    """How many column blocks to compute a @ b in (1: one call)."""
    if not blas_yields_to_engine_threads():  # first: the usual answer (an MLP, BLAS on its own threads)
        return 1
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2
            or a.dtype != b.dtype or a.dtype.char not in "fd" or a.shape[1] != b.shape[0]):
        return 1
    if out is not None and (type(out) is not np.ndarray or out.dtype != a.dtype or not out.flags.c_contiguous):
        return 1
    threads = engine_threads()
    if threads <= 1:
        return 1
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return max(1, min(threads, macs // MIN_BLOCK_MACS, b.shape[1] // 16))  # blocks of whole SIMD widths
