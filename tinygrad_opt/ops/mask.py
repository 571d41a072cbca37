"""The pruning reparametrisation weight = weight_orig * weight_mask as one graph node."""
from ..autograd import Function
from ..kernels import get as kernel


class ApplyMask(Function):
    """w = orig * mask, the mask a constant 0/1 array (orig's dtype, or bool).

    dL/dorig = g * mask   (pruned entries get no gradient; the mask gets none at all)
    Both directions are the fused kernel apply_mask (kernels.reference.apply_mask).
    """

    @staticmethod
    def forward(ctx, orig, mask):
        ctx.mask = mask
        return kernel("apply_mask", orig)(orig, mask)

    @staticmethod
    def backward(ctx, g):
        gw = kernel("apply_mask", g)(g, ctx.mask) if ctx.needs_input_grad[0] else None
        return gw, None


def apply_mask(orig, mask):
    """orig * mask for Tensors (mask without gradient): the pruned weight, recorded as one node."""
    return ApplyMask.apply(orig, mask)
