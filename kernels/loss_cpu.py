"""Numba versions of loss_reference.py: each loss's elements and slope in one pass, nll_loss row by row.

The regression losses' array expressions take about ten passes over the inputs (d, |d|, the mask,
d * d, the two branches, where, d / beta, clip, the sum); the loops read x and y once and write the
slope (bitwise the reference's) and either the loss elements (bitwise) or their float64 sum (see
_l1_at below). They take float32 and float64 inputs of one shape, C-contiguous (the loops index
flat); broadcasting pairs run the reference.

nll_loss on (N, C) log-probabilities picks one value per row where the reference builds an (N, C)
mask and sums it, and its backward writes one value per row into zeros: without label smoothing
(cross_entropy's, which the reference keeps), for 1-D integer targets within [0, C) or ignore_index.
"""
from __future__ import annotations

from contextlib import nullcontext

import numba
import numpy as np

from .cpu import _ZERO, _jit
from .loss_reference import _quiet, reduce_loss
from .registry import takes


def _same_flat_pair(x, y) -> bool:
    """x and y of one float dtype and shape, C-contiguous and not empty (the loops index flat)."""
    return (x.dtype in _ZERO and y.dtype == x.dtype and x.shape == y.shape and x.size > 0
            and x.flags.c_contiguous and y.flags.c_contiguous)


# Each loss has its element (loss and slope of one d, in the reference's operations) and two loops:
# `elements` writes both arrays ("none": bitwise the reference's), `total` writes the slope and returns
# the sum of the losses, accumulated in float64 ("mean" and "sum": the reference's float32 sum of the
# written elements costs two more passes; this sum is as accurate or more, not bitwise the same). The
# total loops may reorder additions (fastmath "reassoc": the sum vectorises); the slope is unaffected.

@numba.njit(inline="always", error_model="numpy")
def _l1_at(d, one):
    # torch's sgn: +-1, and +0 for both zeros and for NaN (the reference: np.sign with NaN made 0)
    return abs(d), (one if d > 0 else (-one if d < 0 else one - one))


@numba.njit(inline="always", error_model="numpy")
def _smooth_l1_at(d, beta, half_over_beta, half_beta, one):
    ad = abs(d)
    s = d / beta
    return (d * d * half_over_beta if ad < beta else ad - half_beta), (one if s > one else (-one if s < -one else s))


@numba.njit(inline="always", error_model="numpy")
def _huber_at(d, delta, half_delta, half):
    ad = abs(d)
    return (d * d * half if ad < delta else (ad - half_delta) * delta), (delta if d > delta else (
        -delta if d < -delta else d))


@_jit()
def _l1_elements(x, y, loss, slope):
    x, y, loss, slope = x.reshape(-1), y.reshape(-1), loss.reshape(-1), slope.reshape(-1)
    one = slope.dtype.type(1)
    for i in range(x.size):
        loss[i], slope[i] = _l1_at(x[i] - y[i], one)


@_jit(fastmath={"reassoc"})
def _l1_total(x, y, slope):
    x, y, slope = x.reshape(-1), y.reshape(-1), slope.reshape(-1)
    one = slope.dtype.type(1)
    total = 0.0
    for i in range(x.size):
        v, slope[i] = _l1_at(x[i] - y[i], one)
        total += v
    return total


@_jit()
def _smooth_l1_elements(x, y, beta, half_over_beta, half_beta, loss, slope):
    x, y, loss, slope = x.reshape(-1), y.reshape(-1), loss.reshape(-1), slope.reshape(-1)
    one = slope.dtype.type(1)
    for i in range(x.size):
        loss[i], slope[i] = _smooth_l1_at(x[i] - y[i], beta, half_over_beta, half_beta, one)


@_jit(fastmath={"reassoc"})
def _smooth_l1_total(x, y, beta, half_over_beta, half_beta, slope):
    x, y, slope = x.reshape(-1), y.reshape(-1), slope.reshape(-1)
    one = slope.dtype.type(1)
    total = 0.0
    for i in range(x.size):
        v, slope[i] = _smooth_l1_at(x[i] - y[i], beta, half_over_beta, half_beta, one)
        total += v
    return total


@_jit()
def _huber_elements(x, y, delta, half_delta, loss, slope):
    x, y, loss, slope = x.reshape(-1), y.reshape(-1), loss.reshape(-1), slope.reshape(-1)
    half = slope.dtype.type(0.5)
    for i in range(x.size):
        loss[i], slope[i] = _huber_at(x[i] - y[i], delta, half_delta, half)


@_jit(fastmath={"reassoc"})
def _huber_total(x, y, delta, half_delta, slope):
    x, y, slope = x.reshape(-1), y.reshape(-1), slope.reshape(-1)
    half = slope.dtype.type(0.5)
    total = 0.0
    for i in range(x.size):
        v, slope[i] = _huber_at(x[i] - y[i], delta, half_delta, half)
        total += v
    return total


