"""Linear: the fully connected layer y = x W^T + b."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..backend import resolve_dtype
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x @ weight^T + bias with weight (out_features, in_features) and bias (out_features,).

    Initialised as PyTorch does: weight by kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(in_features), 1/sqrt(in_features)), and bias from the same range.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {n!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = np.float32 if dtype is None else resolve_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:  # drawn on the host generator, then moved: same numbers on every device
            self.to(device)

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        weight, bias = weight_and_bias(self)
        if bias is None:
            return ops.Linear.apply(input, weight)
        return ops.Linear.apply(input, weight, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def weight_and_bias(layer: Linear) -> tuple:
    """(layer.weight, layer.bias), read straight from the parameter table where that gives the same objects.

    A parameter is not an instance attribute: `layer.weight` first fails Python's normal look-up, which
    builds an AttributeError, and only then does Module.__getattr__ find it in `_parameters`, at every
    step. For a plain Linear whose instance dict does not hold either name,
    the table is where that look-up ends; a subclass may define the names itself (a property), so it and
    any other case read the attributes as written.
    """
    if type(layer) is Linear:
        attributes = layer.__dict__
        params = attributes.get("_parameters", ())
        if "weight" in params and "bias" in params and "weight" not in attributes and "bias" not in attributes:
            return params["weight"], params["bias"]
    return layer.weight, layer.bias
