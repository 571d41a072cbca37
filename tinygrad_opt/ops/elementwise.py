"""Element-wise arithmetic. Inputs may broadcast; the traversal un-broadcasts gradients.

Notation in the docstrings: g is the upstream gradient dL/dy, y the output.
"""
import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..kernels.opmath import times_number
from ..kernels.reference import clamp
from ..quiet_numpy import quiet, silent


class Add(Function):
    """y = a + b.   dL/da = g,  dL/db = g."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    """y = a - b.   dL/da = g,  dL/db = -g."""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b.   dL/da = g * b,  dL/db = g * a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (g * ctx.b if need_a else None), (g * ctx.a if need_b else None)


class Div(Function):
    """y = a / b.   dL/da = g / b,  dL/db = -g * a / b**2 = -g * (y / b) (torch's order: in float16 each step
    rounds as torch's)."""

    @staticmethod
    @silent
    def forward(ctx, a, b):
        y = a / b
        ctx.b, ctx.y = b, y
        return y

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        b = ctx.b
        return (g / b if need_a else None), (-g * (ctx.y / b) if need_b else None)


class Pow(Function):
    """y = a ** b.

    dL/da = g * b * a**(b-1)   (0 where b == 0, as in PyTorch)
    dL/db = g * y * log(a)     (0 where a == 0 and b >= 0, as in PyTorch)

    Integers to negative integer powers give torch's integer results: 1 for base 1, +-1 for base -1,
    else 0 (NumPy refuses them). `number_base` is the Python number a came from (c ** x on float16): dL/db
    then takes log of the number itself and y * log(c) rounds as torch's tensor-times-number.
    """

    @staticmethod
    @silent
    def forward(ctx, a, b, number_base=None):
        if number_base is not None:
            ctx.log_base = float(np.log(np.float64(number_base)))
        if b.dtype.kind in "iu" and a.dtype.kind in "iu" and bool((b < 0).any()):
            y = _integer_power(a, b)
        else:
            y = a ** b
        if y.dtype != a.dtype:  # NumPy raises bools to int8; torch keeps the operands' (promoted) dtype
            y = y.astype(a.dtype)
        ctx.a, ctx.b, ctx.y = a, b, y
        return y

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        a, b, y = ctx.a, ctx.b, ctx.y
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            with _quiet(xp):
                local = b * a ** (b - 1)
            ga = g * xp.where(b == 0, 0, local)
        if need_b:
            with _quiet(xp):
                log_base = getattr(ctx, "log_base", None)
                local = y * xp.log(a) if log_base is None else times_number(y, log_base)
            gb = g * xp.where((a == 0) & (b >= 0), 0, local)
        return ga, gb


class Neg(Function):
    """y = -a.   dL/da = -g."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    """y = exp(a).   dL/da = g * y."""

    @staticmethod
    @silent
    def forward(ctx, a):
        y = array_module(a).exp(a)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.y


class Log(Function):
    """y = log(a) (natural log; log(0) = -inf as in NumPy).   dL/da = g / a."""

    @staticmethod
    @silent
    def forward(ctx, a):
        ctx.a = a
        return array_module(a).log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.a


class Sqrt(Function):
    """y = sqrt(a).   dL/da = g / (2 * y)."""

    @staticmethod
    @silent
    def forward(ctx, a):
        y = array_module(a).sqrt(a)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.y)


class Abs(Function):
    """y = |a|.   dL/da = g * sign(a)   (sign(0) = 0 and sign(NaN) = 0, as torch's sgn)."""

    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return array_module(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        sign = xp.sign(ctx.a)
        return g * xp.where(sign == sign, sign, 0)  # NaN's sign is NaN in NumPy, 0 in torch


class Clip(Function):
    """y = min(max(a, lo), hi).   dL/da = g where lo <= a <= hi, else +0 (PyTorch's clamp).

    As torch's, max(a, lo) is lo where a < lo, else a (and min alike): a -0.0 at lo = 0 stays -0.0.
    """

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        xp = array_module(a)
        ctx.a, ctx.lo, ctx.hi = a, lo, hi
        if lo is not None and hi is not None and lo > hi:
            # NumPy and PyTorch both return hi everywhere in this case; keep that meaning.
            return xp.full_like(a, hi)
        return clamp(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = ctx.a, ctx.lo, ctx.hi
        inside = None
        if lo is not None:
            inside = a >= lo
        if hi is not None:
            inside = (a <= hi) if inside is None else inside & (a <= hi)
        if inside is None:
            return g
        xp = array_module(g)
        return xp.where(inside, g, xp.zeros((), g.dtype))  # +0 outside (not g * 0), as torch's


_quiet = quiet  # the ops' name for it: `with _quiet(xp):` around NumPy calls that may meet 0, inf or NaN


def _integer_power(a, b):
    """a ** b for integer arrays where some b < 0: truncated toward zero, as torch's integer pow."""
    xp = array_module(a)
    negative = b < 0
    y = a ** xp.where(negative, 0, b)
    odd_minus_one = xp.where(b % 2 == 0, 1, -1).astype(y.dtype)
    reciprocal = xp.where(a == 1, 1, xp.where(a == -1, odd_minus_one, 0)).astype(y.dtype)
    return xp.where(negative, reciprocal, y)


def check_division_operands(a, b, op: str) -> None:
    """torch's refusals where NumPy returns numbers: bool operands (NumPy computes in int8) and an integer
    division by zero (NumPy gives 0 with a warning)."""
    if a.dtype.kind == "b" and b.dtype.kind == "b":
        raise NotImplementedError(f"{op}: not implemented for 'Bool' tensors (as in torch); convert them first, "
                                  "e.g. with .long()")
    if b.dtype.kind in "biu" and bool((b == 0).any()):
        raise RuntimeError(f"ZeroDivisionError: {op} of integer tensors by zero; divide floating-point tensors "
                           "to get inf/nan instead")


def floor_divide(a, b):
    """floor(a / b) element-wise (no Function: floor_divide has no derivative, as in torch)."""
    check_division_operands(a, b, "floor_divide")
    with _quiet(array_module(a)):  # float division by zero gives inf/nan without a warning, as in torch
        return a // b


class Remainder(Function):
    """y = a - floor(a / b) * b (Python's and torch.remainder's sign: that of b). A zero result keeps
    the sign of a, as torch's (fmod's zero, left unadjusted); NumPy's takes b's.

    dL/da = g,  dL/db = -g * (a // b) (the floor division that goes with the remainder, as torch's
    div(rounding_mode="floor"): NaN for an infinite a, -1 for 1 // -inf).
    """

    @staticmethod
    @silent
    def forward(ctx, a, b):
        check_division_operands(a, b, "remainder")
        ctx.a, ctx.b = a, b
        xp = array_module(a)
        with _quiet(xp):  # float remainder by zero gives nan without a warning, as in torch
            y = a % b
        if y.dtype.kind == "f":
            y = xp.where(y == 0, xp.copysign(y, a), y)
        return y

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        gb = None
        if need_b:
            with _quiet(array_module(g)):
                gb = -g * (ctx.a // ctx.b)
        return (g if need_a else None), gb


class Fmod(Function):
    """y = a - trunc(a / b) * b, computed exactly (C's fmod; the sign of a, as torch.fmod).

    dL/da = g,  dL/db = -g * trunc(a / b).
    """

    @staticmethod
    @silent
    def forward(ctx, a, b):
        check_division_operands(a, b, "fmod")
        ctx.a, ctx.b = a, b
        xp = array_module(a)
        with _quiet(xp):
            return xp.fmod(a, b)

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        gb = None
        if need_b:
            with _quiet(array_module(g)):
                gb = -g * array_module(g).trunc(ctx.a / ctx.b)
        return (g if need_a else None), gb


class ClampMinValue(Function):
    """y = max(a, lo) in value only: dL/da = g everywhere.

    torch clamps some norms in place under no_grad (cosine_similarity's), so the gradient flows as if
    the norm had not been clamped; this op keeps that meaning.
    """

    @staticmethod
    def forward(ctx, a, lo=0.0):
        return clamp(a, lo, None)

    @staticmethod
    def backward(ctx, g):
        return g


class TimesZero(Function):
    """y = 0 (a's shape), even where a is inf or NaN: BLAS's alpha = 0, which skips the product.

    dL/da = 0 * g (torch's addmm gradient, alpha * g, with alpha = 0).
    """

    @staticmethod
    def forward(ctx, a):
        return array_module(a).zeros_like(a)

    @staticmethod
    def backward(ctx, g):
        return g * 0
