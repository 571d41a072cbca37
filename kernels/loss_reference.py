"""The regression losses and the negative log-likelihood as plain array expressions (the twins of loss_cpu.py).

Regression losses, on d = x - y element by element; each returns (the loss reduced by `reduction`,
slope = dloss/dd per element), so that backward is the slope times the upstream gradient:
    l1_loss         loss = |d|                                                  slope = sign(d)
    smooth_l1_loss  loss = 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere
                                                       slope = clip(d / beta, -1, 1)   (beta = 0: l1_loss)
    huber_loss      loss = 0.5 d^2 where |d| < delta, delta * (|d| - 0.5 delta) elsewhere
                                                       slope = clip(d, -delta, delta)
Negative log-likelihood of log-probabilities x (N, C, d1, ...) at class targets t (N, d1, ...), with class
weights, an ignored class and label smoothing eps (formulas in ops.NLLLoss): nll_loss returns (loss, w,
total_weight), w the weight of each position (0 where ignored) and total_weight = sum(w) for "mean";
nll_loss_backward(g, ...) returns dL/dx from them.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .opmath import HALF, opmath
from .reference import _xp

_ndarray, _add_reduce = np.ndarray, np.add.reduce


def reduce_loss(loss, reduction: str):
    """The mean (sum / n), sum or the elements themselves ("none") of a per-element loss."""
    if reduction == "mean":
        if loss.size and loss.dtype.itemsize >= 4:  # float32/64: sum / n is NumPy's mean, bitwise,
            return _sum(loss) / loss.size              # without ndarray.mean's Python wrapper
        return loss.mean()
    if reduction == "sum":
        return _sum(loss)
    return loss


def _sum(loss):
    """loss.sum(); for a NumPy array its reduction is called directly, without ndarray.sum's Python wrapper
    (numpy/_core/_methods.py), which passes the same arguments on: the same bits."""
    return _add_reduce(loss, axis=None) if type(loss) is _ndarray else loss.sum()


def l1_loss(x, y, reduction: str):
    xp = _xp(x)
    d = x - y
    sign = xp.sign(d)
    return reduce_loss(xp.abs(d), reduction), xp.where(sign == sign, sign, 0).astype(d.dtype, copy=False)  # sgn(NaN) = 0


def smooth_l1_loss(x, y, beta: float, reduction: str):
    if beta == 0:
        return l1_loss(x, y, reduction)
    xp = _xp(x)
    d = x - y
    ad = xp.abs(d)
    if d.dtype == HALF:
        # torch's half kernels: the loss in float16 steps (beta and 0.5 * beta in float16), the slope in
        # float32 from x - y in float32 (rounded with the gradient, once)
        half_beta = HALF.type(beta)
        loss = xp.where(ad < half_beta, (HALF.type(0.5) * ad) * ad / half_beta, ad - HALF.type(0.5) * half_beta)
        return reduce_loss(loss, reduction), xp.clip((opmath(x) - opmath(y)) / beta, -1, 1)
    loss = xp.where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta).astype(d.dtype, copy=False)
    return reduce_loss(loss, reduction), xp.clip(d / beta, -1, 1).astype(d.dtype, copy=False)


def huber_loss(x, y, delta: float, reduction: str):
    xp = _xp(x)
    d = x - y
    wide = opmath(x) - opmath(y)  # float16: each loss in float32, rounded once, as torch's half kernel
    ad = xp.abs(wide)
    loss = xp.where(ad < delta, wide * wide * 0.5, (ad - 0.5 * delta) * delta).astype(d.dtype)
    return reduce_loss(loss, reduction), xp.clip(d, -delta, delta).astype(d.dtype, copy=False)


# ---- negative log-likelihood ----------------------------------------------------------------------

def _class_shape(num_classes: int, ndim: int) -> tuple:
    return (1, num_classes) + (1,) * (ndim - 2)


def _targets(target, ignore_index: int, num_classes: int, ndim: int):
    """(keep, safe, mask): keep_i = [t_i != ignore_index], safe_i = t_i where kept else 0, and
    mask[i, c] = keep_i and c == t_i (c on axis 1)."""
    xp = _xp(target)
    keep = target != ignore_index
    safe = xp.where(keep, target, 0)
    classes = xp.arange(num_classes).reshape(_class_shape(num_classes, ndim))
    return keep, safe, (xp.expand_dims(safe, 1) == classes) & xp.expand_dims(keep, 1)


def nll_loss(x, target, weight, ignore_index: int, reduction: str, label_smoothing: float):
    xp = _xp(x)
    eps, num_classes = label_smoothing, x.shape[1]
    keep, safe, mask = _targets(target, ignore_index, num_classes, x.ndim)
    w = keep.astype(x.dtype) if weight is None else weight[safe] * keep
    picked = xp.where(mask, x, 0).sum(axis=1)  # exactly x[i, t_i]: the other terms are 0
    loss = -(w * picked)
    if eps:
        class_weights = 1 if weight is None else weight.reshape(_class_shape(num_classes, x.ndim))
        smooth = xp.where(keep, -(x * class_weights).sum(axis=1), 0)
        loss = loss * (1.0 - eps) + smooth * (eps / num_classes)
    if reduction == "none":
        return loss.astype(x.dtype, copy=False), w, None
    total = loss.sum()
    if reduction == "sum":
        return total.astype(x.dtype, copy=False), w, None
    with _quiet(xp):
        total_weight = w.sum()
        return (total / total_weight).astype(x.dtype, copy=False), w, total_weight


def nll_loss_backward(g, target, w, total_weight, weight, num_classes: int, ignore_index: int, reduction: str,
                      label_smoothing: float):
    xp = _xp(g)
    eps = label_smoothing
    keep, _, mask = _targets(target, ignore_index, num_classes, target.ndim + 1)
    scale = -g
    if reduction == "mean":
        with _quiet(xp):
            scale = scale / total_weight
    if scale.ndim:  # "none": one upstream value per position, broadcast over the class axis
        scale = xp.expand_dims(scale, 1)
    picked = xp.expand_dims(w * (1.0 - eps), 1)
    with _quiet(xp):  # NaN * 0 where every target is ignored: masked to 0 below
        if not eps:
            return xp.where(mask, picked * scale, 0).astype(g.dtype, copy=False)
        class_weights = 1 if weight is None else weight.reshape(_class_shape(num_classes, target.ndim + 1))
        spread = xp.where(mask, picked, 0) + class_weights * (eps / num_classes)
        return xp.where(xp.expand_dims(keep, 1), spread * scale, 0).astype(g.dtype, copy=False)


def _quiet(xp):
    """0 / 0 gives NaN silently: torch's answer when every target is ignored."""
    return xp.errstate(invalid="ignore", divide="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()
