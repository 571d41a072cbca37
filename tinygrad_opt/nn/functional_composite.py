"""torch.nn.functional's further activations and distances, composed of the engine's ops (so their
gradients are those ops' gradients): hardsigmoid, hardswish, softsign, tanhshrink, celu, glu,
threshold, normalize, cosine_similarity, pairwise_distance, hardshrink, softshrink. Re-exported by
nn.functional."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..errors import ShapeError
from ..functional import where
from ..tensor import Tensor
from ._arguments import as_tensor, check_floating, check_number


def _float_input(input: Any, op: str) -> Tensor:
    input = as_tensor(input)
    check_floating(input, op)
    return input


def _int_as_float(input: Any, op: str) -> Tensor:
    """An integer input as the default float dtype (torch's true division and tanh promote it so)."""
    input = as_tensor(input)
    return input._floating() if input.dtype.kind in "iu" else _float_input(input, op)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between (ops.Hardsigmoid: torch's gradient)."""
    return ops.Hardsigmoid.apply(_float_input(input, "hardsigmoid"))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    return ops.Hardswish.apply(_float_input(input, "hardswish"))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    x = _int_as_float(input, "softsign")
    return x / (x.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    x = _int_as_float(input, "tanhshrink")
    return x - x.tanh()


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise: torch's elu with input_scale 1 / alpha."""
    alpha = check_number(alpha, "alpha", "celu")
    if alpha == 0:
        raise ZeroDivisionError("celu: alpha must not be 0 (as torch); it divides the input")
    return ops.Celu.apply(_float_input(input, "celu"), alpha=alpha)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the two halves of the input along dim."""
    x = _float_input(input, "glu")
    if x.ndim == 0:
        raise ShapeError("glu: does not support 0-d tensors (as torch); give it at least one dim")
    size = x.size(dim)
    if size % 2:
        raise ShapeError(f"glu: halving dimension must be even, but dim {dim} has size {size}")
    return ops.Glu.apply(x, dim=dim)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """value where x <= threshold, else x (NaN stays NaN); value takes x's dtype, as torch's."""
    x = as_tensor(input)
    if x.dtype.kind == "b":
        raise TypeError("threshold: not implemented for bool tensors (as torch); convert it first, e.g. .float()")
    return where(x <= threshold, x.new_full((), value), x)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Tensor:
    """x / max(||x||_p along dim, eps)."""
    if out is not None:
        raise TypeError("normalize: out= is not supported; use the returned tensor")
    x = _float_input(input, "normalize")
    return x / x.norm(p, dim, keepdim=True).clamp_min(eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim (after broadcasting x1 with x2)."""
    a, b = _float_input(x1, "cosine_similarity"), _float_input(x2, "cosine_similarity")
    # torch clamps the norms in place under no_grad: the gradient flows as if they were not clamped
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = a.expand(*shape), b.expand(*shape)
    a_norm = ops.ClampMinValue.apply(a.norm(2, dim, keepdim=True), lo=eps)
    b_norm = ops.ClampMinValue.apply(b.norm(2, dim, keepdim=True), lo=eps)
    return ((a / a_norm) * (b / b_norm)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim."""
    a, b = _float_input(x1, "pairwise_distance"), _float_input(x2, "pairwise_distance")
    difference = a - b + eps
    return difference.norm(p, -1 if difference.ndim else None, keepdim=keepdim)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """0 where |x| <= lambd, x elsewhere (ops.Hardshrink)."""
    return ops.Hardshrink.apply(_float_input(input, "hardshrink"), lambd=check_number(lambd, "lambd", "hardshrink"))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between (ops.Softshrink); lambd must be >= 0."""
    lambd = check_number(lambd, "lambd", "softshrink")
    if not lambd >= 0:
        raise ValueError(f"softshrink: lambd must be >= 0 (as torch), got {lambd}")
    return ops.Softshrink.apply(_float_input(input, "softshrink"), lambd=lambd)
