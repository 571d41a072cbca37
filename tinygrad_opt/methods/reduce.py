"""Tensor methods that combine elements along dims: sum, mean, max/min, amax/amin, argmax/argmin.

Every reduction takes PyTorch's `dim=None` (an int or a tuple) and `keepdim=False`, positionally
or by keyword, and NumPy's spellings `axis=` / `keepdims=` as well.
"""
from __future__ import annotations

from .. import ops
from ..backend import array_module
from ..errors import DtypeError
from ..ops.reduce import check_reduced_dims_not_empty, normalize_axes, reduced_shape
from . import return_types
from .dims import pick
from .math import maximum, minimum
from .order_statistics import OrderStatisticsMethods
from .quantile import QuantileMethods
from .statistics import StatisticsMethods


class ReductionMethods(StatisticsMethods, OrderStatisticsMethods, QuantileMethods):
    """Mixed into Tensor; `self` is a Tensor. prod, var, norm, cumsum, ..., median, mode, nansum, ... and
    quantile come with it."""

    __slots__ = ()

    # sum and mean sit on every training step: the spellings are merged inline, not through pick()
    def sum(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        """dtype= casts the input first (as torch), so the sum runs and returns in that dtype."""
        if dtype is not None:
            self = self.to(dtype)
        if axis is not None:
            if dim is not None:
                raise TypeError("sum: got both dim= and axis= (they are the same argument); pass one")
            dim = axis
        if keepdims is not None:
            keepdim = keepdims
        return ops.Sum.apply(self, axis=dim, keepdims=keepdim)

    def mean(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        """Refuses integer and bool tensors as torch does (the op raises the TypeError) unless
        dtype= names a floating dtype: the input is cast to it first, as in torch."""
        if dtype is not None:
            self = self.to(dtype)
        if axis is not None:
            if dim is not None:
                raise TypeError("mean: got both dim= and axis= (they are the same argument); pass one")
            dim = axis
        if keepdims is not None:
            keepdim = keepdims
        return ops.Mean.apply(self, axis=dim, keepdims=keepdim)

    def amax(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """Largest values over dim (all dims by default); the gradient is split evenly among ties."""
        dim, keepdim = pick(dim, axis, keepdim, keepdims, "amax")
        return ops.Max.apply(self, axis=dim, keepdims=keepdim)

    def amin(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """Smallest values over dim (all dims by default); the gradient is split evenly among ties."""
        dim, keepdim = pick(dim, axis, keepdim, keepdims, "amin")
        return ops.Min.apply(self, axis=dim, keepdims=keepdim)

    def max(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """No dim: the largest value (ties share the gradient). With an int dim: the named tuple
        (values, indices), the first index among ties, the gradient routed to it. With a
        Tensor: the element-wise maximum (torch.maximum)."""
        return _extreme(self, dim, keepdim, axis, keepdims, "max")

    def min(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """As max, for the smallest values."""
        return _extreme(self, dim, keepdim, axis, keepdims, "min")

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """Indices of the maxima (int64, no gradient); dim=None: index into the flattened tensor."""
        _refuse_bool(self, "argmax")
        return _arg_extreme(self, dim, keepdim, axis, keepdims, "argmax")

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """Indices of the minima (int64, no gradient); dim=None: index into the flattened tensor."""
        _refuse_bool(self, "argmin")
        return _arg_extreme(self, dim, keepdim, axis, keepdims, "argmin")


def _extreme(t, dim, keepdim, axis, keepdims, op: str):
    dim, keepdim = pick(dim, axis, keepdim, keepdims, op)
    if dim is None:
        if keepdim:
            raise TypeError(f"{op}: keepdim=True needs a dim; use amax/amin(keepdim=True) to keep every dim")
        return (ops.Max if op == "max" else ops.Min).apply(t, axis=None, keepdims=False, nan_wins=True)
    if isinstance(dim, type(t)):
        return maximum(t, dim) if op == "max" else minimum(t, dim)
    if isinstance(dim, (tuple, list)):
        raise TypeError(
            f"{op}: dim must be one int (got {dim!r}); for several dims use a{op}, which returns values only"
        )
    axes = normalize_axes(dim, t.ndim, op)
    if not axes:  # a 0-d tensor: its one element at index 0
        values = ops.Gather.apply(t.reshape(1), index=_zeros_index(t, (1,)), dim=0).reshape(())
        indices = type(t)._make(_zeros_index(t, ()), False)
    else:
        indices = _arg_extreme(t, axes[0], True, None, None, "arg" + op)
        values = ops.Gather.apply(t, index=indices.data, dim=axes[0])
        if not keepdim:
            shape = tuple(n for i, n in enumerate(t.shape) if i != axes[0])
            values, indices = values.reshape(shape), indices.reshape(shape)
    result = return_types.max if op == "max" else return_types.min
    return result(values, indices)


def _arg_extreme(t, dim, keepdim, axis, keepdims, op: str):
    dim, keepdim = pick(dim, axis, keepdim, keepdims, op)
    data = t.data
    find = data.argmax if op == "argmax" else data.argmin
    if dim is None:
        if data.size == 0:
            raise IndexError(f"{op}(): the input of shape {tuple(data.shape)} is empty; pass dim= to reduce "
                             "over a dim with elements")
        out = find()
        if keepdim:
            out = out.reshape((1,) * data.ndim)
    else:
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"{op}: dim must be one int, got {dim!r}")
        axes = normalize_axes(dim, data.ndim, op)
        check_reduced_dims_not_empty(data.shape, axes, op)
        if data.size == 0:  # reducing a dim with elements of a tensor that has none elsewhere
            out = array_module(data).zeros(reduced_shape(data.shape, axes, keepdim), dtype="int64")
        else:
            out = find(axis=axes[0], keepdims=keepdim) if axes else find()
    return type(t)._make(out.astype("int64", copy=False), False)


def _refuse_bool(t, op: str) -> None:
    if t.data.dtype.kind == "b":  # max/min(dim) take bools; torch's argmax/argmin do not
        raise DtypeError(f"{op}(): does not support bool input (as torch); convert first, e.g. with .long()")


def _zeros_index(t, shape: tuple):
    return array_module(t.data).zeros(shape, dtype="int64")

