"""torch.Tensor's named arithmetic and logic methods: add/sub/mul/div (with alpha= and
rounding_mode=), pow, neg, reciprocal, square, trunc, the bitwise and logical families, isnan/isinf/isfinite.

The arithmetic ones are the operators under torch's names (same promotion, same gradients); the
bitwise, logical and test ones have no gradient, as in torch.
"""
from __future__ import annotations

from .. import ops
from ..backend import array_module
from ..kernels.opmath import HALF
from ..ops.elementwise import _quiet, check_division_operands


class ArithmeticMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    def add(self, other, *, alpha=1):
        """self + alpha * other (torch.add)."""
        if alpha != 1 and self.data.dtype == HALF:
            return _add_scaled(self, other, alpha)
        return self + (other if alpha == 1 else _scaled(other, alpha, self))

    def sub(self, other, *, alpha=1):
        """self - alpha * other (torch.sub); bool operands raise, as torch's `-` does."""
        if alpha != 1 and (self.data.dtype.kind == "b" or getattr(getattr(other, "data", None), "dtype", None) == bool
                           or type(other) is bool):
            refuse_bool_subtraction()
        if alpha != 1 and self.data.dtype == HALF:
            return _add_scaled(self, other, -alpha if not isinstance(alpha, bool) else alpha, "sub")
        return self - (other if alpha == 1 else _scaled(other, alpha, self))

    subtract = sub

    def mul(self, other):
        return self * other

    multiply = mul

    def div(self, other, *, rounding_mode=None):
        """self / other; rounding_mode="trunc" or "floor" rounds the quotient (integers stay integers)."""
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return self // other
        if rounding_mode != "trunc":
            raise RuntimeError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        a, b = self._promoted_with(other)
        return type(self)._make(_trunc_divide(a.data, b.data), False)

    divide = div

    def true_divide(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def neg(self):
        return -self

    negative = neg

    def reciprocal(self):
        """1 / self (integers give the default float dtype, as torch)."""
        return 1 / self

    def square(self):
        """self ** 2, as torch.square (its gradient g * 2 * self rounds once, also in float16); integers stay
        integers and bool becomes int64, as torch."""
        x = self if self.data.dtype.kind != "b" else self.long()
        return x ** 2 if x.data.dtype.kind == "f" else x * x

    def trunc(self):
        """Rounds toward zero (zero gradient); integer tensors are returned as they are."""
        return self if self.data.dtype.kind != "f" else ops.Step.apply(self, fn="trunc")

    fix = trunc

    # ---- bitwise (integer and bool tensors; no gradient) ----
    def bitwise_and(self, other):
        return _bitwise(self, other, "bitwise_and", lambda a, b: a & b)

    def bitwise_or(self, other):
        return _bitwise(self, other, "bitwise_or", lambda a, b: a | b)

    def bitwise_xor(self, other):
        return _bitwise(self, other, "bitwise_xor", lambda a, b: a ^ b)

    def bitwise_not(self):
        _refuse_floating(self, "bitwise_not")
        return type(self)._make(~self.data, False)

    __and__ = bitwise_and
    __or__ = bitwise_or
    __xor__ = bitwise_xor
    __invert__ = bitwise_not

    def __rand__(self, other):
        return _bitwise(self, other, "bitwise_and", lambda a, b: b & a)

    def __ror__(self, other):
        return _bitwise(self, other, "bitwise_or", lambda a, b: b | a)

    def __rxor__(self, other):
        return _bitwise(self, other, "bitwise_xor", lambda a, b: b ^ a)

    # ---- logical (any dtype: non-zero is True; bool result) ----
    def logical_not(self):
        return type(self)._make(self.data == 0, False)

    def logical_and(self, other):
        return _logical(self, other, lambda a, b: a & b)

    def logical_or(self, other):
        return _logical(self, other, lambda a, b: a | b)

    def logical_xor(self, other):
        return _logical(self, other, lambda a, b: a ^ b)

    # ---- tests of floating values (bool result) ----
    def isnan(self):
        return type(self)._make(array_module(self.data).isnan(self.data), False)

    def isinf(self):
        return type(self)._make(array_module(self.data).isinf(self.data), False)

    def isfinite(self):
        return type(self)._make(array_module(self.data).isfinite(self.data), False)


def _scaled(other, alpha, like):
    """alpha * other in the pair's result dtype; a float alpha needs a floating result (torch's rule)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be an int or a float, got {alpha!r}")
    _, b = like._promoted_with(other)
    if isinstance(alpha, float) and b.data.dtype.kind != "f":
        raise TypeError(f"alpha: a float alpha ({alpha}) needs a floating tensor, got dtype {b.data.dtype} (as torch)")
    return b * alpha


def _add_scaled(self, other, alpha, op: str = "add"):
    """self + alpha * other for float16 as torch's kernel: alpha rounded to float16, the sum in float32 (ops.AddScaled)."""
    _scaled(other, alpha, self)  # torch's checks of alpha, with their messages
    a, b = self._promoted_with(other)
    if a.data.dtype != HALF:  # other promoted the pair out of float16
        return a + _scaled(b, alpha, a) if op == "add" else a + _scaled(b, alpha, a)
    return ops.AddScaled.apply(a, b, alpha=float(alpha))


def refuse_bool_subtraction() -> None:
    """torch's `-` refuses bool operands (NumPy would compute in int or refuse with another message)."""
    raise TypeError("sub: subtraction with a bool tensor or a bool is not supported (as torch); to invert a mask "
                    "use ~mask or mask.logical_not()")


def _refuse_floating(t, op: str) -> None:
    if t.data.dtype.kind not in "biu":
        raise TypeError(f"{op}: only integer and bool tensors are supported (as torch), got dtype {t.data.dtype}")


def _bitwise(t, other, op: str, fn):
    a, b = t._promoted_with(other)
    _refuse_floating(a, op)
    return type(t)._make(fn(a.data, b.data), False)


def _logical(t, other, fn):
    b = other if isinstance(other, type(t)) else type(t)(other, device=t.device)
    return type(t)._make(fn(t.data != 0, b.data != 0), False)


def _trunc_divide(a, b):
    """a / b rounded toward zero; integers in exact integer arithmetic."""
    check_division_operands(a, b, "div")
    xp = array_module(a)
    if a.dtype.kind == "f":
        with _quiet(xp):  # float division by zero gives inf/nan quietly, as torch
            return xp.trunc(a / b)
    quotient = a // b  # floors: one too low where the signs differ and the division is inexact
    return quotient + ((quotient < 0) & (quotient * b != a))
