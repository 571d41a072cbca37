"""Element-wise regression losses on d = x - y (L1, smooth L1, Huber), one node each.

Notation as in ops/loss.py: g is the upstream gradient, scaled by 1 / n for "mean".
dL/dy = -dL/dx in every case; x and y may broadcast (the traversal sums gradients back).
Each forward is a kernel (kernels/loss_reference.py holds the array expressions) that returns
the reduced loss and the slope dloss/dd; the Numba loops compute both in one pass.
"""
from ..autograd import Function
from ..kernels import get as kernel
from ..kernels.opmath import opmath, rounded
from .loss import _upstream_scale


class _PointwiseLoss(Function):
    """Shared plumbing: forward saves d' = dloss/dd per element, backward scales it by g.

    SWAPPED: torch computes the target's gradient by the same backward with input and target swapped,
    slope(y - x) * g = (0 - d') * g, whose zero (at x == y) takes g's sign; otherwise dL/dy = -dL/dx."""

    SWAPPED = False

    @classmethod
    def backward(cls, ctx, g):
        # a float32 slope of float16 inputs (smooth L1's, as torch's) meets g in float32 and rounds once here
        wide = g if g.dtype == ctx.slope.dtype else opmath(g)
        scale = _upstream_scale(wide, ctx.reduction, ctx.slope.size, ctx.slope.ndim)
        need_x, need_y = ctx.needs_input_grad
        gx = rounded(ctx.slope * scale, g.dtype) if need_x or not cls.SWAPPED else None
        if not need_y:
            return gx, None
        return gx, (rounded((0 - ctx.slope) * scale, g.dtype) if cls.SWAPPED else -gx)


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

    SWAPPED = True

    @staticmethod
    def forward(ctx, x, y, reduction="mean", beta=1.0):
        loss, ctx.slope = kernel("smooth_l1_loss", x)(x, y, beta, reduction)
        ctx.reduction = reduction
        return loss


class Huber(_PointwiseLoss):
    """loss = 0.5 d^2 where |d| < delta, delta * (|d| - 0.5 delta) elsewhere.

    dloss/dd = d inside, delta * sign(d) outside (torch: -delta for d <= -delta, delta for d >= delta).
    """

    SWAPPED = True

    @staticmethod
    def forward(ctx, x, y, reduction="mean", delta=1.0):
        loss, ctx.slope = kernel("huber_loss", x)(x, y, delta, reduction)
        ctx.reduction = reduction
        return loss
