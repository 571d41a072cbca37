"""Tensor methods for the further element-wise functions (ops/trig.py): tan, sinh, asin, log2, atan2, ...
and the error functions erf, erfc, erfinv (ops/special.py)

Integer and bool tensors compute in the default float dtype, as torch's; the binary ones promote
their operands as the arithmetic operators do, then to a floating dtype.
"""
from __future__ import annotations

from .. import ops


def _unary(name: str, function):
    def method(self):
        return function.apply(self._floating())

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"torch.Tensor.{name}; {function.__doc__.splitlines()[0]}"
    return method


def _binary(name: str, function):
    def method(self, other):
        a, b = self._promoted_with(other)
        return function.apply(a._floating(), b._floating())

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"torch.Tensor.{name}; {function.__doc__.splitlines()[0]}"
    return method


class TrigMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    tan = _unary("tan", ops.Tan)
    sinh, cosh = _unary("sinh", ops.Sinh), _unary("cosh", ops.Cosh)
    asin, acos, atan = _unary("asin", ops.Asin), _unary("acos", ops.Acos), _unary("atan", ops.Atan)
    arcsin, arccos, arctan = asin, acos, atan
    asinh, acosh, atanh = _unary("asinh", ops.Asinh), _unary("acosh", ops.Acosh), _unary("atanh", ops.Atanh)
    arcsinh, arccosh, arctanh = asinh, acosh, atanh
    erf, erfc, erfinv = _unary("erf", ops.Erf), _unary("erfc", ops.Erfc), _unary("erfinv", ops.Erfinv)
    log2, log10, exp2 = _unary("log2", ops.Log2), _unary("log10", ops.Log10), _unary("exp2", ops.Exp2)
    atan2 = arctan2 = _binary("atan2", ops.Atan2)
    hypot = _binary("hypot", ops.Hypot)
    logaddexp = _binary("logaddexp", ops.LogAddExp)
