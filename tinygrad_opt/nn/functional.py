"""Stateless forms of the layers and losses (`import tinygrad_opt.nn.functional as F`).

Each function checks its arguments and then calls one fused op from tinygrad_opt.ops
(or a Tensor method), so the graph holds one node per layer or loss.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from .. import ops
from ..backend import array_module, host_rng
from ..errors import ShapeError
from ..ops.divergence import KL_REDUCTIONS
from ..ops.loss import check_class_targets, check_reduction
from ..tensor import Tensor


def _tensor(x: Any, name: str = "input") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if x is None:
        raise TypeError(f"{name} must be a Tensor, got None")
    return Tensor(x)


def _target(target: Any, like: Tensor, keep_integer: bool = False) -> Tensor:
    """Targets given as arrays/lists join the input's device; float ones take its dtype."""
    if isinstance(target, Tensor):
        return target
    array = np.asarray(target) if not hasattr(target, "shape") else target
    if keep_integer and array.dtype.kind in "iub":
        return Tensor(array, device=like.device)
    return Tensor(array, dtype=like.dtype, device=like.device)


def _axis(axis: int, dim: int | None) -> int:
    return axis if dim is None else dim  # `dim=` accepted for PyTorch users


# ---- layers -------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight^T + bias, weight of shape (out_features, in_features); one graph node."""
    input = _tensor(input)
    if bias is None:
        return ops.Linear.apply(input, weight)
    return ops.Linear.apply(input, weight, bias)


def relu(input: Tensor) -> Tensor:
    return _tensor(input).relu()


def sigmoid(input: Tensor) -> Tensor:
    return _tensor(input).sigmoid()


def tanh(input: Tensor) -> Tensor:
    return _tensor(input).tanh()


def softmax(input: Tensor, axis: int = -1, dim: int | None = None) -> Tensor:
    return _tensor(input).softmax(axis=_axis(axis, dim))


def log_softmax(input: Tensor, axis: int = -1, dim: int | None = None) -> Tensor:
    return _tensor(input).log_softmax(axis=_axis(axis, dim))


def _check_probability(p: Any, op: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be a number in [0, 1], got p={p!r}")
    return float(p)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).

    Identity when not training (or p == 0); all zeros when p == 1. One fused node
    (ops.Dropout): the mask comes from a hash of a seed drawn from the engine's host
    generator, so `tg.manual_seed` makes it reproducible, every device draws the same
    mask, and backward regenerates it instead of storing it. dL/dx = g * mask / (1 - p).
    """
    p = _check_probability(p, "dropout")
    input = _tensor(input)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    seed = int(host_rng().integers(0, 2**63))
    return ops.Dropout.apply(input, p=p, seed=seed)


# ---- losses -------------------------------------------------------------------------
def check_label_smoothing(value: Any, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be a number in [0, 1], got {value!r}")
    return float(value)


def cross_entropy(input: Tensor, target: Any, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits (N, C) against class indices (N,) or class probabilities (N, C).

    Fused and stable (log-sum-exp with the row max subtracted), PyTorch's label smoothing:
    the target becomes (1 - label_smoothing) * one_hot + label_smoothing / C.
    A class index outside [0, C) (including -1) raises a ValueError naming it.
    """
    check_reduction(reduction, "cross_entropy")
    label_smoothing = check_label_smoothing(label_smoothing, "cross_entropy")
    input = _tensor(input)
    target = _target(target, input, keep_integer=True)
    if input.ndim != 2:
        raise ShapeError(
            f"cross_entropy: logits must have shape (N, C), got {tuple(input.shape)}; "
            "reshape a single sample to (1, C)"
        )
    n, c = input.shape
    if target.ndim == 1:
        if target.shape[0] != n:
            raise ShapeError(f"cross_entropy: {target.shape[0]} targets for {n} rows of logits {tuple(input.shape)}")
        check_class_targets(target.data, c, "cross_entropy")
    elif target.shape == input.shape:
        if target.dtype.kind != "f":
            raise TypeError(f"cross_entropy: class-probability targets of shape {tuple(target.shape)} must be floating point, got {target.dtype}")
    else:
        raise ShapeError(
            f"cross_entropy: target of shape {tuple(target.shape)} fits neither class indices ({n},) "
            f"nor class probabilities {tuple(input.shape)}"
        )
    return ops.CrossEntropy.apply(input, target, reduction=reduction, label_smoothing=label_smoothing)


def nll_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""
    check_reduction(reduction, "nll_loss")
    input = _tensor(input)
    target = _target(target, input, keep_integer=True)
    if input.ndim != 2 or target.shape != (input.shape[0],):
        raise ShapeError(f"nll_loss: expected log-probabilities (N, C) and targets (N,), got {tuple(input.shape)} and {tuple(target.shape)}")
    check_class_targets(target.data, input.shape[1], "nll_loss")
    rows = Tensor._make(array_module(input.data).arange(input.shape[0]), False)
    picked = -input[rows, target]
    if reduction == "mean":
        return picked.mean()
    return picked.sum() if reduction == "sum" else picked


