"""Loss functions with torch.nn.functional's signatures (re-exported by nn.functional).

The plain (N, C) logits + in-range integer targets case of cross_entropy, the one
training uses, is a single fused node (ops.CrossEntropy); class weights, ignore_index,
extra dims (N, C, d1, ...) and unbatched (C,) inputs go through log_softmax + ops.NLLLoss.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import ops
from ..errors import ShapeError
from ..ops.divergence import KL_REDUCTIONS
from ..ops.loss import REDUCTIONS, check_class_targets
from ..tensor import Tensor
from ._arguments import (
    as_target, as_tensor, check_floating, check_label_smoothing, check_number, constant_array, reduction_of,
    warn_if_shapes_differ,
)


# ---- classification -------------------------------------------------------------------
def _class_weights(weight: Any, input: Tensor, num_classes: int, op: str):
    weight = constant_array(weight, input, "weight", op)
    if weight is not None and weight.shape != (num_classes,):
        raise ShapeError(f"{op}: weight must have shape ({num_classes},), one per class, got {tuple(weight.shape)}")
    return weight


def _check_index_target(input: Tensor, target: Tensor, op: str) -> None:
    expected = (input.shape[0],) + tuple(input.shape[2:]) if input.ndim >= 2 else ()
    if tuple(target.shape) != expected:
        rule = "the input's shape without the class axis 1" if input.ndim >= 2 else "an unbatched (C,) input"
        raise ShapeError(
            f"{op}: input of shape {tuple(input.shape)} needs class-index targets of shape {expected} ({rule}), "
            f"got {tuple(target.shape)}; class probabilities must have the input's shape"
        )


def _batched(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, bool]:
    """An unbatched (C,) input and 0-d target as a batch of one (the caller squeezes back)."""
    if input.ndim == 1:
        return input.reshape(1, input.shape[0]), target.reshape(1), True
    return input, target, False


def nll_loss(input: Tensor, target: Any, weight: Any = None, size_average: Any = None, ignore_index: int = -100,
             reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C, d1, ...) or (C,) at class indices (N, d1, ...) or ().

    "mean" is torch's weighted mean: the sum divided by the summed weights of the targets that
    are not ignore_index (NaN when all are). See ops.NLLLoss for the formulas.
    """
    reduction = reduction_of(size_average, reduce, reduction, "nll_loss")
    input = as_tensor(input)
    target = as_target(target, input, keep_integer=True)
    check_floating(input, "nll_loss")
    if input.ndim == 0:
        raise ShapeError("nll_loss: input must have a class axis, (C,) or (N, C, d1, ...), got a 0-d tensor")
    _check_index_target(input, target, "nll_loss")
    num_classes = input.shape[1 if input.ndim >= 2 else 0]
    weights = _class_weights(weight, input, num_classes, "nll_loss")
    check_class_targets(target.data, num_classes, "nll_loss", ignore_index)
    input, target, unbatched = _batched(input, target)
    loss = ops.NLLLoss.apply(input, target=target.data, weight=weights, ignore_index=ignore_index, reduction=reduction)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


