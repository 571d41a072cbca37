"""The Tensor methods as functions, as torch.<name>: tg.exp(x), tg.sum(x, dim=0), tg.cat([a, b]), ...

Each forwards to the method of the same name (same arguments), except the functions that
take several tensors (cat, stack, where, maximum, ...), which live here.
"""
from __future__ import annotations

import builtins
from typing import Sequence

import numpy as np

from . import ops
from .backend import array_module
from .errors import ShapeError
from .methods.dims import wrap_dim
from .methods.math import maximum, minimum  # noqa: F401 - re-exported as tg.maximum / tg.minimum
from .promotion import result_type
from .tensor import Tensor, _cast


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---- reductions ----------------------------------------------------------------------
def sum(input, *args, **kwargs) -> Tensor:  # noqa: A001 - mirrors torch.sum
    return _t(input).sum(*args, **kwargs)


def mean(input, *args, **kwargs) -> Tensor:
    return _t(input).mean(*args, **kwargs)


def max(input, *args, **kwargs):  # noqa: A001
    return _t(input).max(*args, **kwargs)


def min(input, *args, **kwargs):  # noqa: A001
    return _t(input).min(*args, **kwargs)


def amax(input, *args, **kwargs) -> Tensor:
    return _t(input).amax(*args, **kwargs)


def amin(input, *args, **kwargs) -> Tensor:
    return _t(input).amin(*args, **kwargs)


def argmax(input, *args, **kwargs) -> Tensor:
    return _t(input).argmax(*args, **kwargs)


def argmin(input, *args, **kwargs) -> Tensor:
    return _t(input).argmin(*args, **kwargs)


def prod(input, *args, **kwargs) -> Tensor:
    return _t(input).prod(*args, **kwargs)


def var(input, *args, **kwargs) -> Tensor:
    return _t(input).var(*args, **kwargs)


def std(input, *args, **kwargs) -> Tensor:
    return _t(input).std(*args, **kwargs)


def logsumexp(input, *args, **kwargs) -> Tensor:
    return _t(input).logsumexp(*args, **kwargs)


def norm(input, *args, **kwargs) -> Tensor:
    return _t(input).norm(*args, **kwargs)


def all(input, *args, **kwargs) -> Tensor:  # noqa: A001
    return _t(input).all(*args, **kwargs)


def any(input, *args, **kwargs) -> Tensor:  # noqa: A001
    return _t(input).any(*args, **kwargs)


def cumsum(input, *args, **kwargs) -> Tensor:
    return _t(input).cumsum(*args, **kwargs)


def cumprod(input, *args, **kwargs) -> Tensor:
    return _t(input).cumprod(*args, **kwargs)


def numel(input) -> int:
    return _t(input).numel()


# ---- shape ---------------------------------------------------------------------------
def reshape(input, *shape) -> Tensor:
    return _t(input).reshape(*shape)


def transpose(input, dim0: int, dim1: int) -> Tensor:
    return _t(input).transpose(dim0, dim1)


def permute(input, dims) -> Tensor:
    return _t(input).permute(dims)


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _t(input).flatten(start_dim, end_dim)


def unflatten(input, dim: int, sizes) -> Tensor:
    return _t(input).unflatten(dim, sizes)


def squeeze(input, dim=None) -> Tensor:
    return _t(input).squeeze(dim)


def unsqueeze(input, dim: int) -> Tensor:
    return _t(input).unsqueeze(dim)


def flip(input, dims) -> Tensor:
    return _t(input).flip(dims)


def roll(input, shifts, dims=None) -> Tensor:
    return _t(input).roll(shifts, dims)


def tril(input, diagonal: int = 0) -> Tensor:
    return _t(input).tril(diagonal)


def triu(input, diagonal: int = 0) -> Tensor:
    return _t(input).triu(diagonal)


def split(tensor, split_size_or_sections, dim: int = 0) -> tuple:
    return _t(tensor).split(split_size_or_sections, dim)


def chunk(input, chunks: int, dim: int = 0) -> tuple:
    return _t(input).chunk(chunks, dim)