def kl_div(input: Tensor, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence loss of log-probabilities `input` against probabilities `target` (torch's kl_div).

    Pointwise target * (log(target) - input), with 0 where target is 0; with log_target=True
    the target holds log-probabilities: exp(target) * (target - input). Reduction "batchmean"
    (sum / batch size) is the KL divergence per sample; "mean" (torch's default, kept for
    compatibility) divides by every element and warns, as torch does. One fused node.
    """
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"kl_div: reduction={reduction!r} is not one of {', '.join(map(repr, KL_REDUCTIONS))}")
    if not isinstance(log_target, bool):
        raise TypeError(f"kl_div: log_target must be a bool, got {log_target!r}")
    input = _tensor(input)
    target = _target(target, input)
    if input.dtype.kind != "f" or target.dtype.kind != "f":
        raise TypeError(f"kl_div: input and target must be floating point, got {input.dtype} and {target.dtype}")
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ShapeError(f"kl_div: input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} do not broadcast") from None
    if reduction == "mean":
        warnings.warn(
            "kl_div: reduction='mean' divides the total loss by both the batch size and the number of classes; "
            "'batchmean' divides by the batch size only and is the KL divergence per sample",
            stacklevel=2,
        )
    return ops.KLDiv.apply(input, target, reduction=reduction, log_target=log_target)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or element-wise) squared error; one fused node."""
    check_reduction(reduction, "mse_loss")
    input = _tensor(input)
    target = _target(target, input)
    if target.shape != input.shape:
        warnings.warn(
            f"mse_loss: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}; "
            "they will broadcast, which is rarely intended",
            stacklevel=2,
        )
    return ops.MSE.apply(input, target, reduction=reduction)


def binary_cross_entropy_with_logits(
    input: Tensor, target: Any, reduction: str = "mean", pos_weight: Tensor | None = None
) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable node: max(x, 0) - x*y + log1p(exp(-|x|)).

    pos_weight (broadcast along the last axis, one weight per class) scales the positive term.
    """
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    input = _tensor(input)
    target = _target(target, input)
    if target.shape != input.shape:
        raise ShapeError(
            f"binary_cross_entropy_with_logits: target size {tuple(target.shape)} must be the same as "
            f"input size {tuple(input.shape)}"
        )
    if pos_weight is None:
        return ops.BCEWithLogits.apply(input, target, reduction=reduction)
    pos_weight = _target(pos_weight, input)
    return ops.BCEWithLogits.apply(input, target, pos_weight, reduction=reduction)


__all__ = [
    "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout",
    "cross_entropy", "nll_loss", "kl_div", "mse_loss", "binary_cross_entropy_with_logits",
]


# ---- padding (F.pad) ------------------------------------------------------------------
def pad(input: Tensor, pad: tuple, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad) // 2 dims: pad = (last_before, last_after, second_last_before, ...).

    mode "constant" fills with value (0 by default; negative widths crop), "reflect" mirrors
    without repeating the edge, "replicate" repeats the edge, "circular" wraps around.
    """
    input = _tensor(input)
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    widths_in = tuple(pad)
    if len(widths_in) % 2 or len(widths_in) // 2 > input.ndim:
        raise ValueError(
            f"pad: padding length must be even and at most twice the number of dims ({input.ndim}), got {widths_in}"
        )
    if any(not isinstance(w, (int, np.integer)) for w in widths_in):
        raise TypeError(f"pad: widths must be ints, got {widths_in}")
    widths = [(0, 0)] * input.ndim
    for k in range(len(widths_in) // 2):
        widths[input.ndim - 1 - k] = (int(widths_in[2 * k]), int(widths_in[2 * k + 1]))
    if mode == "constant":
        return ops.ConstantPad.apply(input, widths=tuple(widths), value=0.0 if value is None else value)
    if value not in (None, 0, 0.0):
        raise ValueError(f"pad: value= only applies to mode='constant', not {mode!r}")
    for d, (lo, hi) in enumerate(widths):
        n = input.shape[d]
        limit = n - 1 if mode == "reflect" else n
        if min(lo, hi) < 0 or max(lo, hi) > limit or (n == 0 and (lo or hi)):
            raise ValueError(
                f"pad: {mode} padding of ({lo}, {hi}) on dim {d} of size {n} is out of range: each width must be "
                f"between 0 and {limit} (the size{' - 1' if mode == 'reflect' else ''} of the dim)"
            )
    return ops.IndexPad.apply(input, widths=tuple(widths), mode=mode)
