"""Activation functions with torch.nn.functional's names and arguments (re-exported by nn.functional).

`inplace=True` is accepted for code written for torch and computes out of place (a
listed difference: the input keeps its values; the result is the same).
"""
from __future__ import annotations

from typing import Any

from .. import ops
from ..tensor import Tensor
from ._arguments import as_tensor, check_floating, check_number

GELU_APPROXIMATIONS = ("none", "tanh")
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float_input(input: Any, op: str) -> Tensor:
    input = as_tensor(input)
    check_floating(input, op)
    return input


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    slope = check_number(negative_slope, "negative_slope", "leaky_relu")
    return ops.LeakyRelu.apply(_float_input(input, "leaky_relu"), negative_slope=slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    alpha = check_number(alpha, "alpha", "elu")
    return ops.Elu.apply(_float_input(input, "elu"), alpha=alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants (alpha ~ 1.6733, scale ~ 1.0507)."""
    return ops.Elu.apply(_float_input(input, "selu"), alpha=SELU_ALPHA, scale=SELU_SCALE)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) with the normal CDF Phi (exact, through erf), or torch's tanh approximation."""
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate={approximate!r} is not one of 'none', 'tanh'")
    input = _float_input(input, "gelu")
    if approximate == "none":
        return ops.Gelu.apply(input)
    return ops.Gelu.apply(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return ops.Silu.apply(_float_input(input, "silu"))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    return ops.Mish.apply(_float_input(input, "mish"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold."""
    beta = check_number(beta, "beta", "softplus")
    threshold = check_number(threshold, "threshold", "softplus")
    return ops.Softplus.apply(_float_input(input, "softplus"), beta=beta, threshold=threshold)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is 0 at and beyond the edges (torch's rule)."""
    min_val = check_number(min_val, "min_val", "hardtanh")
    max_val = check_number(max_val, "max_val", "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not be greater than max_val ({max_val})")
    input = as_tensor(input)
    if input.dtype.kind not in "fiu":
        raise TypeError(f"hardtanh: input must be a floating-point or integer tensor, got {input.dtype}")
    return ops.Hardtanh.apply(input, min_val=min_val, max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) = hardtanh(x, 0, 6)."""
    return hardtanh(input, 0.0, 6.0)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), computed as min(x, 0) - log1p(exp(-|x|)) (no overflow)."""
    return ops.LogSigmoid.apply(_float_input(input, "logsigmoid"))


__all__ = ["leaky_relu", "elu", "selu", "gelu", "silu", "mish", "softplus", "hardtanh", "relu6", "logsigmoid"]
