"""Running reductions along one dim: cumsum, cumprod.   g is the upstream gradient dL/dy."""
from ..autograd import Function
from ..backend import array_module


class CumSum(Function):
    """y_i = a_0 + ... + a_i along dim.   dL/da_i = g_i + ... + g_last (a reversed running sum of g)."""

    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.dim = dim
        return array_module(a).cumsum(a, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.flip(xp.cumsum(xp.flip(g, ctx.dim), axis=ctx.dim), ctx.dim)


class CumProd(Function):
    """y_j = a_0 * ... * a_j along dim.

    dL/da_i = sum over j >= i of g_j * prod_{k <= j, k != i} a_k
            = (a_0 ... a_{i-1}) * S_i,  with S_i = g_i + a_{i+1} * S_{i+1} (a reversed scan),
    which needs no division, so zeros in a are handled exactly.
    """

    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.a, ctx.dim = a, dim
        return array_module(a).cumprod(a, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a = xp.moveaxis(ctx.a, ctx.dim, 0)
        g = xp.moveaxis(g, ctx.dim, 0)
        n = a.shape[0]
        grad = xp.empty_like(g)
        if n == 0:
            return xp.moveaxis(grad, 0, ctx.dim)
        running = g[n - 1].copy()
        grad[n - 1] = running
        for i in range(n - 2, -1, -1):
            running = g[i] + a[i + 1] * running
            grad[i] = running
        before = xp.cumprod(xp.concatenate([xp.ones_like(a[:1]), a[:-1]]), axis=0)
        return xp.moveaxis(grad * before, 0, ctx.dim)
