"""Tensor methods that move elements without arithmetic: reshape/view, transpose/permute, squeeze, ...

Dims follow PyTorch: negative dims count from the end, a 0-d tensor accepts dim 0 and -1,
and a dim out of range raises IndexError naming the op and the valid range.
"""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..errors import ShapeError
from .dims import infer_shape, shape_args, wrap_dim
from .select import SelectionMethods


class ShapeMethods(SelectionMethods):
    """Mixed into Tensor; `self` is a Tensor. Index-driven selection (gather, sort, ...) comes with it."""

    __slots__ = ()

    def size(self, dim: int | None = None):
        """The shape as a tuple (torch.Size is a tuple too), or the size of one dim."""
        if dim is None:
            return tuple(self.data.shape)
        return self.data.shape[wrap_dim(dim, self.data.ndim, "size")] if self.data.ndim else 1

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def reshape(self, *shape):
        shape = shape_args(shape, "reshape")  # a -1 is left to NumPy's reshape inside the op
        if shape == self.data.shape:
            return self
        return ops.Reshape.apply(self, shape=shape)

    def view(self, *shape):
        """As reshape; the result shares memory with self where NumPy's reshape can (a copy otherwise)."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
            raise TypeError("view: viewing as another dtype is not supported; use .to(dtype)")
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        ndim = self.data.ndim
        if ndim == 0:
            return self.reshape(1)
        start, end = wrap_dim(start_dim, ndim, "flatten"), wrap_dim(end_dim, ndim, "flatten")
        if start > end:
            raise ShapeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
        shape = self.shape
        return self.reshape(*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:])

    def unflatten(self, dim: int, sizes):
        d = wrap_dim(dim, self.data.ndim, "unflatten")
        sizes = infer_shape(shape_args((sizes,), "unflatten"), self.shape[d], (self.shape[d],), "unflatten")
        return self.reshape(*self.shape[:d], *sizes, *self.shape[d + 1:])

    def squeeze(self, dim=None):
        """Drop size-1 dims (all of them, or those in dim: an int or a tuple); other dims stay."""
        ndim = self.data.ndim
        if dim is None:
            drop = {i for i, n in enumerate(self.shape) if n == 1}
        else:
            dims = dim if isinstance(dim, (tuple, list)) else (dim,)
            drop = {d for d in (wrap_dim(d, ndim, "squeeze") for d in dims) if ndim and self.shape[d] == 1}
        return self.reshape(*(n for i, n in enumerate(self.shape) if i not in drop))

    def unsqueeze(self, dim: int):
        d = wrap_dim(dim, self.data.ndim + 1, "unsqueeze")
        return self.reshape(*self.shape[:d], 1, *self.shape[d:])

    def transpose(self, dim0: int, dim1: int):
        """Swap two dims (torch's meaning; for NumPy's permutation use permute)."""
        ndim = self.data.ndim
        d0, d1 = wrap_dim(dim0, ndim, "transpose"), wrap_dim(dim1, ndim, "transpose")
        if d0 == d1 or ndim < 2:
            return ops.Transpose.apply(self, axes=tuple(range(ndim)))
        axes = list(range(ndim))
        axes[d0], axes[d1] = d1, d0
        return ops.Transpose.apply(self, axes=tuple(axes))

    swapaxes = swapdims = transpose

    def t(self):
        """transpose(0, 1) for a 2-d tensor; a 0-d or 1-d tensor as it is (torch.Tensor.t)."""
        if self.data.ndim > 2:
            raise ShapeError(f"t() expects a tensor with <= 2 dimensions, got shape {tuple(self.shape)}; "
                             "use transpose(dim0, dim1) or mT")
        return self.transpose(0, -1) if self.data.ndim == 2 else self

    def contiguous(self):
        """self when its memory is in row-major order, else a row-major copy (differentiable)."""
        return self if self.data.flags.c_contiguous else self.clone()

    def movedim(self, source, destination):
        """Move the dims in source (an int or a tuple) to the positions in destination; the rest keep their order."""
        ndim = self.data.ndim
        src = tuple(wrap_dim(d, ndim, "movedim") for d in (source if isinstance(source, (tuple, list)) else (source,)))
        dst = tuple(wrap_dim(d, ndim, "movedim")
                    for d in (destination if isinstance(destination, (tuple, list)) else (destination,)))
        if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise ShapeError(f"movedim: source {source} and destination {destination} must name as many dims, "
                             "each once")
        order = [d for d in range(ndim) if d not in src]
        for position, d in sorted(zip(dst, src)):
            order.insert(position, d)
        return self.permute(*order) if ndim else self

    moveaxis = movedim

    def narrow(self, dim: int, start: int, length: int):
        """The elements start .. start + length - 1 along dim, sharing memory (torch.Tensor.narrow)."""
        d = wrap_dim(dim, self.data.ndim, "narrow")
        size = self.shape[d]
        if not -size <= start <= size:
            raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {size}")
        start = start % size if start < 0 else start
        if length < 0 or start + length > size:
            raise ShapeError(f"narrow: start ({start}) + length ({length}) exceeds the size ({size}) of dim {dim}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def permute(self, *dims):
        dims = shape_args(dims, "permute")
        ndim = self.data.ndim
        if len(dims) != ndim:
            raise ShapeError(
                f"permute: got {len(dims)} dims {dims} for a tensor with {ndim} dimensions {tuple(self.shape)}"
            )
        wrapped = tuple(wrap_dim(d, ndim, "permute") for d in dims)
        if len(set(wrapped)) != ndim:
            raise ShapeError(f"permute: dims {dims} repeat a dim; give each of the {ndim} dims once")
        return ops.Transpose.apply(self, axes=wrapped)

    @property
    def T(self):
        """All dims reversed (torch: meant for 2-D; 0-d and 1-D tensors come back as they are)."""
        if self.data.ndim < 2:
            return self
        return ops.Transpose.apply(self, axes=None)

    @property
    def mT(self):
        """The last two dims swapped (a batch of matrices transposed)."""
        if self.data.ndim < 2:
            raise ShapeError(f"mT: needs a matrix or a batch of matrices, got a {self.data.ndim}-D tensor")
        return self.transpose(-2, -1)

    def expand(self, *sizes):
        """Broadcast to `sizes` (-1 keeps a dim; new dims go in front), sharing memory (a view)."""
        sizes = shape_args(sizes, "expand")
        ndim = self.data.ndim
        if len(sizes) < ndim:
            raise ShapeError(
                f"expand: {len(sizes)} sizes {sizes} for a tensor with {ndim} dimensions {tuple(self.shape)}"
            )
        lead = len(sizes) - ndim
        target = []
        for i, n in enumerate(sizes):
            old = self.shape[i - lead] if i >= lead else None
            if n == -1:
                if old is None:
                    raise ShapeError(f"expand: -1 is not allowed for the new leading dim {i} in {sizes}")
                n = old
            if old is not None and old != 1 and old != n:
                raise ShapeError(
                    f"expand: the size of dim {i} ({old}) must match {n} or be 1 (tensor of shape "
                    f"{tuple(self.shape)} expanded to {sizes})"
                )
            target.append(n)
        target = tuple(target)
        return self if target == self.shape else ops.Expand.apply(self, shape=target)

    def expand_as(self, other):
        return self.expand(*other.shape)

    def repeat(self, *repeats):
        repeats = shape_args(repeats, "repeat")
        if len(repeats) < self.data.ndim:
            raise ShapeError(
                f"repeat: {len(repeats)} repeats {repeats} for a tensor with {self.data.ndim} dimensions; "
                "give at least one per dim"
            )
        return ops.Repeat.apply(self, repeats=repeats)

    def flip(self, *dims):
        dims = shape_args(dims, "flip")
        ndim = self.data.ndim
        wrapped = tuple(wrap_dim(d, ndim, "flip") for d in dims) if ndim else ()
        if len(set(wrapped)) != len(wrapped):
            raise ShapeError(f"flip: dims {dims} repeat a dim")
        return ops.Flip.apply(self, dims=wrapped)

    def roll(self, shifts, dims=None):
        ndim = self.data.ndim
        if dims is None:
            if isinstance(shifts, (tuple, list)) and len(shifts) != 1:
                raise ShapeError(f"roll: {len(shifts)} shifts need as many dims")
            shift = int(shifts[0] if isinstance(shifts, (tuple, list)) else shifts)
            return ops.Roll.apply(self.flatten(), shifts=shift, dims=None).reshape(*self.shape)
        shifts_t = tuple(int(s) for s in shifts) if isinstance(shifts, (tuple, list)) else (int(shifts),)
        dims_t = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        if len(shifts_t) != len(dims_t):
            raise ShapeError(f"roll: shifts {shifts_t} and dims {dims_t} must have the same length")
        if ndim == 0:
            return ops.Roll.apply(self, shifts=0, dims=None)
        dims_t = tuple(wrap_dim(d, ndim, "roll") for d in dims_t)
        return ops.Roll.apply(self, shifts=shifts_t, dims=dims_t)

    def tril(self, diagonal: int = 0):
        _need_matrix(self, "tril")
        return ops.Triangle.apply(self, diagonal=int(diagonal), upper=False)

    def triu(self, diagonal: int = 0):
        _need_matrix(self, "triu")
        return ops.Triangle.apply(self, diagonal=int(diagonal), upper=True)

    def split(self, split_size_or_sections, dim: int = 0) -> tuple:
        """Pieces of split_size along dim (the last may be smaller), or of the listed sizes."""
        d = wrap_dim(dim, self.data.ndim, "split")
        n = self.shape[d]
        if isinstance(split_size_or_sections, (tuple, list)):
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n or any(s < 0 for s in sizes):
                raise ShapeError(f"split: sizes {sizes} must be non-negative and sum to {n}, the size of dim {d}")
        else:
            step = int(split_size_or_sections)
            if step < 0 or (step == 0 and n):
                raise ValueError(f"split: split_size must be positive, got {step}")
            sizes = [min(step, n - start) for start in range(0, n, step)] if n else [0]
        return _pieces(self, d, sizes)

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        """At most `chunks` pieces of ceil(n / chunks) along dim (as torch.chunk)."""
        if int(chunks) <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        d = wrap_dim(dim, self.data.ndim, "chunk")
        n = self.shape[d]
        step = max(-(-n // int(chunks)), 1)
        return self.split(step, d)

    def unbind(self, dim: int = 0) -> tuple:
        """The slices along dim, that dim removed."""
        d = wrap_dim(dim, self.data.ndim, "unbind")
        lead = (slice(None),) * d
        return tuple(ops.Slice.apply(self, index=lead + (i,)) for i in range(self.shape[d]))


def _pieces(t, d: int, sizes: list) -> tuple:
    lead = (slice(None),) * d
    out, start = [], 0
    for size in sizes:
        out.append(ops.Slice.apply(t, index=lead + (slice(start, start + size),)))
        start += size
    return tuple(out)


def _need_matrix(t, op: str) -> None:
    if t.data.ndim < 2:
        raise ShapeError(f"{op}: needs a tensor with at least 2 dims, got shape {tuple(t.shape)}")
