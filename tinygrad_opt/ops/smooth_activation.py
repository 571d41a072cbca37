"""Smooth activations (GELU, SiLU, Mish, Softplus, LogSigmoid), each in a form that cannot overflow.

Shared pieces, with e = exp(-|a|) (never above 1):
    softplus(a) = log(1 + exp(a)) = max(a, 0) + log1p(e)
    sigmoid(a)  = 1 / (1 + e) for a >= 0,  e / (1 + e) for a < 0
"""
from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel
from ..kernels.opmath import opmath, rounded
from ..quiet_numpy import silent


def _sigmoid_and_softplus(xp, a):
    e = xp.exp(-xp.abs(a))
    sigmoid = xp.where(a >= 0, 1, e) / (1 + e)
    softplus = xp.maximum(a, 0) + xp.log1p(e)
    return sigmoid.astype(a.dtype, copy=False), softplus.astype(a.dtype, copy=False)


class Gelu(Function):
    """GELU, exact (approximate="none") or with torch's tanh approximation.

    none: y = a * Phi(a),  Phi(a) = (1 + erf(a / sqrt 2)) / 2 (the normal CDF)
          dL/da = g * (Phi(a) + a * phi(a)),  phi(a) = exp(-a^2 / 2) / sqrt(2 pi)
    tanh: u = sqrt(2/pi) * (a + 0.044715 a^3),  t = tanh(u),  y = a * (1 + t) / 2
          dL/da = g * ((1 + t) / 2 + a / 2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 a^2))
    Both directions are kernels (kernels/activation_reference.py; erf is the "erf" kernel,
    NumPy has none); forward keeps Phi(a) or t for backward.
    """

    @staticmethod
    @silent
    def forward(ctx, a, approximate="none"):
        y, ctx.saved = kernel("gelu", a)(a, approximate)
        ctx.a, ctx.approximate = a, approximate
        return y

    @staticmethod
    def backward(ctx, g):
        return kernel("gelu_backward", g)(g, ctx.a, ctx.saved, ctx.approximate)


class Silu(Function):
    """y = a * s, s = sigmoid(a).   dL/da = g * s * (1 + a * (1 - s)).

    Both directions are kernels (kernels/activation_reference.py); backward recomputes s
    from the saved input.
    """

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return kernel("silu", a)(a)

    @staticmethod
    def backward(ctx, g):
        return kernel("silu_backward", g)(g, ctx.a)


class Mish(Function):
    """y = a * t, t = tanh(softplus(a)).   dL/da = g * (t + a * sigmoid(a) * (1 - t^2))."""

    @staticmethod
    @silent
    def forward(ctx, a):
        xp = array_module(a)
        wide = opmath(a)  # float16: in float32, rounded once (torch's half kernel), both ways
        s, sp = _sigmoid_and_softplus(xp, wide)
        t = xp.tanh(sp)
        ctx.a, ctx.s, ctx.t = a, s, t
        return rounded(wide * t, a.dtype)

    @staticmethod
    def backward(ctx, g):
        t = ctx.t
        return rounded(opmath(g) * (t + opmath(ctx.a) * ctx.s * (1 - t * t)), g.dtype)


class Softplus(Function):
    """torch's softplus: y = log1p(exp(beta * a)) / beta, and y = a where beta * a > threshold.

    dL/da = g * z / (z + 1) with z = exp(beta * a) (that is sigmoid(beta * a)), and g where
    beta * a > threshold. exp is taken of min(beta * a, threshold) only, so it cannot overflow.
    Both directions are kernels (kernels/activation_reference.py); backward recomputes z from
    the saved input.
    """

    @staticmethod
    @silent
    def forward(ctx, a, beta=1.0, threshold=20.0):
        ctx.a, ctx.options = a, (beta, threshold)
        return kernel("softplus", a)(a, beta, threshold)

    @staticmethod
    def backward(ctx, g):
        return kernel("softplus_backward", g)(g, ctx.a, *ctx.options)


class LogSigmoid(Function):
    """y = log(sigmoid(a)) = -softplus(-a) = min(a, 0) - log1p(exp(-|a|)).

    dL/da = g * (1 - sigmoid(a)) = g * sigmoid(-a), from e = exp(-|a|) kept in a's dtype, as torch's
    log_sigmoid_backward reads its buffer. float16 is computed in float32 and rounded once, both ways.
    """

    @staticmethod
    @silent
    def forward(ctx, a):
        xp = array_module(a)
        wide = opmath(a)  # float16: in float32, rounded once (torch's half kernel), both ways
        e = xp.exp(-xp.abs(wide))
        kept = opmath(rounded(e, a.dtype))  # torch saves e for backward in the input's dtype
        ctx.sigmoid_neg = (xp.where(wide < 0, 1, kept) / (1 + kept)).astype(wide.dtype, copy=False)
        return rounded(xp.minimum(wide, 0) - xp.log1p(e), a.dtype)

    @staticmethod
    def backward(ctx, g):
        return rounded(opmath(g) * ctx.sigmoid_neg, g.dtype)


class Glu(Function):
    """GLU: the input's two halves along `dim`, a and b: y = a * s,  s = sigmoid(b) = 1 / (1 + exp(-b)).

    dL/da = g * s,  dL/db = g * a * s * (1 - s)   (torch's glu_backward: (1 - s) * s * a * g).
    One fused op as torch's kernel (float16 in float32, rounded once), not a product of two rounded
    tensors; backward reads the saved s, rounded to the input's dtype as torch's backward has it.
    """

    @staticmethod
    @silent
    def forward(ctx, x, dim=-1):
        xp = array_module(x)
        a, b = (opmath(half) for half in xp.split(x, 2, axis=dim))
        s = 1 / (1 + xp.exp(-b))
        ctx.x, ctx.s, ctx.dim = x, opmath(rounded(s, x.dtype)), dim  # torch's backward: s rounded to x's dtype
        return rounded(a * s, x.dtype)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        s = ctx.s
        a = opmath(xp.split(ctx.x, 2, axis=ctx.dim)[0])
        wide = opmath(g)
        return rounded(xp.concatenate([wide * s, (1 - s) * s * a * wide], axis=ctx.dim), g.dtype)
