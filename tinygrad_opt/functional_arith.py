"""torch's functions for the named arithmetic and logic methods (methods/arith.py): tg.add(x, y, alpha=2),
tg.div(x, y, rounding_mode="floor"), tg.logical_and(a, b), tg.isnan(x), and of the further element-wise
methods (methods/trig.py): tg.tan(x), tg.atan2(y, x), ... each calls the method of its name."""
from __future__ import annotations

from .tensor import Tensor


def _method(name: str):
    def function(input, *args, **kwargs) -> Tensor:  # noqa: A002 - torch's parameter name
        return getattr(input if isinstance(input, Tensor) else Tensor(input), name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: the same as input.{name}(...)."
    return function


add, sub, subtract, mul, multiply = (_method(n) for n in ("add", "sub", "subtract", "mul", "multiply"))
div, divide, true_divide = (_method(n) for n in ("div", "divide", "true_divide"))
pow, neg, negative, reciprocal, square, trunc, fix = (  # noqa: A001 - torch.pow
    _method(n) for n in ("pow", "neg", "negative", "reciprocal", "square", "trunc", "fix"))
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = (
    _method(n) for n in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not"))
logical_and, logical_or, logical_xor, logical_not = (
    _method(n) for n in ("logical_and", "logical_or", "logical_xor", "logical_not"))
isnan, isinf, isfinite = (_method(n) for n in ("isnan", "isinf", "isfinite"))

# the further element-wise functions (methods/trig.py)
tan, sinh, cosh, asin, acos, atan, asinh, acosh, atanh = (
    _method(n) for n in ("tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh"))
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = (
    _method(n) for n in ("arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"))
log2, log10, exp2, atan2, arctan2, hypot, logaddexp = (
    _method(n) for n in ("log2", "log10", "exp2", "atan2", "arctan2", "hypot", "logaddexp"))

# compositions (methods/composite.py) and the shape and selection helpers under torch's function names
eq, ne, lt, le, gt, ge, greater, less, equal, isclose, allclose = (
    _method(n) for n in ("eq", "ne", "lt", "le", "gt", "ge", "greater", "less", "equal", "isclose", "allclose"))
mm, bmm, mv, dot, inner, outer, addmm, addmv, addcmul, addcdiv, lerp = (
    _method(n) for n in ("mm", "bmm", "mv", "dot", "inner", "outer", "addmm", "addmv", "addcmul", "addcdiv", "lerp"))
fmod, frac, sgn, signbit, xlogy, nan_to_num, float_power, deg2rad, rad2deg = (
    _method(n) for n in ("fmod", "frac", "sgn", "signbit", "xlogy", "nan_to_num", "float_power", "deg2rad",
                         "rad2deg"))
positive, copysign, logit, clone = (_method(n) for n in ("positive", "copysign", "logit", "clone"))
diagonal, diag, tile, repeat_interleave, take, take_along_dim, count_nonzero, argwhere = (
    _method(n) for n in ("diagonal", "diag", "tile", "repeat_interleave", "take", "take_along_dim", "count_nonzero",
                         "argwhere"))
fliplr, flipud, diff, ravel, t, movedim, moveaxis, narrow, swapaxes, masked_select, nonzero = (
    _method(n) for n in ("fliplr", "flipud", "diff", "ravel", "t", "movedim", "moveaxis", "narrow", "swapaxes",
                         "masked_select", "nonzero"))

# order statistics and NaN-skipping reductions (methods/order_statistics.py)
median, nanmedian, kthvalue, mode, cummax, cummin, logcumsumexp, nansum, nanmean = (
    _method(n) for n in ("median", "nanmedian", "kthvalue", "mode", "cummax", "cummin", "logcumsumexp", "nansum",
                         "nanmean"))

msort = _method("msort")
quantile, nanquantile = _method("quantile"), _method("nanquantile")
prelu = _method("prelu")

# the error functions (ops/special.py)
erf, erfc, erfinv = (_method(n) for n in ("erf", "erfc", "erfinv"))

aminmax, hardshrink = _method("aminmax"), _method("hardshrink")


def var_mean(input, *args, **kwargs) -> tuple:  # noqa: A002 - torch's parameter name
    """torch.var_mean: (input.var(...), input.mean(...)) over the same dims, a plain tuple as torch's."""
    return _pair("var", input, args, kwargs)


def std_mean(input, *args, **kwargs) -> tuple:  # noqa: A002
    """torch.std_mean: (input.std(...), input.mean(...)) over the same dims, a plain tuple as torch's."""
    return _pair("std", input, args, kwargs)


def _pair(spread: str, input, args: tuple, kwargs: dict) -> tuple:  # noqa: A002
    t = input if isinstance(input, Tensor) else Tensor(input)
    first = getattr(t, spread)(*args, **kwargs)  # checks the arguments and the dtype, as torch's
    names = ("dim", "unbiased", "keepdim")
    options = dict(zip(names, args), **kwargs)
    return first, t.mean(options.get("dim"), bool(options.get("keepdim", False)))
