"""Reductions by order and NaN-skipping reductions: median, nanmedian, kthvalue, mode, cummax, cummin,
logcumsumexp, nansum, nanmean.

The ones with a dim return torch's named tuple (values, indices): the index of each slice is picked
here (no gradient) with torch's choice among ties, and the values are gathered at it (ops.Gather),
so the gradient goes to the picked element, as in torch:
- median / nanmedian: the lower median, the ((n - 1) // 2)-th of a stable sort (NaN last), so among
  equal values the one at that place of the original order; median of a slice with a NaN is its
  first NaN; nanmedian leaves NaNs out (an all-NaN slice gives its first NaN);
- kthvalue: where quickselect leaves it, mode: torch's sort-and-count (ops/tie_order.py);
- cummax / cummin: the latest element that reached the running extreme (>=, <=); once a NaN is met,
  the latest NaN.
"""
from __future__ import annotations

from .. import ops
from ..backend import array_module
from ..errors import DtypeError, ShapeError
from ..ops.reduce import check_reduced_dims_not_empty, normalize_axes
from ..ops.tie_order import mode_index, quickselect_index
from . import return_types
from .dims import pick, wrap_dim


class OrderStatisticsMethods:
    """Mixed into Tensor (through ReductionMethods); `self` is a Tensor."""

    __slots__ = ()

    def median(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """No dim: the lower median of all elements (NaN if any is; ties share the gradient). With a dim:
        the named tuple (values, indices) of the lower medians along it."""
        return _median(self, dim, keepdim, axis, keepdims, "median")

    def nanmedian(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """median with the NaNs left out (an all-NaN slice gives NaN)."""
        return _median(self, dim, keepdim, axis, keepdims, "nanmedian")

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        """The named tuple (values, indices) of the k-th smallest element (k from 1) along dim."""
        if self.ndim:  # torch returns a 0-d tensor's element without looking at its dtype
            _refuse_bool(self, "kthvalue")
        d = wrap_dim(dim, self.ndim, "kthvalue")
        n = self.shape[d] if self.ndim else 1
        if isinstance(k, bool) or not hasattr(k, "__index__"):
            raise TypeError(f"kthvalue(): k must be an int, got {k!r}")
        if not 1 <= int(k) <= max(n, 1):
            raise IndexError(f"kthvalue(): k ({k}) is out of range for dim {d} of size {n}; pick k in [1, {n}]")
        return _select(self, d, keepdim, "kthvalue", lambda rows: _kth_indices(rows, int(k) - 1))

    def mode(self, dim: int = -1, keepdim: bool = False):
        """The named tuple (values, indices) of the most frequent value along dim (the smallest among
        equally frequent ones)."""
        d = wrap_dim(dim, self.ndim, "mode")
        return _select(self, d, keepdim, "mode", _mode_indices)

    def cummax(self, dim: int):
        """The named tuple (values, indices) of the running maxima along dim; NaN, once met, stays."""
        return _running_extreme(self, dim, "cummax")

    def cummin(self, dim: int):
        """The named tuple (values, indices) of the running minima along dim; NaN, once met, stays."""
        return _running_extreme(self, dim, "cummin")

    def aminmax(self, *, dim=None, keepdim: bool = False):
        """The named tuple (min, max) over dim (all dims by default): amin and amax, ties sharing each
        gradient, as torch."""
        if dim is not None and isinstance(dim, (tuple, list)):
            raise TypeError(f"aminmax(): dim must be one int, got {dim!r}")
        if self.data.size == 0 or (dim is not None and self.ndim and self.shape[wrap_dim(dim, self.ndim, "aminmax")]
                                   == 0):
            raise ShapeError(f"aminmax(): cannot compute aminmax over an empty dimension of the input of shape "
                             f"{tuple(self.shape)} (the operation has no identity); reduce a dim with elements")
        return return_types.aminmax(self.amin(dim, keepdim), self.amax(dim, keepdim))

    def logcumsumexp(self, dim: int):
        """log(cumsum(exp(x))) along dim, without overflow (floating input only, as torch)."""
        _refuse_integer(self, "logcumsumexp")
        d = wrap_dim(dim, self.ndim, "logcumsumexp")
        return ops.LogCumSumExp.apply(self, dim=d) if self.ndim else self.clone()

    def nansum(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        """sum with NaNs counted as zero (integers and bools sum in int64; dtype= casts the input first)."""
        if dtype is not None:
            self = self.to(dtype)
        dim, keepdim = pick(dim, axis, keepdim, keepdims, "nansum")
        return ops.NanSum.apply(self, axis=normalize_axes(dim, self.ndim, "nansum"), keepdims=keepdim)

    def nanmean(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        """mean of the non-NaN elements (NaN where all are NaN); floating input only, even with dtype= (as torch)."""
        _refuse_integer(self, "nanmean")
        if dtype is not None:
            self = self.to(dtype)
        dim, keepdim = pick(dim, axis, keepdim, keepdims, "nanmean")
        return ops.NanMean.apply(self, axis=normalize_axes(dim, self.ndim, "nanmean"), keepdims=keepdim)


def _refuse_bool(t, op: str) -> None:
    if t.data.dtype.kind == "b":
        raise DtypeError(f"{op}(): not implemented for bool tensors (as in torch); convert first, e.g. with .long()")


def _refuse_integer(t, op: str) -> None:
    if t.data.dtype.kind not in "fc":
        raise DtypeError(f"{op}(): expected a floating point input, got {t.data.dtype} (as torch); convert first "
                         "with .float() or .double()")


def _median(t, dim, keepdim, axis, keepdims, op: str):
    dim, keepdim = pick(dim, axis, keepdim, keepdims, op)
    if dim is None:
        if t.data.size:  # torch looks at the dtype only when there is an element to compare
            _refuse_bool(t, op)
        return ops.MedianAll.apply(t, ignore_nan=op == "nanmedian")
    _refuse_bool(t, op)
    d = wrap_dim(dim, t.ndim, op)
    return _select(t, d, keepdim, op, lambda rows: _median_indices(rows, skip_nan=op == "nanmedian"))


def _select(t, d: int, keepdim: bool, op: str, pick_indices):
    """(values, indices) along dim d, pick_indices mapping a (rows, n) array to one index per row."""
    result = getattr(return_types, op)
    if t.ndim == 0:
        values = ops.Gather.apply(t.reshape(1), index=_zeros(t, (1,)), dim=0).reshape(())
        return result(values, type(t)._make(_zeros(t, ()), False))
    check_reduced_dims_not_empty(t.shape, (d,), op)
    xp = array_module(t.data)
    rows = xp.moveaxis(t.data, d, -1).reshape(-1, t.shape[d])
    picked = pick_indices(rows) if rows.shape[0] else xp.zeros(0, dtype="int64")
    kept_shape = tuple(1 if i == d else n for i, n in enumerate(t.shape))
    moved = tuple(n for i, n in enumerate(t.shape) if i != d) + (1,)
    index = xp.moveaxis(xp.asarray(picked, dtype="int64").reshape(moved), -1, d).reshape(kept_shape)
    values = ops.Gather.apply(t, index=index, dim=d)
    indices = type(t)._make(index, False)
    if not keepdim:
        shape = tuple(n for i, n in enumerate(t.shape) if i != d)
        values, indices = values.reshape(shape), indices.reshape(shape)
    return result(values, indices)


def _nan_mask(rows):
    return array_module(rows).isnan(rows) if rows.dtype.kind == "f" else rows != rows


def _median_indices(rows, skip_nan: bool):
    xp = array_module(rows)
    order = xp.argsort(rows, axis=1, kind="stable")  # NaN last, equal values in their original order
    nan = _nan_mask(rows)
    counted = rows.shape[1] - nan.sum(axis=1) if skip_nan else xp.full(rows.shape[0], rows.shape[1])
    place = xp.maximum((counted - 1) // 2, 0)
    picked = xp.take_along_axis(order, place[:, None], axis=1)[:, 0]
    if not skip_nan:  # a slice with a NaN: its first NaN
        picked = xp.where(nan.any(axis=1), nan.argmax(axis=1), picked)
    return picked


def _kth_indices(rows, k: int):
    """The k-th smallest's position per row: the first equal element when the value is unique in its
    row, quickselect's choice when it is not (ops/tie_order.py)."""
    xp = array_module(rows)
    value = xp.sort(rows, axis=1)[:, k:k + 1]  # NaN sorts last, as torch's NaN-above-all order
    nan = _nan_mask(rows)
    equal = (rows == value) | (nan & _nan_mask(value))
    picked = equal.argmax(axis=1)
    host = rows.get() if hasattr(rows, "get") else rows
    for r in xp.flatnonzero(equal.sum(axis=1) > 1).tolist():
        picked[r] = quickselect_index(host[r], k)
    return picked


def _mode_indices(rows):
    host = rows.get() if hasattr(rows, "get") else rows
    return array_module(rows).asarray([mode_index(row) for row in host], dtype="int64")


def _running_extreme(t, dim, op: str):
    d = wrap_dim(dim, t.ndim, op)
    result = getattr(return_types, op)
    if t.ndim == 0:
        values = ops.Gather.apply(t.reshape(1), index=_zeros(t, (1,)), dim=0).reshape(())
        return result(values, type(t)._make(_zeros(t, ()), False))
    xp = array_module(t.data)
    data = t.data
    running = (xp.maximum if op == "cummax" else xp.minimum).accumulate(data, axis=d)  # NaN propagates
    nan = _nan_mask(data)
    positions = xp.arange(data.shape[d]).reshape([-1 if i == d else 1 for i in range(data.ndim)])
    # a record: the element reached the running extreme (ties too: the later one wins), or it is a NaN
    record = ((data == running) & ~_nan_mask(running)) | nan
    index = xp.maximum.accumulate(xp.where(record, positions, 0), axis=d) if data.size else \
        xp.zeros(data.shape, dtype="int64")
    index = index.astype("int64", copy=False)
    return result(ops.Gather.apply(t, index=index, dim=d), type(t)._make(index, False))


def _zeros(t, shape: tuple):
    return array_module(t.data).zeros(shape, dtype="int64")