def cross_entropy(input: Tensor, target: Any, weight: Any = None, size_average: Any = None, ignore_index: int = -100,
                  reduce: Any = None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits (N, C, d1, ...) or (C,) against class indices or class probabilities.

    Targets of the input's shape are class probabilities; otherwise they are class indices
    of the input's shape without axis 1. Label smoothing, class weights, ignore_index and the
    reductions follow torch's formulas exactly (see the README's nn section). A class index
    outside [0, C) that is not ignore_index raises an IndexError (also a ValueError) naming it.
    """
    # the checks are inlined for the common arguments: this function is on every training step
    if size_average is not None or reduce is not None or reduction not in REDUCTIONS:
        reduction = reduction_of(size_average, reduce, reduction, "cross_entropy")
    eps = label_smoothing
    if type(eps) is not float or not 0.0 <= eps <= 1.0:
        eps = check_label_smoothing(label_smoothing, "cross_entropy")
    if type(input) is not Tensor:
        input = as_tensor(input)
    target = as_target(target, input, keep_integer=True)
    z, t = input.data, target.data  # the arrays' own attributes: Tensor's shape/ndim/dtype are property calls
    if z.dtype.kind != "f":
        check_floating(input, "cross_entropy")
    if weight is None and z.ndim == 2 and t.ndim == 1 and t.dtype.kind in "iu" and z.dtype.itemsize > 2:
        # the training case: when nothing is ignored, one fused node (ops.CrossEntropy); float16 takes
        # torch's composition (log_softmax, then NLL), whose float16 roundings the fused kernel lacks
        num_classes = z.shape[1]
        if t.shape[0] == z.shape[0] and check_class_targets(t, num_classes, "cross_entropy", ignore_index) and \
                not 0 <= ignore_index < num_classes:
            return ops.CrossEntropy.apply(input, target, reduction=reduction, label_smoothing=eps)
    if input.ndim == 0:
        raise ShapeError("cross_entropy: logits must have a class axis, (C,) or (N, C, d1, ...), got a 0-d tensor")
    class_axis = 1 if input.ndim >= 2 else 0
    num_classes = input.shape[class_axis]
    weights = _class_weights(weight, input, num_classes, "cross_entropy")
    if tuple(target.shape) == tuple(input.shape):
        return _cross_entropy_probabilities(input, target, weights, ignore_index, reduction, eps, class_axis)
    if target.dtype.kind == "f":
        raise TypeError(
            f"cross_entropy: class-index targets must have an integer dtype, got {target.dtype} "
            f"(class-probability targets must have the input's shape {tuple(input.shape)})"
        )
    _check_index_target(input, target, "cross_entropy")
    in_range = check_class_targets(target.data, num_classes, "cross_entropy", ignore_index)
    input, target, unbatched = _batched(input, target)
    if input.ndim == 2 and weights is None and in_range and not 0 <= ignore_index < num_classes and \
            input.data.dtype.itemsize > 2:
        loss = ops.CrossEntropy.apply(input, target, reduction=reduction, label_smoothing=eps)  # unbatched (C,)
    else:
        loss = _cross_entropy_general(input, target, weights, ignore_index, reduction, eps)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


def _cross_entropy_general(input, target, weights, ignore_index, reduction, eps) -> Tensor:
    """log_softmax, then the weighted, smoothed NLL of ops.NLLLoss (torch's formulas for both terms)."""
    logp = input.log_softmax(axis=1)
    if eps and weights is None and input.data.dtype.itemsize == 2:
        return _smoothed_half(logp, target, ignore_index, reduction, eps)
    return ops.NLLLoss.apply(logp, target=target.data, weight=weights, ignore_index=ignore_index,
                             reduction=reduction, label_smoothing=eps)


def _smoothed_half(logp, target, ignore_index, reduction, eps) -> Tensor:
    """float16 label smoothing as torch composes it, each tensor op rounding:
    (1 - eps) * nll + smooth * (eps / C), smooth = -sum_c logp (0 where ignored), reduced as the NLL
    ("mean": summed, then divided by the number of targets not ignored)."""
    nll = ops.NLLLoss.apply(logp, target=target.data, ignore_index=ignore_index, reduction=reduction)
    ignored = target.data == ignore_index
    smooth = -logp.sum(axis=1)
    if bool(ignored.any()):
        smooth = smooth.masked_fill(Tensor._make(ignored, False), 0.0)
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        kept = int(ignored.size - ignored.sum())
        smooth = smooth.sum() / Tensor._make(np.asarray(kept, logp.data.dtype), False)
    return nll * (1.0 - eps) + smooth * (eps / logp.shape[1])


def _cross_entropy_probabilities(input, target, weights, ignore_index, reduction, eps, class_axis) -> Tensor:
    """loss_i = -sum_c w_c q[i, c] logp[i, c] with q = (1 - eps) * target + eps / C (torch's formula);
    "mean" divides by the number of positions (numel / C), whatever the weights."""
    if target.dtype.kind != "f":
        raise TypeError(f"cross_entropy: class-probability targets must be floating point, got {target.dtype}")
    if ignore_index >= 0:
        raise ValueError(f"cross_entropy: ignore_index={ignore_index} is not supported for class-probability targets")
    if input.ndim == 2 and weights is None and input.data.dtype.itemsize > 2:  # one fused node (not float16: above)
        return ops.CrossEntropy.apply(input, target, reduction=reduction, label_smoothing=eps)
    num_classes = input.shape[class_axis]
    logp = input.log_softmax(axis=class_axis)
    q = target * (1.0 - eps) + eps / num_classes if eps else target
    terms = logp * q
    if weights is not None:
        terms = terms * Tensor(weights.reshape((num_classes,) + (1,) * (input.ndim - class_axis - 1)))
    loss = -terms.sum(axis=class_axis)
    if reduction == "mean":
        positions = input.data.size // num_classes
        return loss.sum() / (positions if positions else float("nan"))
    return loss.sum() if reduction == "sum" else loss


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None, size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """-w * (y log x + (1 - y) log(1 - x)) on probabilities x in [0, 1], logs clamped at -100 as torch."""
    reduction = reduction_of(size_average, reduce, reduction, "binary_cross_entropy")
    input = as_tensor(input)
    target = as_target(target, input)
    check_floating(input, "binary_cross_entropy")
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(
            f"binary_cross_entropy: target size {tuple(target.shape)} must be the same as input size "
            f"{tuple(input.shape)}"
        )
    if input.data.size:
        lo, hi = float(input.data.min()), float(input.data.max())
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(
                f"binary_cross_entropy: all elements of input should be between 0 and 1, got values in "
                f"[{lo}, {hi}]; apply sigmoid first, or use binary_cross_entropy_with_logits on the logits"
            )
    weights = constant_array(weight, input, "weight", "binary_cross_entropy")
    if weights is not None:
        try:
            weights = np.broadcast_to(weights, input.shape) if isinstance(weights, np.ndarray) else weights
        except ValueError:
            raise ShapeError(f"binary_cross_entropy: weight of shape {tuple(weights.shape)} does not broadcast to "
                             f"the input's shape {tuple(input.shape)}") from None
    return ops.BCE.apply(input, target, weight=weights, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable node: max(x, 0) - x*y + log1p(exp(-|x|)).

    pos_weight (broadcast along the last axis, one weight per class) scales the positive term;
    weight (broadcasting against the input) scales each element's loss, as torch.
    """
    reduction = reduction_of(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    input = as_tensor(input)
    target = as_target(target, input)
    if target.shape != input.shape:
        raise ShapeError(
            f"binary_cross_entropy_with_logits: target size {tuple(target.shape)} must be the same as "
            f"input size {tuple(input.shape)}"
        )
    inner = reduction if weight is None else "none"
    if pos_weight is None:
        loss = ops.BCEWithLogits.apply(input, target, reduction=inner)
    else:
        loss = ops.BCEWithLogits.apply(input, target, as_target(pos_weight, input), reduction=inner)
    if weight is None:
        return loss
    loss = loss * as_target(weight, input)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def kl_div(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL divergence loss of log-probabilities `input` against probabilities `target` (torch's kl_div).

    Pointwise target * (log(target) - input), with 0 where target is 0; with log_target=True
    the target holds log-probabilities: exp(target) * (target - input). Reduction "batchmean"
    (sum / batch size) is the KL divergence per sample; "mean" (torch's default, kept for
    compatibility) divides by every element and warns, as torch does. One fused node.
    """
    if size_average is not None or reduce is not None:
        reduction = reduction_of(size_average, reduce, "mean", "kl_div")
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"kl_div: reduction={reduction!r} is not one of {', '.join(map(repr, KL_REDUCTIONS))}")
    if not isinstance(log_target, bool):
        raise TypeError(f"kl_div: log_target must be a bool, got {log_target!r}")
    input = as_tensor(input)
    target = as_target(target, input)
    if input.dtype.kind != "f" or target.dtype.kind != "f":
        raise TypeError(f"kl_div: input and target must be floating point, got {input.dtype} and {target.dtype}")
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ShapeError(f"kl_div: input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} "
                         "do not broadcast") from None
    if reduction == "mean":
        warnings.warn(
            "kl_div: reduction='mean' divides the total loss by both the batch size and the number of classes; "
            "'batchmean' divides by the batch size only and is the KL divergence per sample",
            stacklevel=2,
        )
    return ops.KLDiv.apply(input, target, reduction=reduction, log_target=log_target)


# ---- regression -----------------------------------------------------------------------
def _weighted(loss: Tensor, weight: Any, input: Tensor, reduction: str, mean_by: str, op: str) -> Tensor:
    """torch's weighted regression losses: loss * weight, "mean" over sum(weight) or over the count."""
    weight = as_target(weight, input)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weights and input must have the same size, got {tuple(weight.shape)} and "
                         f"{tuple(input.shape)}")
    loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / weight.sum() if mean_by == "weight" else loss.mean()


