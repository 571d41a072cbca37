"""Element-wise regression losses on d = x - y (L1, smooth L1, Huber), one node each.

Notation as in ops/loss.py: g is the upstream gradient, scaled by 1 / n for "mean".
dL/dy = -dL/dx in every case; x and y may broadcast (the traversal sums gradients back).
Each forward is a kernel (kernels/loss_reference.py holds the array expressions) that returns
the reduced loss and the slope dloss/dd; the Numba loops compute both in one pass.
"""
from ..autograd import Function
from ..kernels import get as kernel
from .loss import _upstream_scale


class _PointwiseLoss(Function):
    """Shared plumbing: forward saves d' = dloss/dd per element, backward scales it by g."""

    @staticmethod
    def backward(ctx, g):
        gx = ctx.slope * _upstream_scale(g, ctx.reduction, ctx.slope.size, ctx.slope.ndim)
        need_x, need_y = ctx.needs_input_grad
        return (gx if need_x else None), (-gx if need_y else None)


class L1(_PointwiseLoss):
    """loss = |d|.   dloss/dd = sign(d)   (0 at d == 0, as torch's sgn)."""

    @staticmethod
    def forward(ctx, x, y, reduction="mean"):
        loss, ctx.slope = kernel("l1_loss", x)(x, y, reduction)
        ctx.reduction = reduction
        return loss


class SmoothL1(_PointwiseLoss):
    """loss = 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (beta = 0: |d|).

    dloss/dd = d / beta inside, sign(d) outside (torch: -1 for d <= -beta, 1 for d >= beta).
    """

    @staticmethod
    def forward(ctx, x, y, reduction="mean", beta=1.0):
        loss, ctx.slope = kernel("smooth_l1_loss", x)(x, y, beta, reduction)
        ctx.reduction = reduction
        return loss


class Huber(_PointwiseLoss):
    """loss = 0.5 d^2 where |d| < delta, delta * (|d| - 0.5 delta) elsewhere.

    dloss/dd = d inside, delta * sign(d) outside (torch: -delta for d <= -delta, delta for d >= delta).
    """

    @staticmethod
    def forward(ctx, x, y, reduction="mean", delta=1.0):
        loss, ctx.slope = kernel("huber_loss", x)(x, y, delta, reduction)
        ctx.reduction = reduction
        return loss
