"""Embedding, one_hot and layer_norm with torch.nn.functional's signatures (re-exported by nn.functional)."""
from __future__ import annotations

import numbers
from typing import Any, Sequence

from .. import ops
from ..backend import array_module
from ..errors import ShapeError
from ..tensor import Tensor
from ._arguments import as_tensor, check_floating, check_number


def _index_array(indices: Any, op: str, dtypes: str = "iu"):
    indices = indices.data if isinstance(indices, Tensor) else as_tensor(indices).data
    if indices.dtype.kind not in dtypes:
        raise TypeError(f"{op}: indices must be an integer tensor (int64 or int32), got {indices.dtype}")
    return indices


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape (*tensor.shape, num_classes) with a 1 at each value's position.

    num_classes=-1 takes max(tensor) + 1. Values must be int64 (as torch), non-negative and
    below num_classes.
    """
    values = _index_array(tensor, "one_hot")
    if values.dtype.kind != "i" or values.dtype.itemsize != 8:
        raise TypeError(f"one_hot: is only applicable to int64 index tensors, got {values.dtype}; use .long()")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"one_hot: num_classes must be an int, got {num_classes!r}")
    xp = array_module(values)
    if values.size == 0:
        if num_classes == -1:
            raise ValueError("one_hot: can not infer the number of classes from an empty tensor; pass num_classes")
    else:
        lo, hi = int(values.min()), int(values.max())
        if lo < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {lo}")
        if num_classes == -1:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise ValueError(f"one_hot: class values must be smaller than num_classes={num_classes}, got {hi}")
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    out = (xp.expand_dims(values, -1) == xp.arange(num_classes)).astype(xp.int64)
    return Tensor(out)


def _renorm_rows(weight: Tensor, index, max_norm: float, norm_type: float) -> None:
    """torch's embedding_renorm_: rows used by `index` whose norm exceeds max_norm are scaled
    (in place, outside the graph) by max_norm / (norm + 1e-7)."""
    xp = array_module(index)
    rows = xp.unique(index.reshape(-1))
    picked = weight.data[rows]
    if norm_type == float("inf"):
        norms = xp.abs(picked).max(axis=1)
    else:
        norms = (xp.abs(picked) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(picked.dtype)
    weight.data[rows] = picked * scale[:, None]


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of weight (num_embeddings, embedding_dim) at the integer indices in input: shape (*input.shape, dim).

    padding_idx: that row gets no gradient. max_norm: rows looked up are first renormalised
    in place to norm_type-norm at most max_norm (as torch). scale_grad_by_freq: gradients are
    divided by each index's count in the batch. sparse gradients do not exist here.
    """
    if sparse:
        raise ValueError("embedding: sparse=True is not supported (there are no sparse tensors); use sparse=False")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = tuple(weight.shape) if hasattr(weight, "shape") else type(weight).__name__
        raise ShapeError(f"embedding: weight must be a 2-D Tensor (num_embeddings, embedding_dim), got {shape}")
    index = _index_array(input, "embedding")
    num = weight.shape[0]
    if index.size:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= num:
            raise IndexError(f"embedding: index {lo if lo < 0 else hi} is out of range for {num} embeddings "
                             f"(indices must lie in [0, {num - 1}])")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx={padding_idx} must be within [-{num}, {num - 1}]")
        padding_idx %= num
    if max_norm is not None:
        max_norm = check_number(max_norm, "max_norm", "embedding")
        _renorm_rows(weight, index, max_norm, check_number(norm_type, "norm_type", "embedding"))
    return ops.Embedding.apply(weight, index=index, padding_idx=padding_idx,
                               scale_grad_by_freq=bool(scale_grad_by_freq))


def normalized_shape_of(normalized_shape: int | Sequence[int], op: str) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    if not shape or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in shape):
        raise ValueError(f"{op}: normalized_shape must be a positive int or a non-empty tuple of them, "
                         f"got {normalized_shape!r}")
    return tuple(int(n) for n in shape)


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last len(normalized_shape) axes, then scale by weight and shift by bias."""
    shape = normalized_shape_of(normalized_shape, "layer_norm")
    input = as_tensor(input)
    check_floating(input, "layer_norm")
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise ShapeError(f"layer_norm: normalized_shape={list(shape)} expects an input of shape (*, "
                         f"{', '.join(map(str, shape))}), got {tuple(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ShapeError(f"layer_norm: {name} must have the normalized shape {shape}, got {tuple(t.shape)}")
    eps = check_number(eps, "eps", "layer_norm")
    if weight is None and bias is not None:
        weight = Tensor(array_module(input.data).ones(shape, dtype=input.dtype))
    args = [t for t in (weight, bias) if t is not None]
    return ops.LayerNorm.apply(input, *args, k=k, eps=eps)


__all__ = ["one_hot", "embedding", "layer_norm"]
