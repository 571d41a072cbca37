"""Element-wise Tensor methods: exp, log, trig, rounding, activations, softmax, clamp, maximum."""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..backend import array_module
from ..errors import DtypeError, ShapeError


class MathMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    # the hottest ones test for a float tensor inline: a _floating() call costs as much as the test
    def exp(self):
        return ops.Exp.apply(self if self.data.dtype.kind == "f" else self._floating())

    def log(self):
        return ops.Log.apply(self if self.data.dtype.kind == "f" else self._floating())

    def sqrt(self):
        return ops.Sqrt.apply(self._floating())

    def abs(self):
        return ops.Abs.apply(self)

    def relu(self):
        return ops.Relu.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self if self.data.dtype.kind == "f" else self._floating())

    def hardshrink(self, lambd: float = 0.5):
        """0 where |x| <= lambd, x elsewhere (torch.Tensor.hardshrink; floating input only, as torch)."""
        if self.data.dtype.kind != "f":
            raise DtypeError(f"hardshrink(): not implemented for {self.data.dtype} tensors (as in torch); convert "
                             "first with .float()")
        return ops.Hardshrink.apply(self, lambd=float(lambd))

    def prelu(self, weight):
        """x for x > 0, weight * x otherwise (torch.prelu); weight has one element, or one per channel (dim 1;
        a 1-d input has one channel), of self's dtype."""
        _check_prelu(self, weight)
        return ops.Prelu.apply(self, weight)

    def tanh(self):
        return ops.Tanh.apply(self if self.data.dtype.kind == "f" else self._floating())

    def log1p(self):
        return ops.Log1p.apply(self._floating())

    def expm1(self):
        return ops.Expm1.apply(self._floating())

    def rsqrt(self):
        return ops.Rsqrt.apply(self._floating())

    def sin(self):
        return ops.Sin.apply(self._floating())

    def cos(self):
        return ops.Cos.apply(self._floating())

    def sign(self):
        if self.data.dtype.kind == "b":  # the sign of True is True (torch); NumPy has no bool sign
            return self.clone()
        out = ops.Step.apply(self, fn="sign")
        if self.data.dtype.kind == "f" and bool(array_module(self.data).isnan(out.data).any()):
            out.data[out.data != out.data] = 0  # torch's sign of NaN is 0
        return out

    def floor(self):
        return self if self.data.dtype.kind != "f" else ops.Step.apply(self, fn="floor")

    def ceil(self):
        return self if self.data.dtype.kind != "f" else ops.Step.apply(self, fn="ceil")

    def round(self, decimals: int = 0):
        """Round half to even (as torch.round); decimals= rounds to that many decimal places."""
        if self.data.dtype.kind != "f":
            return self
        if decimals:
            return ops.RoundDecimals.apply(self, decimals=int(decimals))
        return ops.Step.apply(self, fn="round")

    def softmax(self, dim: int = -1, *, dtype=None, axis: int | None = None):
        """dtype= casts the input first, as torch's."""
        if dtype is not None:
            self = self.to(dtype)
        if axis is not None:
            dim = axis
        if self.data.dtype.kind != "f":
            _refuse_integer(self, "softmax")
        if _is_last_axis(dim, self):  # the ops' default: no keyword to pass (it costs ~0.1 us)
            return ops.Softmax.apply(self)
        _check_axis(dim, self, "softmax")
        return ops.Softmax.apply(self, axis=dim)

    def log_softmax(self, dim: int = -1, *, dtype=None, axis: int | None = None):
        """dtype= casts the input first, as torch's."""
        if dtype is not None:
            self = self.to(dtype)
        if axis is not None:
            dim = axis
        if self.data.dtype.kind != "f":
            _refuse_integer(self, "log_softmax")
        if _is_last_axis(dim, self):
            return ops.LogSoftmax.apply(self)
        _check_axis(dim, self, "log_softmax")
        return ops.LogSoftmax.apply(self, axis=dim)

    def clamp(self, min=None, max=None):  # noqa: A002 - torch's keyword names
        """min(max(self, min), max); bounds are numbers or tensors (broadcast), as torch.clamp."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must not be None")
        tensor_type = type(self)
        if isinstance(min, tensor_type) or isinstance(max, tensor_type):
            return _clamp_tensors(self, min, max)
        x = self
        if x.data.dtype.kind != "f" and any(isinstance(b, float) for b in (min, max)):
            x = x._floating()  # an integer tensor with float bounds computes in the default float, as torch
        return ops.Clip.apply(x, lo=min, hi=max)

    clip = clamp

    def clamp_min(self, min):  # noqa: A002 - torch's keyword name
        return self.clamp(min=min)

    def clamp_max(self, max):  # noqa: A002 - torch's keyword name
        return self.clamp(max=max)

    def maximum(self, other):
        return maximum(self, other)

    def minimum(self, other):
        return minimum(self, other)

    def masked_fill(self, mask, value):
        """self with `value` (a number or a 0-d tensor) where the boolean `mask` (broadcast to self) is True."""
        mask_data = mask.data if isinstance(mask, type(self)) else mask
        if getattr(mask_data, "dtype", None) is None or mask_data.dtype.kind != "b":
            got = getattr(mask_data, "dtype", type(mask))
            raise TypeError(f"masked_fill: the mask must be a bool tensor, got {got}")
        try:
            shape = np.broadcast_shapes(self.shape, mask_data.shape)
        except ValueError:
            shape = None
        if shape != self.shape:
            raise ShapeError(
                f"masked_fill: mask of shape {tuple(mask_data.shape)} does not broadcast to the tensor's "
                f"shape {tuple(self.shape)}"
            )
        if isinstance(value, type(self)) and value.ndim:
            raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {tuple(value.shape)}")
        if not isinstance(value, type(self)):
            value = type(self)._make(array_module(self.data).asarray(value, dtype=self.data.dtype), False)
        return ops.MaskedFill.apply(self, value, mask=mask_data)

    def where(self, condition, other):
        """self where condition, else other (torch.Tensor.where; tg.where hands its tensor case here)."""
        cond = condition.data if isinstance(condition, type(self)) else array_module(self.data).asarray(condition)
        if cond.dtype.kind != "b":
            raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
        a, b = _pair(self, other)
        try:
            np.broadcast_shapes(cond.shape, a.shape, b.shape)
        except ValueError as err:
            raise ShapeError(f"where: condition {tuple(cond.shape)}, input {tuple(a.shape)} and other "
                             f"{tuple(b.shape)} do not broadcast together") from err
        return ops.Where.apply(a, b, cond=cond)

    def remainder(self, other):
        return self % other

    def floor_divide(self, other):
        return self // other


def maximum(a, b):
    """Element-wise max of two tensors; a tie sends half the gradient to each (torch.maximum)."""
    a, b = _pair(a, b)
    return ops.Maximum.apply(a, b)


def minimum(a, b):
    """Element-wise min of two tensors; a tie sends half the gradient to each (torch.minimum)."""
    a, b = _pair(a, b)
    return ops.Minimum.apply(a, b)


def _pair(a, b):
    """Both as tensors of torch's result dtype (a number takes the tensor's side)."""
    if hasattr(a, "_promoted_with"):  # a Tensor (this module cannot import the class that mixes it in)
        return a._promoted_with(b)
    b, a = b._promoted_with(a)
    return a, b


def _clamp_tensors(t, lo, hi):
    if lo is not None and hi is not None:
        t, lo = _pair(t, lo)
        t, hi = _pair(t, hi)
        t, lo = _pair(t, lo)  # hi may have raised t's dtype: bring lo along
        return ops.ClampTensor.apply(t, lo, hi, kind="both")
    if lo is not None:
        return ops.ClampTensor.apply(*_pair(t, lo), kind="min")
    return ops.ClampTensor.apply(*_pair(t, hi), kind="max")


def _refuse_integer(t, op: str) -> None:
    raise TypeError(f"{op}: not implemented for integer or bool tensors (dtype {t.data.dtype}); call .float() first")


def _is_last_axis(axis: int, t) -> bool:
    """axis is -1, or names the last axis of a tensor with at least one."""
    return axis == -1 or (axis == t.data.ndim - 1 and axis >= 0)


def _check_axis(axis: int, t, op: str) -> None:
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {axis!r}")
    n = t.data.ndim or 1  # a 0-d tensor takes dim 0 / -1, as in PyTorch
    if not -n <= axis < n:
        raise IndexError(f"{op}: dim {axis} is out of range for a tensor of shape {tuple(t.shape)} "
                         f"(expected one in [{-n}, {n - 1}])")


def _check_prelu(t, weight) -> None:
    """torch.prelu's checks, in its order, with its messages."""
    if not isinstance(weight, type(t)):
        raise TypeError(f"prelu(): weight must be a Tensor, got {type(weight).__name__}")
    if weight.dtype != t.dtype:
        raise DtypeError(f"prelu: Type promoting not supported: the input is {t.dtype} and the weight "
                         f"{weight.dtype}; give the weight the input's dtype")
    if weight.numel() != 1:
        if t.ndim == 0:
            raise ShapeError(f"prelu: Not allow zero-dim input tensor with a weight of {weight.numel()} elements; "
                             "a 0-d input takes a weight of one element")
        channels = t.shape[1] if t.ndim > 1 else 1
        if weight.numel() != channels:
            raise ShapeError(f"prelu: Mismatch of parameter numbers and input channel size. Found parameter numbers "
                             f"= {weight.numel()} and channel size = {channels} (dim 1 of the input of shape "
                             f"{tuple(t.shape)})")
    if weight.ndim > 1:
        raise ShapeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if t.dtype.kind != "f":
        raise DtypeError(f"prelu: not implemented for {t.dtype} (as torch); convert first with .float()")
