"""The Tensor methods as functions: tg.exp(x), tg.sum(x, axis=0), ... (PyTorch's tg.<name>)."""
from __future__ import annotations


from .tensor import Tensor


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - mirrors torch.sum
    return _t(x).sum(axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    return _t(x).mean(axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _t(x).max(axis=axis, keepdims=keepdims)


def reshape(x, *shape) -> Tensor:
    return _t(x).reshape(*shape)


def transpose(x, *axes) -> Tensor:
    return _t(x).transpose(*axes)


def matmul(a, b) -> Tensor:
    return _t(a) @ b


def exp(x) -> Tensor:
    return _t(x).exp()


def log(x) -> Tensor:
    return _t(x).log()


def sqrt(x) -> Tensor:
    return _t(x).sqrt()


def abs(x) -> Tensor:  # noqa: A001
    return _t(x).abs()


def relu(x) -> Tensor:
    return _t(x).relu()


def sigmoid(x) -> Tensor:
    return _t(x).sigmoid()


def tanh(x) -> Tensor:
    return _t(x).tanh()


def softmax(x, axis: int = -1) -> Tensor:
    return _t(x).softmax(axis=axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    return _t(x).log_softmax(axis=axis)


def clip(x, lo=None, hi=None) -> Tensor:
    return _t(x).clip(lo, hi)


