"""Activations and the softmax family, each in its numerically stable form."""
from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel
from ..kernels.opmath import HALF, opmath, rounded
from ..quiet_numpy import silent


class Relu(Function):
    """y = max(a, 0).   dL/da = 0 where y <= 0, g elsewhere   (PyTorch's threshold_backward).

    So the gradient is 0 at a == 0, a NaN output passes g on (NaN <= 0 is false), and a
    masked entry is +0 even where g is inf or NaN: what PyTorch gives, not g * [y > 0].

    Both directions are fused kernels (kernels.reference.relu / relu_backward): the
    backward reads g and y once and writes the gradient, with no boolean temporary.
    """

    @staticmethod
    def forward(ctx, a):
        y = kernel("relu", a)(a)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        return kernel("relu_backward", g)(g, ctx.y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-a)).   dL/da = g * (1 - y) * y.

    Forward never evaluates exp of a large positive number: with e = exp(-|a|),
    y = 1 / (1 + e) for a >= 0 and e / (1 + e) for a < 0.
    float16 forward is computed in float32 and rounded once, as torch's half kernel; backward is
    torch's sigmoid_backward, g * (1 - y) * y in that order, which torch's CPU kernel evaluates in
    float16 steps for float16.
    """

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a)
        wide = opmath(a)
        e = xp.exp(-xp.abs(wide))
        y = rounded(xp.where(wide >= 0, 1, e) / (1 + e), a.dtype)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        return g * (1 - y) * y


class Tanh(Function):
    """y = tanh(a).   dL/da = g * (1 - y**2)   (backward: the tanh_backward kernel, one pass)."""

    @staticmethod
    def forward(ctx, a):
        y = array_module(a).tanh(a)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        return kernel("tanh_backward", g)(g, ctx.y)


class Softmax(Function):
    """y_i = exp(a_i - m) / sum_j exp(a_j - m), m = max_j a_j (stable for any logits).

    dL/da = y * (g - sum(g * y, axis))
    Forward is the log_softmax kernel, which computes the softmax on the way (its y is
    dropped): one pass per row instead of NumPy's row-by-row reductions. float16 is computed
    in float32 and rounded once, both ways (backward from the float16 output), as torch's.
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=-1):
        _, y = kernel("log_softmax", a)(a, axis)
        y = rounded(y, a.dtype)  # float16: the kernel's softmax is float32
        ctx.y, ctx.axis = y, axis
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        if y.dtype == HALF:
            y, wide = opmath(y), opmath(g)
            return rounded((wide - (wide * y).sum(axis=ctx.axis, keepdims=True)) * y, HALF)
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """y = a - m - log(s), m = max_j a_j, s = sum_j e_j with e = exp(a - m).

    dL/da = g - softmax(a) * sum(g, axis) = g - p * sum(g, axis),  p = e / s
    Forward keeps p, so backward needs no second exp over the whole array.
    Both directions are kernels (kernels.reference.log_softmax / log_softmax_backward
    hold the array expressions); on the CPU the row reductions run in Numba loops.
    float16 is computed in float32 and rounded once; its backward takes p = exp(y) of the
    float16 output, as torch's log_softmax_backward does.
    """

    @staticmethod
    @silent
    def forward(ctx, a, axis=-1):
        y, ctx.p = kernel("log_softmax", a)(a, axis)
        if y.dtype == HALF:
            ctx.p = array_module(y).exp(opmath(y))
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        return kernel("log_softmax_backward", g)(g, ctx.p, ctx.axis)
