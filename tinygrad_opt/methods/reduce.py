"""Tensor methods that combine elements along dims: sum, mean, max, argmax."""
from __future__ import annotations

from .. import ops


class ReductionMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    def sum(self, axis=None, keepdims: bool = False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False):
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None):
        """Indices of the maxima (an integer tensor, no gradient)."""
        return type(self)._make(self.data.argmax(axis=axis), False)
