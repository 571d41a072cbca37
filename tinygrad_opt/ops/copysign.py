"""copysign and logit: element-wise ops whose torch gradients differ from their compositions' at the edges."""
from ..autograd import Function
from ..backend import array_module
from ..quiet_numpy import silent
from .elementwise import _quiet


class Copysign(Function):
    """y = |a| with the sign bit of b (signed zeros and NaNs included).

    dL/da = g * y / a, and 0 where a == 0 (torch's formula: NaN where a is infinite or NaN);
    dL/db = 0.
    """

    @staticmethod
    @silent
    def forward(ctx, a, b):
        xp = array_module(a)
        y = xp.copysign(a, b)
        ctx.a, ctx.y, ctx.b_shape = a, y, b.shape
        return y

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            with _quiet(xp):
                ratio = xp.where(ctx.a == 0, xp.zeros((), dtype=ctx.y.dtype), ctx.y / ctx.a)
            ga = g * ratio
        if need_b:
            gb = xp.zeros(ctx.b_shape, dtype=g.dtype)
        return ga, gb


class Logit(Function):
    """y = log(p / (1 - p)), p = a, or a clamped to [eps, 1 - eps] when eps is given (torch.logit).

    dL/da = g / (a * (1 - a)); without eps g * inf where a is 0 or 1, NaN where a < 0 or a > 1; with eps 0 where a < eps or
    a > 1 - eps (the boundaries themselves keep g / (a * (1 - a))). torch's logit_backward, both.
    """

    @staticmethod
    @silent
    def forward(ctx, a, eps=None):
        xp = array_module(a)
        p = a
        if eps is not None:
            low, high = a.dtype.type(eps), a.dtype.type(1 - eps)
            p = xp.where(a < low, low, xp.where(a > high, high, a))
        ctx.a, ctx.eps = a, eps
        with _quiet(xp):
            return xp.log(p / (1 - p))

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a = ctx.a
        with _quiet(xp):
            ga = g / (a * (1 - a))
        if ctx.eps is None:
            # torch: g * inf at 0 and 1 (so -0.0 gives g's sign, not g / -0.0's), NaN outside [0, 1]
            ga = xp.where((a == 0) | (a == 1), g * xp.asarray(xp.inf, dtype=ga.dtype), ga)
            ga = xp.where((a < 0) | (a > 1), xp.asarray(xp.nan, dtype=ga.dtype), ga)
        else:
            outside = (a < a.dtype.type(ctx.eps)) | (a > a.dtype.type(1 - ctx.eps))
            ga = xp.where(outside, xp.zeros((), dtype=ga.dtype), ga)
        return ga
