"""Kullback-Leibler divergence as one graph node (torch.nn.functional.kl_div's convention)."""
import contextlib

from ..autograd import Function
from ..backend import array_module
from ..kernels.opmath import over_number

KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def _quiet(xp):
    """NumPy warns on log(0) and 0 * inf; the formulas below choose the value at 0 explicitly."""
    return xp.errstate(divide="ignore", invalid="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


class KLDiv(Function):
    """KL(target || exp(input)) term by term, where `input` holds log-probabilities x.

    Pointwise, with t the target probabilities (log_target=False):
        l = t * (log t - x),  with 0 * log 0 = 0 (so l = 0 where t = 0)
        dl/dx = -t
        dl/dt = log t + t / t - x, in torch's order: (g * log t + (g * t) / t) + (-g) * x, with g * log t
                                    taken as 0 at t = 0 (torch's xlogy), so NaN at t = 0 (0 / 0, as torch)
    and with s = log t given (log_target=True):
        l = exp(s) * (s - x)
        dl/dx = -exp(s)
        dl/ds = exp(s) * (s - x + 1)
    Reduction: "none" keeps l (inputs broadcast), "sum" sums it, "mean" divides the sum by
    the number of elements, "batchmean" by the size of the first axis (the true KL per sample).
    The upstream gradient g is scaled the same way: g, g / numel or g / batch.
    """

    @staticmethod
    def forward(ctx, x, t, reduction="mean", log_target=False):
        xp = array_module(x)
        with _quiet(xp):
            if log_target:
                pt = xp.exp(t)
                loss = pt * (t - x)
            else:
                pt = None
                loss = xp.where(t == 0, 0, t * xp.log(t)) - t * x
        ctx.x, ctx.t, ctx.pt, ctx.log_target, ctx.reduction = x, t, pt, log_target, reduction
        ctx.shape = loss.shape
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "mean":
            return total / max(loss.size, 1)
        if reduction == "batchmean" and x.ndim != 0:
            return total / x.shape[0]
        return total

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        x, t, reduction = ctx.x, ctx.t, ctx.reduction
        if reduction == "mean":
            g = over_number(g, max(int(_numel(ctx.shape)), 1))
        elif reduction == "batchmean" and x.ndim != 0:
            g = over_number(g, x.shape[0])
        need_x, need_t = ctx.needs_input_grad
        gx = gt = None
        if ctx.log_target:
            if need_x:
                gx = -g * ctx.pt
            if need_t:
                gt = g * ctx.pt * (t - x + 1)
        else:
            if need_x:
                gx = -g * t
            if need_t:  # torch composes kl_div of xlogy(t, t) - t * x: its three gradient terms, in its order
                with _quiet(xp):
                    log_t = xp.where(t != 0, xp.log(t), xp.zeros((), t.dtype))
                    gt = (g * log_t + (g * t) / t) + (-g) * x
        if gx is not None and gx.shape != ctx.shape:
            gx = xp.broadcast_to(gx, ctx.shape)  # the traversal un-broadcasts to x's shape
        if gt is not None and gt.shape != ctx.shape:
            gt = xp.broadcast_to(gt, ctx.shape)
        return gx, gt


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
