"""Fused, numerically stable losses: one graph node each, forward and backward in one step.

Notation: g is the upstream gradient (0-d for "mean"/"sum", shaped like the
per-element loss for "none"), n the number of terms averaged by "mean".
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel
from ..kernels.loss_reference import reduce_loss
from ..kernels.opmath import HALF, opmath, over_number, rounded
from ..quiet_numpy import silent

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, op: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction={reduction!r} is not one of {', '.join(map(repr, REDUCTIONS))}")


_reduce = reduce_loss  # the kernels' reference reduction, shared by every loss op


def _upstream_scale(g, reduction: str, n: int, ndim: int):
    """dL/d(loss element): g / n for mean, g for sum, g itself (per element) for none."""
    if reduction == "mean":
        return g / n
    if reduction == "none" and g.ndim < ndim:
        return g.reshape(g.shape + (1,) * (ndim - g.ndim))
    return g


class CrossEntropy(Function):
    """Softmax cross-entropy on logits z (N, C) with class indices t (N,) or class probabilities (N, C).

    Forward (stable): logp = z - max(z) - log(sum(exp(z - max(z)))), row by row;
        loss_i = -sum_j q_ij logp_ij,  q = (1 - eps) * target + eps / C   (label smoothing eps;
        target is the one-hot of t_i or the given probabilities); then mean over N, sum or none.
    Backward, with p = softmax(z):
        dL/dz_ij = (p_ij * sum_k q_ik - q_ij) * g_i / n     (sum_k q_ik = 1 for class indices)
        dL/dtarget_ij = -(1 - eps) * logp_ij * g_i / n       (probability targets only)
    With class indices, forward is one fused kernel pass over the logits that also writes
    p - q (kernels.reference.softmax_cross_entropy), so backward is a single multiply.
    """

    @staticmethod
    def forward(ctx, z, target, reduction="mean", label_smoothing=0.0):
        eps = label_smoothing
        ctx.target, ctx.reduction, ctx.eps = target, reduction, eps
        if target.ndim == 1:  # class indices: the training hot path, one fused kernel pass
            # loss per row and dz = softmax(z) - q together (kernels.reference.softmax_cross_entropy)
            loss, ctx.dz = kernel("softmax_cross_entropy", z)(z, target, eps)
            return _reduce(loss, reduction)
        xp = array_module(z)
        n, c = z.shape
        shifted = z - z.max(axis=1, keepdims=True)
        q = target * (1.0 - eps) + eps / c if eps else target
        e = xp.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        logp = shifted - xp.log(s)
        loss = -(q * logp).sum(axis=1)
        ctx.logp, ctx.q, ctx.e, ctx.s = logp, q, e, s
        return _reduce(loss, reduction).astype(z.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        target, eps = ctx.target, ctx.eps
        gz = gt = None
        if target.ndim == 1:
            if ctx.needs_input_grad[0]:
                dz = ctx.dz
                gz = dz * _upstream_scale(g, ctx.reduction, dz.shape[0], 2)  # 0-d, or (N, 1) for "none"
            return gz, None
        e, s, q = ctx.e, ctx.s, ctx.q
        scale = _upstream_scale(g, ctx.reduction, e.shape[0], 2)
        if ctx.needs_input_grad[0]:
            gz = (e * (q.sum(axis=1, keepdims=True) / s) - q) * scale
        if ctx.needs_input_grad[1]:
            gt = ctx.logp * (-(1.0 - eps) * scale)
        return gz, gt


# (target array, low, high) set by known_target_range; None: every target is checked where it lives
_KNOWN_RANGE: ContextVar[tuple[Any, int, int] | None] = ContextVar("tinygrad_opt_known_target_range", default=None)


@contextmanager
def known_target_range(target: Any, low: int, high: int) -> Iterator[None]:
    """Internal: inside the block, class-index checks take [low, high] as the range of `target`.

    For a caller that has proved the range on the host already: the Trainer checks its
    loader's whole label array once per fit() and enters this around each loss call, so a
    CUDA step does not copy the targets' min and max back to the host. The promise holds
    for this one array (the same object, or a view of the same memory) and only inside the
    block; any other target is checked as usual, and the comparison with the number of
    classes, and its error, still happens at every call.
    """
    token = _KNOWN_RANGE.set((target, int(low), int(high)))
    try:
        yield
    finally:
        _KNOWN_RANGE.reset(token)


def _same_array(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b) or a.shape != b.shape or a.dtype != b.dtype or a.strides != b.strides:
        return False
    address = (lambda v: v.ctypes.data) if isinstance(a, np.ndarray) else (lambda v: v.data.ptr)
    return address(a) == address(b)


class TargetOutOfRangeError(IndexError, ValueError):
    """A class index outside [0, num_classes) that is not the ignore_index.

    An IndexError, as torch raises, and a ValueError, as the engine raised before.
    """


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # by itemsize


def check_class_targets(target, num_classes: int, op: str, ignore_index: int | None = None) -> bool:
    """Class-index targets must be integers in [0, num_classes), or equal ignore_index.

    Returns True when every target lies in [0, num_classes) (so none can be ignored unless
    ignore_index itself is a class). The range comes from known_target_range when the caller
    has proved it, else from the array itself (on the GPU that is one two-number
    device-to-host copy); only targets outside the range are looked at one by one.
    """
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: class-index targets must have an integer dtype, got {target.dtype}; "
            "convert them with .long() (or pass class probabilities of the input's shape)"
        )
    if not target.size:
        return True
    known = _KNOWN_RANGE.get()
    if known is not None and _same_array(known[0], target):
        lo, hi = known[1], known[2]
    elif isinstance(target, np.ndarray):
        # one reduction for the usual answer: viewed as unsigned, a negative index is huge, so a maximum
        # below num_classes puts every index in [0, num_classes); else min and max find the culprit
        if target.dtype.isnative and _largest(target.view(_UNSIGNED[target.dtype.itemsize])) < num_classes:
            return True
        lo, hi = int(target.min()), int(target.max())
    else:  # on the GPU: one device-to-host copy instead of two
        xp = array_module(target)
        lo, hi = (int(v) for v in xp.stack([target.min(), target.max()]).tolist())
    if lo >= 0 and hi < num_classes:
        return True
    bad = [lo] if lo < 0 else []
    bad += [hi] if hi >= num_classes else []
    if ignore_index is not None and ignore_index in bad:
        outside = target[((target < 0) | (target >= num_classes)) & (target != ignore_index)]
        bad = [int(outside.reshape(-1)[0])] if outside.size else []
    if bad:
        hint = f" or equal ignore_index={ignore_index}" if ignore_index is not None else ""
        raise TargetOutOfRangeError(
            f"{op}: target {bad[0]} is out of range for {num_classes} classes; "
            f"class indices must lie in [0, {num_classes - 1}]{hint}"
        )
    return False


def _largest(array):
    """array.max(); for a plain NumPy array its reduction is called directly, without ndarray.max's Python
    wrapper (numpy/_core/_methods.py); a subclass keeps its own max."""
    return _max_reduce(array, axis=None) if type(array) is _ndarray else array.max()


_ndarray, _max_reduce = np.ndarray, np.maximum.reduce


class MSE(Function):
    """loss = reduce((x - y)**2).   dL/dx = 2 (x - y) g / n,  dL/dy = 2 (y - x) g / n (float16: torch's order
    and float16 steps, (x - y) * (2 / n) then * g)."""

    @staticmethod
    def forward(ctx, x, y, reduction="mean"):
        d = x - y
        ctx.d, ctx.reduction = d, reduction
        return _reduce(d * d, reduction)

    @staticmethod
    def backward(ctx, g):
        d = ctx.d
        need_x, need_y = ctx.needs_input_grad
        if d.dtype == HALF:  # torch's half kernel: (d * norm) * g in float16 steps, norm = 2 (/ n) in float16
            norm = d.dtype.type(2 / d.size if ctx.reduction == "mean" else 2)
            scale = _upstream_scale(g, "sum" if ctx.reduction == "mean" else ctx.reduction, d.size, d.ndim)
            return ((d * norm) * scale if need_x else None), (((0 - d) * norm) * scale if need_y else None)
        scale = 2 * _upstream_scale(g, ctx.reduction, d.size, d.ndim)
        # the target's gradient from y - x (0 - d), as torch's: where x == y its zero takes g's sign, not -g's
        return (d * scale if need_x else None), ((0 - d) * scale if need_y else None)


class BCEWithLogits(Function):
    """Binary cross-entropy on logits x with targets y (and optional pos_weight w, broadcasting).

    With softplus(v) = log(1 + exp(v)) = max(v, 0) + log1p(exp(-|v|)) (stable for any v):
        loss = w * y * softplus(-x) + (1 - y) * softplus(x)
             = (1 - y) * x + (1 + (w - 1) * y) * softplus(-x)      (w = 1: max(x,0) - x y + log1p(exp(-|x|)))
    Backward, with s = sigmoid(x):
        dL/dx = (s * (1 + (w - 1) * y) - w * y) * g / n            (w = 1: (s - y) g / n)
        dL/dy = (w * softplus(-x) - softplus(x)) * g / n           (w = 1: -x g / n)
        dL/dw = y * softplus(-x) * g / n
    """

    @staticmethod
    @silent
    def forward(ctx, x, y, w=None, reduction="mean"):
        xp = array_module(x)
        if x.dtype == HALF and w is None:  # torch composes it of float16 tensor ops: (1 - y) * x - logsigmoid(x)
            wide = opmath(x)
            log_sigmoid = rounded(xp.minimum(wide, 0) - xp.log1p(xp.exp(-xp.abs(wide))), HALF)
            ctx.x, ctx.y, ctx.w, ctx.sp_neg, ctx.reduction = x, y, w, None, reduction
            loss = (1 - y) * x - log_sigmoid
            ctx.n = loss.size
            return _reduce(loss, reduction)
        tail = xp.log1p(xp.exp(-xp.abs(x)))  # log1p(exp(-|x|)), never overflows
        sp_neg = xp.maximum(-x, 0) + tail  # softplus(-x)
        if w is None:
            loss = (1 - y) * x + sp_neg
        else:
            loss = (1 - y) * x + (1 + (w - 1) * y) * sp_neg
        ctx.x, ctx.y, ctx.w, ctx.sp_neg, ctx.reduction = x, y, w, sp_neg, reduction
        ctx.n = loss.size
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        x, y, w, sp_neg = ctx.x, ctx.y, ctx.w, ctx.sp_neg
        needs = ctx.needs_input_grad
        if sp_neg is None:  # float16 without weights: torch's (sigmoid(x) - y) * g and -x * g, float16 steps
            upstream = _upstream_scale(g, "sum" if ctx.reduction == "mean" else ctx.reduction, ctx.n, g.ndim)
            wide = opmath(x)
            e = xp.exp(-xp.abs(wide))
            s = rounded(xp.where(wide >= 0, 1, e) / (1 + e), HALF)
            grads = ((s - y) * upstream if needs[0] else None), ((-x) * upstream if needs[1] else None)
            return tuple(over_number(v, ctx.n) if v is not None and ctx.reduction == "mean" else v for v in grads)
        scale = _upstream_scale(g, ctx.reduction, ctx.n, g.ndim)
        gx = gy = gw = None
        if needs[0]:
            s = xp.exp(-sp_neg)  # sigmoid(x) = exp(-softplus(-x)), stable
            gx = (s - y) * scale if w is None else (s * (1 + (w - 1) * y) - w * y) * scale
        if needs[1]:
            # softplus(x) = x + softplus(-x)
            gy = -x * scale if w is None else (w * sp_neg - (x + sp_neg)) * scale
        if w is not None and needs[2]:
            gw = y * sp_neg * scale
        return (gx, gy) if w is None else (gx, gy, gw)


# torch's clamp of x (1 - x) in BCE's backward: the float32 constant 1e-12f, also for float64 inputs
BCE_EPSILON = float(np.float32(1e-12))


class BCE(Function):
    """Binary cross-entropy of probabilities x against targets y, weights w (torch's formulas).

    The weights (broadcasting against x) are an option: they get no gradient, as in torch.

    loss = -w * (y * max(log x, -100) + (1 - y) * max(log1p(-x), -100))   (torch clamps the logs)
    dL/dx = w * (x - y) / max(x * (1 - x), 1e-12) * g / n        (1e-12 rounded to float32, as torch)
    dL/dy = -w * logit(x) * g / n = w * log((1 - x) / x) * g / n     (infinite at x = 0 or 1)
    """

    @staticmethod
    @silent
    def forward(ctx, x, y, weight=None, reduction="mean"):
        xp, w = array_module(x), weight
        with np.errstate(divide="ignore"):
            loss = (y - 1) * xp.maximum(xp.log1p(-x), -100) - y * xp.maximum(xp.log(x), -100)
        if w is not None:
            loss = loss * w
        ctx.x, ctx.y, ctx.w, ctx.reduction, ctx.n = x, y, w, reduction, loss.size
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        x, y, w = ctx.x, ctx.y, ctx.w
        scale = _upstream_scale(g, ctx.reduction, ctx.n, g.ndim)
        if w is not None:
            scale = scale * w
        needs = ctx.needs_input_grad
        if x.dtype == HALF:
            return _half_bce_backward(ctx, g, needs)
        gx = (x - y) / xp.maximum(x * (1 - x), BCE_EPSILON) * scale if needs[0] else None
        gy = None
        if needs[1]:
            with np.errstate(divide="ignore"):
                gy = -xp.log(x / (1 - x)) * scale
        return gx, gy


def _half_bce_backward(ctx, g, needs):
    """BCE's float16 gradients as torch's: its half kernel in float16 steps for x (its 1e-12 is 0 in
    float16), -logit(x) * g for y (logit in float16 steps too), then times the weights and divided by n
    for "mean", each step rounded."""
    xp = array_module(g)
    x, y, w = ctx.x, ctx.y, ctx.w
    upstream = _upstream_scale(g, "sum" if ctx.reduction == "mean" else ctx.reduction, ctx.n, g.ndim)
    grads = []
    if needs[0]:
        grads.append((upstream * (x - y)) / xp.maximum((1 - x) * x, HALF.type(BCE_EPSILON)))
    if needs[1]:
        with np.errstate(divide="ignore"):  # torch's float16 logit: x / (1 - x) rounded, then its log
            grads.append(-xp.log(x / (1 - x)) * upstream)
    grads = [v if w is None else v * w for v in grads]
    grads = [over_number(v, ctx.n) if ctx.reduction == "mean" else v for v in grads]
    return (grads.pop(0) if needs[0] else None), (grads.pop(0) if needs[1] else None)
