"""Tensor methods that pick elements by index: gather, scatter_add, scatter, index_fill, index_select, sort,
topk, msort, masked_select, nonzero."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backend import array_module
from ..errors import DtypeError, ShapeError
from ..inplace import apply_inplace
from ..ops.tie_order import topk_positions
from . import return_types
from .dims import wrap_dim


class SelectionMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    def gather(self, dim: int, index):
        """out[i][j] = self[index[i][j]][j] for dim 0 (torch.gather); the gradient scatter-adds back."""
        d = wrap_dim(dim, self.data.ndim, "gather")
        source = self if self.data.ndim else self.reshape(1)
        idx = _index_data(index, self, "gather")
        out = ops.Gather.apply(source, index=idx if idx.ndim else idx.reshape(1), dim=d)
        return out if self.data.ndim else out.reshape(())

    def scatter_add(self, dim: int, index, src):
        """A copy of self with src[i][j] added at self[index[i][j]][j] for dim 0 (torch.scatter_add)."""
        d = wrap_dim(dim, self.data.ndim, "scatter_add")
        return ops.ScatterAdd.apply(self, src, index=_index_data(index, self, "scatter_add"), dim=d)

    def scatter(self, dim: int, index, src=None, *, value=None, reduce=None):
        """A copy of self with src[i][j] (or the number value) written at self[index[i][j]][j] for dim 0
        (ops.Scatter: where index names one place twice, the last write wins)."""
        if reduce is not None:
            raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported; use scatter_add or scatter_reduce")
        if src is None and value is None:
            raise TypeError("scatter: give src (a tensor) or value (a number)")
        idx = _index_data(index, self, "scatter")
        if src is None or not isinstance(src, type(self)):
            number = value if src is None else src
            src = type(self)._make(array_module(self.data).full(idx.shape, number, dtype=self.data.dtype), False)
        d = wrap_dim(dim, self.data.ndim, "scatter")
        return ops.Scatter.apply(self, src, index=idx, dim=d)

    def scatter_(self, dim: int, index, src=None, *, value=None, reduce=None):
        return apply_inplace(self, "scatter_", lambda t: t.scatter(dim, index, src, value=value, reduce=reduce),
                             (src,))

    def index_fill(self, dim: int, index, value):
        """A copy of self with value at the entries `index` along dim (value: a number or a 0-d tensor)."""
        d = wrap_dim(dim, self.data.ndim, "index_fill")
        idx = _index_data(index, self, "index_fill").reshape(-1)
        xp = array_module(self.data)
        mask = xp.zeros(self.shape[d] if self.data.ndim else 1, dtype=bool)
        mask[idx] = True
        shape = [1] * self.data.ndim
        if self.data.ndim:
            shape[d] = self.shape[d]
        return self.masked_fill(type(self)._make(mask.reshape(shape), False), value)

    def index_fill_(self, dim: int, index, value):
        return apply_inplace(self, "index_fill_", lambda t: t.index_fill(dim, index, value), (value,))

    def index_select(self, dim: int, index):
        """The entries at the 1-D `index` along dim (torch.index_select)."""
        d = wrap_dim(dim, self.data.ndim, "index_select")
        idx = _index_data(index, self, "index_select")
        if idx.ndim > 1:
            raise ShapeError(f"index_select: index must be 0-D or 1-D, got shape {tuple(idx.shape)}")
        return ops.IndexSelect.apply(self, index=idx.reshape(-1) if self.data.ndim else idx, dim=d)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """The named tuple (values, indices) sorted along dim; ties keep their order; NaN counts as largest."""
        d = wrap_dim(dim, self.data.ndim, "sort")
        indices = _sort_indices(self.data, d, descending)
        return return_types.sort(_take(self, indices, d), type(self)._make(indices, False))

    def msort(self):
        """The values sorted along the first dim (torch.msort: sort(dim=0).values)."""
        return self.sort(dim=0).values

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        d = wrap_dim(dim, self.data.ndim, "argsort")
        return type(self)._make(_sort_indices(self.data, d, descending), False)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002 - torch's name
        """The k largest (or smallest) entries along dim as (values, indices), largest first."""
        if self.data.dtype.kind == "b":
            raise DtypeError("topk(): bool tensors are not supported (as in torch); convert first, e.g. with .long()")
        d = wrap_dim(dim, self.data.ndim, "topk")
        n = self.shape[d] if self.data.ndim else 1
        if not 0 <= int(k) <= n:
            raise IndexError(f"topk: k ({k}) is out of range for dim {d} of size {n}")
        order = _sort_indices(self.data, d, descending=largest)
        indices = order[(slice(None),) * d + (slice(0, int(k)),)] if self.data.ndim else order
        if self.data.ndim and int(k):
            indices = _torch_topk_order(self.data, order, d, int(k), largest, sorted)
        return return_types.topk(_take(self, indices, d), type(self)._make(indices, False))

    def masked_select(self, mask):
        """The elements where the bool mask (broadcast with self) is True, as a 1-d tensor; the gradient
        scatters back."""
        mask_data = mask.data if isinstance(mask, type(self)) else array_module(self.data).asarray(mask)
        if mask_data.dtype.kind != "b":
            raise TypeError(f"masked_select: the mask must be a bool tensor, got dtype {mask_data.dtype}")
        try:
            shape = tuple(np.broadcast_shapes(self.shape, mask_data.shape))
        except ValueError as err:
            raise ShapeError(f"masked_select: mask of shape {tuple(mask_data.shape)} does not broadcast with the "
                             f"tensor's shape {tuple(self.shape)}") from err
        source = self if shape == self.shape else self.expand(*shape)
        return source[type(self)._make(array_module(mask_data).broadcast_to(mask_data, shape), False)]

    def nonzero(self, *, as_tuple: bool = False):
        """Indices of the non-zero elements: an int64 tensor (count, ndim), or one 1-d tensor per dim."""
        xp = array_module(self.data)
        found = xp.nonzero(self.data.reshape(1) if self.data.ndim == 0 else self.data)
        if as_tuple:
            return tuple(type(self)._make(i.astype("int64"), False) for i in found)
        stacked = xp.stack(found, axis=1) if self.data.ndim else xp.zeros((len(found[0]), 0), dtype="int64")
        return type(self)._make(stacked.astype("int64"), False)


def _sort_indices(data, dim: int, descending: bool):
    """Stable argsort along dim, int64; descending keeps equal entries in their original order too."""
    xp = array_module(data)
    if data.ndim == 0:
        return xp.zeros((), dtype="int64")
    if not descending:
        return xp.argsort(data, axis=dim, kind="stable").astype("int64", copy=False)
    n = data.shape[dim]
    # sort the reversed data ascending (NaN last), then reverse: largest first, NaN first, ties in order
    flipped = xp.argsort(xp.flip(data, dim), axis=dim, kind="stable")
    return (n - 1 - xp.flip(flipped, dim)).astype("int64", copy=False)


def _torch_topk_order(data, order, dim: int, k: int, largest: bool, sorted: bool):  # noqa: A002
    """The top k of the stable sort `order`, with the rows where torch's order differs from it redone in
    torch's order (ops/tie_order.py): rows where equal values meet in or at the edge of the top k, and
    every row with sorted=False (torch's order is then whatever its selection leaves)."""
    xp = array_module(data)
    rows = xp.moveaxis(data, dim, -1).reshape(-1, data.shape[dim])
    order = xp.moveaxis(order, dim, -1).reshape(rows.shape)
    picked = order[:, :k].copy()
    ordered = xp.take_along_axis(rows, order[:, :k + 1], axis=1)
    nan = ordered != ordered
    same = (ordered[:, 1:] == ordered[:, :-1]) | (nan[:, 1:] & nan[:, :-1])  # equal neighbours, NaNs too
    redo = xp.ones(rows.shape[0], dtype=bool) if not sorted else same.any(axis=1)
    host = rows.get() if hasattr(rows, "get") else rows
    for r in xp.flatnonzero(redo).tolist():
        picked[r] = xp.asarray(topk_positions(host[r], k, largest, sorted))
    shape = tuple(n for i, n in enumerate(data.shape) if i != dim) + (k,)
    return xp.moveaxis(picked.reshape(shape), -1, dim)


def _take(t, indices, dim: int):
    if t.data.ndim == 0:
        return ops.Gather.apply(t.reshape(1), index=indices.reshape(1), dim=0).reshape(())
    return ops.Gather.apply(t, index=indices, dim=dim)


def _index_data(index, like, op: str):
    """The index as a backend integer array on like's device (a Tensor, list or array)."""
    data = index.data if isinstance(index, type(like)) else index
    data = array_module(like.data).asarray(data)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: the index must be an integer tensor (int64), got dtype {data.dtype}")
    return data
