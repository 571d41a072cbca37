"""Running reductions along one dim: cumsum, cumprod, logcumsumexp.   g is the upstream gradient dL/dy."""
from ..autograd import Function
from ..backend import array_module
from ..kernels.opmath import opmath, rounded
from ..quiet_numpy import silent
from .elementwise import _quiet


class CumSum(Function):
    """y_i = a_0 + ... + a_i along dim.   dL/da_i = g_i + ... + g_last (a reversed running sum of g).

    float16 runs its sums in float32 and rounds each y_i once, as torch's (its accumulator is float32).
    """

    @staticmethod
    @silent
    def forward(ctx, a, dim=0):
        ctx.dim = dim
        y = rounded(array_module(a).cumsum(opmath(a), axis=dim), a.dtype)
        if y.dtype.kind == "f":
            y += 0.0  # torch's running sum starts from +0.0, so a leading -0.0 gives +0.0
        return y

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return rounded(xp.flip(xp.cumsum(xp.flip(opmath(g), ctx.dim), axis=ctx.dim), ctx.dim), g.dtype)


class CumProd(Function):
    """y_j = a_0 * ... * a_j along dim.

    dL/da_i = sum over j >= i of g_j * prod_{k <= j, k != i} a_k
            = (a_0 ... a_{i-1}) * S_i,  with S_i = g_i + a_{i+1} * S_{i+1} (a reversed scan),
    which needs no division, so zeros in a are handled exactly. float16's forward runs its products
    in float32 and rounds each y_j once, as torch's (its accumulator is float32).
    """

    @staticmethod
    @silent
    def forward(ctx, a, dim=0):
        ctx.a, ctx.dim = a, dim
        return rounded(array_module(a).cumprod(opmath(a), axis=dim), a.dtype)

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


class LogCumSumExp(Function):
    """y_i = log(exp(a_0) + ... + exp(a_i)) along dim, each step as logaddexp(y_{i-1}, a_i) (no overflow).

    dL/da_j = sum over i >= j of g_i * exp(a_j - y_i) = exp(a_j) * sum_{i >= j} g_i * exp(-y_i).
    The sum is taken in log space, the positive and negative parts of g apart:
        dL/da_j = exp(a_j + R(log g+ - y)_j) - exp(a_j + R(log g- - y)_j),
    R a reversed running logaddexp and log g+ = log|g| where g > 0 (-inf elsewhere), log g- likewise,
    so neither exp(a) nor exp(-y) overflows (torch's formula, with its NaN at -inf inputs).
    """

    @staticmethod
    def forward(ctx, a, dim=0):
        xp = array_module(a)
        with _quiet(xp):
            y = xp.logaddexp.accumulate(a, axis=dim) if a.size else a.copy()
        ctx.a, ctx.y, ctx.dim = a, y, dim
        return y

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a, y, dim = ctx.a, ctx.y, ctx.dim
        if not g.size:
            return g.copy()

        def reversed_logcumsumexp(v):
            return xp.flip(xp.logaddexp.accumulate(xp.flip(v, dim), axis=dim), dim)

        with _quiet(xp):
            log_g = xp.log(xp.abs(g))
            positive = xp.where(g > 0, log_g, -xp.inf) - y
            negative = xp.where(g < 0, log_g, -xp.inf) - y
            return (xp.exp(reversed_logcumsumexp(positive) + a) - xp.exp(reversed_logcumsumexp(negative) + a)).astype(
                g.dtype, copy=False)
