"""Argument handling shared by the Tensor methods: dims, shapes and NumPy's spellings of them."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError


def wrap_dim(dim, ndim: int, op: str) -> int:
    """A dim in [-ndim, ndim) as a non-negative int (a 0-d tensor takes 0 and -1); IndexError otherwise."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions (expected one in [{-n}, {n - 1}])"
        )
    return int(dim) % n


def infer_shape(shape: tuple, size: int, old_shape: tuple, op: str) -> tuple:
    """Fill in one -1 from the element count; errors name the op and both shapes."""
    if -1 not in shape:
        return shape
    if shape.count(-1) > 1:
        raise ShapeError(f"{op}: only one dim can be -1, got {shape}")
    known = math.prod(n for n in shape if n != -1)
    if known == 0 or size % known:
        raise ShapeError(
            f"{op}: cannot reshape a tensor of shape {tuple(old_shape)} ({size} elements) into shape {shape}"
        )
    return tuple(size // known if n == -1 else n for n in shape)


def shape_args(args: tuple, op: str) -> tuple:
    """Accept f(2, 3) and f((2, 3)) alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for n in args:
        if not isinstance(n, (int, np.integer)):
            raise TypeError(f"{op}: expected ints, got {args!r}")
    return tuple(int(n) for n in args)


def pick(dim, axis, keepdim, keepdims, op: str):
    """Merge torch's dim/keepdim with NumPy's axis/keepdims spellings (one of each pair)."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: got both dim= and axis= (they are the same argument); pass one")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)
