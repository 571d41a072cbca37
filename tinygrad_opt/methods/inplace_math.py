"""torch's in-place forms of the element-wise methods: x.relu_(), x.exp_(), x.masked_fill_(m, v), ...

Each runs the out-of-place method and makes its value (and, inside a graph, its history) the
tensor's own through inplace.apply_inplace, so torch's rules hold: a leaf that requires grad
refuses them, the version counter moves, and a recorded one differentiates as the method does.
"""
from __future__ import annotations

from ..inplace import apply_inplace


def _unary(name: str):
    method = name[:-1]

    def inplace(self):
        return apply_inplace(self, name, lambda t: getattr(t, method)())

    inplace.__name__ = inplace.__qualname__ = name
    inplace.__doc__ = f"In place: self = self.{method}() (torch.Tensor.{name})."
    return inplace


def _with_operand(name: str):
    method = name[:-1]

    def inplace(self, other, *args, **kwargs):
        return apply_inplace(self, name, lambda t: getattr(t, method)(other, *args, **kwargs), (other,))

    inplace.__name__ = inplace.__qualname__ = name
    inplace.__doc__ = f"In place: self = self.{method}(other, ...) (torch.Tensor.{name})."
    return inplace


class InPlaceMathMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    abs_, neg_, negative_, reciprocal_, square_ = (
        _unary(n) for n in ("abs_", "neg_", "negative_", "reciprocal_", "square_"))
    exp_, log_, log1p_, expm1_, sqrt_, rsqrt_ = (
        _unary(n) for n in ("exp_", "log_", "log1p_", "expm1_", "sqrt_", "rsqrt_"))
    sin_, cos_, tanh_, sigmoid_, relu_ = (_unary(n) for n in ("sin_", "cos_", "tanh_", "sigmoid_", "relu_"))
    erf_, erfc_, erfinv_ = (_unary(n) for n in ("erf_", "erfc_", "erfinv_"))
    floor_, ceil_, trunc_, fix_, sign_ = (_unary(n) for n in ("floor_", "ceil_", "trunc_", "fix_", "sign_"))
    pow_, remainder_, clamp_min_, clamp_max_ = (
        _with_operand(n) for n in ("pow_", "remainder_", "clamp_min_", "clamp_max_"))
    bitwise_and_, bitwise_or_, bitwise_xor_ = (_with_operand(n) for n in ("bitwise_and_", "bitwise_or_",
                                                                          "bitwise_xor_"))

    def round_(self, decimals: int = 0):
        return apply_inplace(self, "round_", lambda t: t.round(decimals=decimals))

    def masked_fill_(self, mask, value):
        """In place: self = self.masked_fill(mask, value)."""
        return apply_inplace(self, "masked_fill_", lambda t: t.masked_fill(mask, value), (value,))
