"""Element-wise ops of two or three inputs beyond arithmetic: maximum/minimum, clamp with tensor
bounds, where, masked_fill. Inputs broadcast; the traversal un-broadcasts gradients.

Notation: g is the upstream gradient dL/dy.
"""
from ..autograd import Function
from ..backend import array_module


class Maximum(Function):
    """y = max(a, b) element-wise.

    dL/da = g / 2 where a == b, +0 where a < b, g elsewhere (NaN too);  dL/db the same with a and b
    swapped (torch's: a NaN passes g to both).
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _split(ctx, g, ctx.a < ctx.b, ctx.a > ctx.b)


class Minimum(Function):
    """y = min(a, b) element-wise.

    dL/da = g / 2 where a == b, +0 where a > b, g elsewhere (NaN too);  dL/db the same with a and b
    swapped (torch's: a NaN passes g to both).
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return array_module(a).minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _split(ctx, g, ctx.a > ctx.b, ctx.a < ctx.b)


def _split(ctx, g, a_loses, b_loses):
    """torch.maximum / torch.minimum's gradient: g / 2 on a tie, else g, and +0 to the side that lost
    (a zero, not g * 0: an inf or NaN g stays out of it, and the zero has no sign, as torch's)."""
    xp = array_module(g)
    shared = xp.where(ctx.a == ctx.b, g / 2, g)
    zero = xp.zeros((), g.dtype)
    need_a, need_b = ctx.needs_input_grad
    return (xp.where(a_loses, zero, shared) if need_a else None), (xp.where(b_loses, zero, shared) if need_b else None)


class ClampTensor(Function):
    """y = min(max(a, lo), hi) with tensor bounds (torch.clamp; hi wins where lo > hi).

    dL/da = g where lo <= a <= hi;  dL/dlo = g where a < lo < hi;  dL/dhi = g where a > hi or hi < lo.
    With one bound: dL/da = g where a >= lo (a <= hi), the bound gets the rest.
    """

    @staticmethod
    def forward(ctx, a, bound_a, bound_b=None, kind="both"):
        xp = array_module(a)
        ctx.a, ctx.kind = a, kind
        if kind == "both":
            ctx.lo, ctx.hi = bound_a, bound_b
            return xp.minimum(xp.maximum(a, bound_a), bound_b)
        ctx.lo = ctx.hi = bound_a
        return xp.maximum(a, bound_a) if kind == "min" else xp.minimum(a, bound_a)

    @staticmethod
    def backward(ctx, g):
        a, lo, hi, kind = ctx.a, ctx.lo, ctx.hi, ctx.kind
        zero = g.dtype.type(0)
        xp = array_module(g)
        if kind == "min":
            return xp.where(a >= lo, g, zero), xp.where(a < lo, g, zero)
        if kind == "max":
            return xp.where(a <= hi, g, zero), xp.where(a > hi, g, zero)
        return (xp.where((a >= lo) & (a <= hi), g, zero),
                xp.where((a < lo) & (lo < hi), g, zero),
                xp.where((a > hi) | (hi < lo), g, zero))


class Where(Function):
    """y = a where cond else b (cond is a boolean array option, no gradient).

    dL/da = g where cond, else 0;  dL/db = g where not cond, else 0.
    """

    @staticmethod
    def forward(ctx, a, b, cond=None):
        ctx.cond = cond
        return array_module(a).where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        zero = g.dtype.type(0)
        need_a, need_b = ctx.needs_input_grad
        return (xp.where(ctx.cond, g, zero) if need_a else None), (xp.where(ctx.cond, zero, g) if need_b else None)


class MaskedFill(Function):
    """y = a with `value` where mask (a boolean array option, broadcast to a).

    dL/da = g where not mask, else 0;  dL/dvalue = sum of g where mask (value is a 0-d tensor).
    """

    @staticmethod
    def forward(ctx, a, value, mask=None):
        ctx.mask = mask
        return array_module(a).where(mask, value.astype(a.dtype), a)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        zero = g.dtype.type(0)
        need_a, need_value = ctx.needs_input_grad
        mask = xp.broadcast_to(ctx.mask, g.shape)
        return (xp.where(mask, zero, g) if need_a else None), (xp.where(mask, g, zero) if need_value else None)
