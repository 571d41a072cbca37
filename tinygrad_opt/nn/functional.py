"""Stateless forms of the layers and losses (`import tinygrad_opt.nn.functional as F`).

Each function checks its arguments and then calls one fused op from tinygrad_opt.ops
(or a Tensor method), so the graph holds one node per layer or loss.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any

from .. import ops
from ..backend import host_rng
from ..tensor import Tensor
from ._arguments import as_tensor as _tensor
from .functional_activation import elu, gelu, hardtanh, leaky_relu, logsigmoid, mish, relu6, selu, silu, softplus
from .functional_layers import embedding, layer_norm, one_hot
from .functional_pad import pad
from .functional_loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div, l1_loss, mse_loss,
    nll_loss, smooth_l1_loss,
)


# ---- layers -------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight^T + bias, weight of shape (out_features, in_features); one graph node."""
    input = _tensor(input)
    if bias is None:
        return ops.Linear.apply(input, weight)
    return ops.Linear.apply(input, weight, bias)


def relu(input: Tensor) -> Tensor:
    return _tensor(input).relu()


def sigmoid(input: Tensor) -> Tensor:
    return _tensor(input).sigmoid()


def tanh(input: Tensor) -> Tensor:
    return _tensor(input).tanh()


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
            axis: int | None = None) -> Tensor:
    """torch.nn.functional.softmax: without a dim, torch's legacy choice (with its warning)."""
    x, d = _softmax_args(input, dim, axis, dtype, "softmax")
    return x.softmax(axis=d)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
                axis: int | None = None) -> Tensor:
    """torch.nn.functional.log_softmax: without a dim, torch's legacy choice (with its warning)."""
    x, d = _softmax_args(input, dim, axis, dtype, "log_softmax")
    return x.log_softmax(axis=d)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """torch.nn.functional.softmin: softmax(-x) over dim; without a dim, torch's legacy choice (with its warning)."""
    x, d = _softmax_args(input, dim, None, dtype, "softmin")
    return (-x).softmax(axis=d)


def _softmax_args(input: Any, dim: int | None, axis: int | None, dtype: Any, name: str) -> tuple:
    """(input cast to dtype if given, the dim): dim or axis, else 0 for 0-, 1- and 3-d input and 1 otherwise."""
    x = _tensor(input)
    if dtype is not None:
        x = x.to(dtype)  # torch casts before the op, so float32 input can be computed in float64
    d = dim if dim is not None else axis
    if d is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                      "Change the call to include dim=X as an argument.", stacklevel=3)
        d = 0 if x.ndim in (0, 1, 3) else 1
    return x, d


def _check_probability(p: Any, op: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be a number in [0, 1], got p={p!r}")
    return float(p)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).

    Identity when not training (or p == 0); all zeros when p == 1. One fused node
    (ops.Dropout): the mask comes from a hash of a seed drawn from the engine's host
    generator, so `tg.manual_seed` makes it reproducible, every device draws the same
    mask, and backward regenerates it instead of storing it. dL/dx = g * mask / (1 - p).
    """
    p = _check_probability(p, "dropout")
    input = _tensor(input)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    seed = int(host_rng().integers(0, 2**63))
    return ops.Dropout.apply(input, p=p, seed=seed)


__all__ = [
    "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout",
    "cross_entropy", "nll_loss", "kl_div", "mse_loss", "binary_cross_entropy_with_logits",
]
__all__ += [  # nnlayers: activations, layers and losses from their own modules
    "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "softplus", "hardtanh", "relu6", "logsigmoid",
    "one_hot", "embedding", "layer_norm", "binary_cross_entropy", "l1_loss", "smooth_l1_loss", "huber_loss",
]

# image layers' functional forms (nn/functional_image.py)
from .functional_image import (  # noqa: E402
    adaptive_avg_pool2d, avg_pool2d, batch_norm, conv2d, dropout2d, max_pool2d,
)

__all__ += ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "dropout2d"]
__all__ += ["pad"]  # breadth: F.pad
from .functional_composite import (  # noqa: E402
    celu, cosine_similarity, glu, hardsigmoid, hardswish, normalize, pairwise_distance, softsign,
    tanhshrink, threshold,
)

__all__ += ["celu", "cosine_similarity", "glu", "hardsigmoid", "hardswish", "normalize", "pairwise_distance",
            "softmin", "softsign", "tanhshrink", "threshold"]

# torch's shrink activations
from .functional_composite import hardshrink, softshrink  # noqa: E402

__all__ += ["hardshrink", "softshrink"]

# activations with a learned or random slope
from .functional_parametric import prelu, rrelu, rrelu_  # noqa: E402

__all__ += ["prelu", "rrelu", "rrelu_"]