def unbind(input, dim: int = 0) -> tuple:
    return _t(input).unbind(dim)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors joined along dim; every other dim must match (dtypes promote as torch's)."""
    tensors = _tensor_list(tensors, "cat")
    if builtins.all(t.ndim == 1 and t.shape[0] == 0 for t in tensors[1:]) and tensors[0].ndim != 1:
        tensors = tensors[:1]  # torch skips 1-D empty tensors, the legacy placeholder, in cat
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated; use stack, or unsqueeze first")
    d = wrap_dim(dim, ndim, "cat")
    first = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.ndim != ndim or builtins.any(a != b for k, (a, b) in enumerate(zip(t.shape, first)) if k != d):
            raise ShapeError(
                f"cat: tensor {i} has shape {tuple(t.shape)} but tensor 0 has {tuple(first)}; "
                f"all sizes must match except in dim {d}"
            )
    return ops.Cat.apply(*_promoted(tensors), dim=d)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors (all of one shape) stacked along a new dim."""
    tensors = _tensor_list(tensors, "stack")
    d = wrap_dim(dim, tensors[0].ndim + 1, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ShapeError(
                f"stack: tensor {i} has shape {tuple(t.shape)} but tensor 0 has {tuple(tensors[0].shape)}; "
                "stack needs one shape"
            )
    return ops.Stack.apply(*_promoted(tensors), dim=d)


def where(condition, input=None, other=None):
    """input where condition else other (tensors or numbers, broadcast); where(condition) alone is
    nonzero(condition, as_tuple=True): one int64 tensor of indices per dim."""
    cond = condition.data if isinstance(condition, Tensor) else array_module(condition).asarray(condition)
    if input is None and other is None:
        return tuple(Tensor._make(i.astype("int64"), False) for i in array_module(cond).nonzero(cond))
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither (for the indices of the non-zeros)")
    if not isinstance(input, Tensor):
        input, other = _as_operands(input, other)
    return input.where(condition, other)


def _as_operands(a, b) -> tuple:
    """Two tensors of torch's result dtype, numbers lifted next to the tensor."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        dtype = result_type(a, b)
        return Tensor(a, dtype=dtype), Tensor(b, dtype=dtype)
    dtype = result_type(a, b)
    a = _cast(a, dtype) if isinstance(a, Tensor) else Tensor(a, dtype=dtype, device=b.device)
    b = _cast(b, dtype) if isinstance(b, Tensor) else Tensor(b, dtype=dtype, device=a.device)
    return a, b


def _tensor_list(tensors, op: str) -> list:
    if isinstance(tensors, Tensor) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{op}: expected a sequence of tensors, got {type(tensors).__name__}")
    tensors = [_t(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return tensors


def _promoted(tensors: list) -> list:
    """torch.cat/stack promote mixed dtypes to their result type; a float32 tensor beside float64 becomes float64."""
    dtype = result_type(*tensors)
    return [_cast(t, dtype) for t in tensors]


# ---- element-wise --------------------------------------------------------------------
def matmul(input, other) -> Tensor:
    return _t(input) @ other


def exp(input) -> Tensor:
    return _t(input).exp()


def log(input) -> Tensor:
    return _t(input).log()


def log1p(input) -> Tensor:
    return _t(input).log1p()


def expm1(input) -> Tensor:
    return _t(input).expm1()


def sqrt(input) -> Tensor:
    return _t(input).sqrt()


def rsqrt(input) -> Tensor:
    return _t(input).rsqrt()


def abs(input) -> Tensor:  # noqa: A001
    return _t(input).abs()


def sign(input) -> Tensor:
    return _t(input).sign()


def sin(input) -> Tensor:
    return _t(input).sin()


def cos(input) -> Tensor:
    return _t(input).cos()


def floor(input) -> Tensor:
    return _t(input).floor()


def ceil(input) -> Tensor:
    return _t(input).ceil()


def round(input, decimals: int = 0) -> Tensor:  # noqa: A001
    return _t(input).round(decimals=decimals)


def relu(input) -> Tensor:
    return _t(input).relu()


def sigmoid(input) -> Tensor:
    return _t(input).sigmoid()


def tanh(input) -> Tensor:
    return _t(input).tanh()


def softmax(input, dim: int = -1, *, dtype=None, axis: int | None = None) -> Tensor:
    return _t(input).softmax(dim, dtype=dtype, axis=axis)


def log_softmax(input, dim: int = -1, *, dtype=None, axis: int | None = None) -> Tensor:
    return _t(input).log_softmax(dim, dtype=dtype, axis=axis)


def clamp(input, min=None, max=None) -> Tensor:  # noqa: A002 - torch's keyword names
    return _t(input).clamp(min, max)


clip = clamp


def masked_fill(input, mask, value) -> Tensor:
    return _t(input).masked_fill(mask, value)


def remainder(input, other) -> Tensor:
    return input % other if isinstance(input, Tensor) else _t(other).__rmod__(input)


def floor_divide(input, other) -> Tensor:
    return input // other if isinstance(input, Tensor) else _t(other).__rfloordiv__(input)


# ---- selection -----------------------------------------------------------------------
def gather(input, dim: int, index) -> Tensor:
    return _t(input).gather(dim, index)


def scatter_add(input, dim: int, index, src) -> Tensor:
    return _t(input).scatter_add(dim, index, src)


def index_select(input, dim: int, index) -> Tensor:
    return _t(input).index_select(dim, index)


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    return _t(input).sort(dim, descending, stable)


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return _t(input).argsort(dim, descending, stable)


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    return _t(input).topk(k, dim, largest, sorted)


