"""Sums over axes: NumPy's `a.sum(axis, keepdims)`, with trailing axes through the row-sum kernel.

Reductions over the last axes (a row-wise mean, or a gradient un-broadcast from shape
(n, 1)) are where NumPy is slowest on small and medium arrays: it sets up one inner
loop per row. When the summed axes are the trailing ones of a C-contiguous float
array, the array is viewed as (rows, columns) and the `sum_rows` kernel adds each
row in one pass. Everything else, CuPy arrays and the "reference" kernel mode
included, is `a.sum(axis=axes, keepdims=keepdims)` exactly.
"""
from __future__ import annotations

import numpy as np

from .kernels import get as kernel
from .kernels import reference

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ndarray = np.ndarray  # a module-level name: NumPy's module __getattr__ makes np.ndarray a dict lookup per use
_numpy_sum_rows = reference.sum_rows  # what the "reference" kernel mode resolves to


def sum_axes(a, axes: tuple, keepdims: bool):
    """Sum of `a` over `axes` (a tuple of non-negative axes, as normalize_axes gives)."""
    if type(a) is not _ndarray or a.dtype not in _FLOATS or not axes:
        return a.sum(axis=axes, keepdims=keepdims)
    ndim = a.ndim
    if ndim == 2 and axes == (1,):  # the common case, kept short: it runs for every row-wise reduction
        sum_rows = kernel("sum_rows", a)
        if sum_rows is _numpy_sum_rows:  # the reference mode keeps NumPy's own reduction
            return a.sum(axis=1, keepdims=keepdims)
        out = sum_rows(a)  # any strides: the loop indexes a 2-D array through them (a broadcast gradient too)
        return out.reshape(a.shape[0], 1) if keepdims else out
    count = len(axes)
    if a.flags.c_contiguous and sorted(axes) == list(range(ndim - count, ndim)):
        sum_rows = kernel("sum_rows", a)
        if sum_rows is not _numpy_sum_rows:
            kept_shape = a.shape[: ndim - count]
            kept = 1
            for n in kept_shape:
                kept *= n
            out = sum_rows(a.reshape(kept, a.size // kept if kept else 0))  # a view: trailing axes of a C array
            return out.reshape(kept_shape + (1,) * count if keepdims else kept_shape)
    return a.sum(axis=axes, keepdims=keepdims)