def _run(elements, total, x, y, constants, reduction: str):
    """(the reduced loss, the slope) through the loop the reduction needs."""
    slope = np.empty_like(x)
    if reduction == "none":
        loss = np.empty_like(x)
        elements(x, y, *constants, loss, slope)
        return loss, slope
    summed = total(x, y, *constants, slope)
    if reduction == "mean":
        summed /= x.size
    return np.asarray(summed, x.dtype), slope  # rounded once, to the input's dtype


@takes(lambda x, y, reduction: _same_flat_pair(x, y))
def l1_loss(x, y, reduction: str):
    return _run(_l1_elements, _l1_total, x, y, (), reduction)


@takes(lambda x, y, beta, reduction: _same_flat_pair(x, y))
def smooth_l1_loss(x, y, beta: float, reduction: str):
    if beta == 0:
        return l1_loss(x, y, reduction)
    dtype = x.dtype.type  # the reference's Python-float constants enter its arithmetic in the array's dtype
    return _run(_smooth_l1_elements, _smooth_l1_total, x, y, (dtype(beta), dtype(0.5 / beta), dtype(0.5 * beta)),
                reduction)


@takes(lambda x, y, delta, reduction: _same_flat_pair(x, y))
def huber_loss(x, y, delta: float, reduction: str):
    dtype = x.dtype.type
    return _run(_huber_elements, _huber_total, x, y, (dtype(delta), dtype(0.5 * delta)), reduction)


# ---- negative log-likelihood ----------------------------------------------------------------------

@_jit()
def _classes_in_range(target, num_classes, ignore_index) -> bool:
    outside = 0
    for i in range(target.size):  # no early exit: the loop vectorises, and a bad target is rare
        t = target[i]
        outside += (t != ignore_index) & ((t < 0) | (t >= num_classes))
    return outside == 0


@_jit()
def _nll_rows(x, target, weight, weighted, ignore_index, loss, w):
    zero = x.dtype.type(0)
    for i in range(target.size):
        t = target[i]
        if t == ignore_index:  # the reference's weight[0] * False: 0, or NaN for a NaN weight
            wi = weight[0] * zero if weighted else zero
            picked = zero
        else:
            wi = weight[t] if weighted else x.dtype.type(1)
            picked = x[i, t] + zero  # the reference sums x[i, t] with zeros: -0.0 comes out +0.0
        w[i] = wi
        loss[i] = -(wi * picked)


def _nll_takes(x, target, weight, ignore_index, reduction, label_smoothing) -> bool:
    return (x.ndim == 2 and x.dtype in _ZERO and not label_smoothing and target.ndim == 1
            and target.dtype.kind in "iu" and target.shape[0] == x.shape[0]
            and (weight is None or (weight.dtype == x.dtype and weight.shape == (x.shape[1],)))
            and _classes_in_range(target, x.shape[1], ignore_index))


@takes(_nll_takes)
def nll_loss(x, target, weight, ignore_index: int, reduction: str, label_smoothing: float):
    loss, w = np.empty(target.shape, x.dtype), np.empty(target.shape, x.dtype)
    weighted = weight is not None
    _nll_rows(x, target, weight if weighted else loss, weighted, ignore_index, loss, w)
    if reduction != "mean":
        return reduce_loss(loss, reduction), w, None
    total_weight = w.sum()
    if not total_weight:
        with _quiet(np):  # every target ignored: 0 / 0, torch's NaN
            return loss.sum() / total_weight, w, total_weight
    return loss.sum() / total_weight, w, total_weight


@_jit()
def _nll_backward_rows(scale, step, target, w, ignore_index, out):
    for i in range(target.size):
        t = target[i]
        if t != ignore_index:
            out[i, t] = w[i] * scale[i * step]


def _nll_backward_takes(g, target, w, total_weight, weight, num_classes, ignore_index, reduction,
                        label_smoothing) -> bool:
    return (g.dtype in _ZERO and not label_smoothing and target.ndim == 1 and target.dtype.kind in "iu"
            and w.shape == target.shape and w.dtype == g.dtype and (g.ndim == 0 or g.shape == target.shape)
            and _classes_in_range(target, num_classes, ignore_index))


@takes(_nll_backward_takes)
def nll_loss_backward(g, target, w, total_weight, weight, num_classes: int, ignore_index: int, reduction: str,
                      label_smoothing: float):
    scale = -g
    if reduction == "mean":
        with _quiet(np) if not total_weight else nullcontext():  # 0 / 0 where every target was ignored
            scale = scale / total_weight
    out = np.zeros((target.shape[0], num_classes), g.dtype)
    _nll_backward_rows(np.ascontiguousarray(scale).reshape(-1), 1 if scale.ndim else 0, target, w, ignore_index,
                       out)
    return out