def _regression(op_name: str, function, input, target, reduction, weight, mean_by="weight", **options) -> Tensor:
    input = as_tensor(input)
    target = as_target(target, input)
    warn_if_shapes_differ(input, target, op_name)
    if weight is None:
        return function.apply(input, target, reduction=reduction, **options)
    loss = function.apply(input, target, reduction="none", **options)
    return _weighted(loss, weight, input, reduction, mean_by, op_name)


def mse_loss(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
             weight: Any = None) -> Tensor:
    """Mean (or sum, or element-wise) squared error; one fused node (weighted: "mean" is sum / sum(weight))."""
    reduction = reduction_of(size_average, reduce, reduction, "mse_loss")
    return _regression("mse_loss", ops.MSE, input, target, reduction, weight)


def l1_loss(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
            weight: Any = None) -> Tensor:
    """Mean (or sum, or element-wise) absolute error (weighted: "mean" is sum / sum(weight))."""
    reduction = reduction_of(size_average, reduce, reduction, "l1_loss")
    return _regression("l1_loss", ops.L1, input, target, reduction, weight)


def smooth_l1_loss(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target; beta = 0 is L1)."""
    reduction = reduction_of(size_average, reduce, reduction, "smooth_l1_loss")
    beta = check_number(beta, "beta", "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return _regression("smooth_l1_loss", ops.SmoothL1, input, target, reduction, None, beta=beta)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0, weight: Any = None) -> Tensor:
    """0.5 d^2 where |d| < delta, delta * (|d| - 0.5 delta) elsewhere (weighted: "mean" over the count)."""
    reduction = reduction_of(None, None, reduction, "huber_loss")
    delta = check_number(delta, "delta", "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _regression("huber_loss", ops.Huber, input, target, reduction, weight, mean_by="count", delta=delta)
