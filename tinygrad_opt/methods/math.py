"""Element-wise Tensor methods: exp, log, sqrt, abs, activations, softmax, clamp."""
from __future__ import annotations

from .. import ops
from ..errors import ShapeError


class MathMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    def exp(self):
        return ops.Exp.apply(self._floating())

    def log(self):
        return ops.Log.apply(self._floating())

    def sqrt(self):
        return ops.Sqrt.apply(self._floating())

    def abs(self):
        return ops.Abs.apply(self)

    def relu(self):
        return ops.Relu.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self._floating())

    def tanh(self):
        return ops.Tanh.apply(self._floating())

    def softmax(self, axis: int = -1):
        if _is_last_axis(axis, self):  # the ops' default: no keyword to pass (it costs ~0.1 us)
            return ops.Softmax.apply(self)
        _check_axis(axis, self, "softmax")
        return ops.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1):
        if _is_last_axis(axis, self):
            return ops.LogSoftmax.apply(self)
        _check_axis(axis, self, "log_softmax")
        return ops.LogSoftmax.apply(self, axis=axis)

    def clip(self, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of lo and hi")
        return ops.Clip.apply(self, lo=lo, hi=hi)

    clamp = clip


def _is_last_axis(axis: int, t) -> bool:
    """axis is -1, or names the last axis of a tensor with at least one."""
    return axis == -1 or (axis == t.data.ndim - 1 and axis >= 0)


def _check_axis(axis: int, t, op: str) -> None:
    n = t.data.ndim or 1  # a 0-d tensor takes axis 0 / -1, as in PyTorch
    if not -n <= axis < n:
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of shape {tuple(t.shape)}")
