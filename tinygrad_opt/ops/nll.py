"""Negative log-likelihood with class weights, an ignored class and label smoothing (torch's nll_loss,
and the class-index half of torch's cross_entropy after its log_softmax)."""
import contextlib

from ..autograd import Function
from ..backend import array_module


def _class_shape(num_classes: int, ndim: int) -> tuple:
    return (1, num_classes) + (1,) * (ndim - 2)


class NLLLoss(Function):
    """Log-probabilities x (N, C, d1, ...), class targets t (N, d1, ...), class weights w (C,).

    For every position i: k_i = 0 where t_i == ignore_index, else 1; w_i = w[t_i] * k_i
    (k_i without weights); eps = label_smoothing (cross_entropy's; 0 for nll_loss):
        loss_i = -(1 - eps) * w_i * x[i, t_i]  -  eps / C * k_i * sum_c w_c x[i, c]
    "mean" divides the sum by W = sum_i w_i (torch's weighted mean, also for the smoothing
    term; NaN when every target is ignored), "sum" sums, "none" keeps (N, d1, ...). Backward:
        dL/dx[i, c] = -s_i * k_i * ((1 - eps) * w_i * [c == t_i] + eps / C * w_c)
    with s_i = g / W for "mean", g for "sum", g_i for "none". Targets and weights get no
    gradient (they are options, as in torch).
    """

    @staticmethod
    def forward(ctx, x, target=None, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        xp = array_module(x)
        eps, num_classes = label_smoothing, x.shape[1]
        keep = target != ignore_index
        safe = xp.where(keep, target, 0)
        classes = xp.arange(num_classes).reshape(_class_shape(num_classes, x.ndim))
        mask = (xp.expand_dims(safe, 1) == classes) & xp.expand_dims(keep, 1)
        w = keep.astype(x.dtype) if weight is None else weight[safe] * keep
        picked = xp.where(mask, x, 0).sum(axis=1)  # exactly x[i, t_i]: the other terms are 0
        loss = -(w * picked)
        class_weights = None
        if eps:
            class_weights = 1 if weight is None else weight.reshape(_class_shape(num_classes, x.ndim))
            smooth = xp.where(keep, -(x * class_weights).sum(axis=1), 0)
            loss = loss * (1.0 - eps) + smooth * (eps / num_classes)
        ctx.mask, ctx.keep, ctx.w, ctx.class_weights = mask, keep, w, class_weights
        ctx.reduction, ctx.eps = reduction, eps
        if reduction == "none":
            return loss.astype(x.dtype, copy=False)
        total = loss.sum()
        if reduction == "sum":
            return total.astype(x.dtype, copy=False)
        with _quiet(xp):
            ctx.total_weight = w.sum()
            return (total / ctx.total_weight).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        eps, mask = ctx.eps, ctx.mask
        scale = -g
        if ctx.reduction == "mean":
            with _quiet(xp):
                scale = scale / ctx.total_weight
        if scale.ndim:  # "none": one upstream value per position, broadcast over the class axis
            scale = xp.expand_dims(scale, 1)
        picked = xp.expand_dims(ctx.w * (1.0 - eps), 1)
        with _quiet(xp):  # NaN * 0 where every target is ignored: masked to 0 below
            if not eps:
                return xp.where(mask, picked * scale, 0).astype(g.dtype, copy=False)
            num_classes = mask.shape[1]
            spread = xp.where(mask, picked, 0) + ctx.class_weights * (eps / num_classes)
            return xp.where(xp.expand_dims(ctx.keep, 1), spread * scale, 0).astype(g.dtype, copy=False)


def _quiet(xp):
    """0 / 0 gives NaN silently: torch's answer when every target is ignored."""
    return xp.errstate(invalid="ignore", divide="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()
