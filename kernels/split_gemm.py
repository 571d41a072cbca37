"""A large matrix product split by columns over the engine's threads, for when BLAS itself runs on one thread.

Once the engine's own parallel loops have run (a convolution), blas_threads.py keeps BLAS on
one thread for the rest of the process, so that OpenBLAS's spinning workers do not take the
cores those loops need. The fully connected layers after the convolutions then ran their
products on one core while the other idled. Here such a product is cut into one column
block per thread, each one BLAS call on its own thread (parallel.map_chunks):
out[:, c0:c1] = a @ b[:, c0:c1]. Column blocks, not row blocks: BLAS packs the operand it
reuses, and with rows cut each call packs all of b again (a layer's weight, the larger
operand), which cost more than a second thread gains.

The split must give the whole product's bits, or a layer's numbers would depend on whether a
convolution ran before it and on the thread count. Whether it does is up to the BLAS build and
the CPU's kernels, not something this module can assume: on an AVX-512 Xeon OpenBLAS's float32
and float64 column blocks summed every element in the whole product's order (as long as each
block kept MIN_BLOCK_MACS multiply-adds, above its small-product kernels), while on an AVX2
Zen 3 its float32 kernels summed in another order at every block width (float64 still agreed).
So the first product of each kind is asked: `_agrees` multiplies random operands of the same
shapes, layouts and dtype whole and split (the same code paths as the real call) and compares
the bits, and the verdict is kept per (shapes, layouts, dtype, blocks). Random operands, not the
caller's: integers, zeros or ones sum exactly in any order and would pass a split that rounds
differently on real data. Only C- or F-contiguous operands are split (the layouts Linear
passes), so that the probe's operands have the layout of the real ones. The probe costs about
two more products of that shape, once per kind of product (a CNN's fully connected layers: a
few shapes, the last batch of an epoch a few more); after MAX_VERDICTS kinds no new kind is
asked, and a product of a kind not asked is computed whole. The verdicts are a dict written
under a lock: two threads that meet a new kind at once may both probe it, and they find the
same verdict (the answer is deterministic). The call that probes returns the whole product, so
no answer depends on a probe. A split is used only where blas_yields_to_engine_threads says
BLAS runs on one thread, the state the verdict was found in.
"""
from __future__ import annotations

import threading

import numpy as np

from .blas_threads import blas_yields_to_engine_threads, engine_threads
from .parallel import map_chunks, split

MIN_BLOCK_MACS = 4 << 20  # multiply-adds per block: well above OpenBLAS's small-product kernels
MAX_VERDICTS = 256  # kinds of product probed; later kinds are not split (no probe's cost on endless new shapes)

_product = np.matmul  # the BLAS call of both paths (a test fakes one whose blocks round differently)
_verdicts: dict[tuple, bool] = {}  # (shapes, layouts, dtype, blocks) -> the split gives the whole product's bits
_verdicts_lock = threading.Lock()


def matmul(a, b, out=None):
    """a @ b (written into `out` when given), split by columns of `b` where that pays and gives the whole
    product's bits (see the module docstring)."""
    parts = _parts(a, b, out)
    if parts > 1:
        key = _kind(a, b, parts)
        verdict = _verdicts.get(key)
        if verdict is None and len(_verdicts) < MAX_VERDICTS:
            _remember(key, _agrees(a, b, parts))
        elif verdict:
            return _split_product(a, b, out, parts)
    return _product(a, b, out=out)


def _parts(a, b, out) -> int:
    """How many column blocks to compute a @ b in (1: one call), before asking whether the blocks agree."""
    if not blas_yields_to_engine_threads():  # first: the usual answer (an MLP, BLAS on its own threads)
        return 1
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2
            or a.dtype != b.dtype or a.dtype.char not in "fd" or a.shape[1] != b.shape[0]):
        return 1
    if _layout(a) is None or _layout(b) is None:
        return 1
    if out is not None and (type(out) is not np.ndarray or out.dtype != a.dtype or not out.flags.c_contiguous):
        return 1
    threads = engine_threads()
    if threads <= 1:
        return 1
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return max(1, min(threads, macs // MIN_BLOCK_MACS, b.shape[1] // 16))  # blocks of whole SIMD widths


def _layout(x: np.ndarray) -> str | None:
    """"C" or "F" for a contiguous matrix, None for any other layout (not split)."""
    if x.flags.c_contiguous:
        return "C"
    return "F" if x.flags.f_contiguous else None


def _kind(a: np.ndarray, b: np.ndarray, parts: int) -> tuple:
    return a.shape, b.shape, _layout(a), _layout(b), a.dtype.char, parts


def _split_product(a, b, out, parts: int) -> np.ndarray:
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    map_chunks(lambda c0, c1: _product(a, b[:, c0:c1], out=out[:, c0:c1]), split(b.shape[1], parts))
    return out


def _agrees(a: np.ndarray, b: np.ndarray, parts: int) -> bool:
    """Whether `parts` column blocks give the whole product's bits for operands of a's and b's shapes, layouts and
    dtype: both computed on random operands of that kind (module docstring)."""
    rng = np.random.default_rng(0)
    left, right = (np.array(rng.standard_normal(x.shape), dtype=x.dtype, order=_layout(x)) for x in (a, b))
    whole = _product(left, right)
    blocks = _split_product(left, right, None, parts)
    return bool(np.array_equal(whole.view(_bits(whole.dtype)), blocks.view(_bits(blocks.dtype))))


def _bits(dtype: np.dtype) -> np.dtype:
    """The unsigned integer type of a float's width: comparing through it compares bits (NaN, -0.0 included)."""
    return np.dtype(f"u{dtype.itemsize}")


def _remember(key: tuple, verdict: bool) -> None:
    with _verdicts_lock:
        _verdicts.setdefault(key, verdict)


def verdicts() -> dict[tuple, bool]:
    """A copy of the verdicts found so far: (a's shape, b's shape, a's layout, b's layout, dtype char, blocks) ->
    whether the split gives the whole product's bits on this machine."""
    with _verdicts_lock:
        return dict(_verdicts)
