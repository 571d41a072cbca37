"""Tensor methods that move elements without arithmetic: reshape, transpose, flatten."""
from __future__ import annotations

import numpy as np

from .. import ops


class ShapeMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    @property
    def size(self) -> int:
        return self.data.size

    def reshape(self, *shape):
        shape = shape_args(shape, "reshape")
        if shape == self.shape:
            return self
        return ops.Reshape.apply(self, shape=shape)

    def flatten(self, start_axis: int = 0):
        return self.reshape(*self.shape[:start_axis], -1)

    def transpose(self, *axes):
        axes = shape_args(axes, "transpose") if axes else None
        return ops.Transpose.apply(self, axes=axes)

    @property
    def T(self):
        return ops.Transpose.apply(self, axes=None)


def shape_args(args: tuple, op: str) -> tuple:
    """Accept f(2, 3) and f((2, 3)) alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for n in args:
        if not isinstance(n, (int, np.integer)):
            raise TypeError(f"{op}: expected ints, got {args!r}")
    return tuple(int(n) for n in args)
