"""nn.PReLU (a learned negative slope, one or one per channel) and nn.RReLU (a random one in training)."""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import resolve_dtype
from ..errors import ArgumentValueError
from ..promotion import get_default_dtype
from ..tensor import Tensor
from .functional_parametric import prelu, rrelu
from .module import Module
from .parameter import Parameter


class PReLU(Module):
    """y = x for x > 0, weight * x otherwise (F.prelu); weight holds num_parameters slopes, all `init` at
    the start: 1 (one slope for every element) or the input's channel count (dim 1), as torch's."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, numbers.Integral):
            raise TypeError(f"PReLU: num_parameters must be an int, got {num_parameters!r}")
        if num_parameters < 0:
            raise ArgumentValueError(f"PReLU: num_parameters must be >= 0 (one slope, or one per channel), got "
                                     f"{num_parameters}")
        self.num_parameters, self.init = int(num_parameters), init
        dtype = get_default_dtype() if dtype is None else resolve_dtype(dtype)
        self.weight = Parameter(np.full((self.num_parameters,), float(init), dtype=dtype))
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        self.weight.data[...] = float(self.init)

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """y = x for x > 0; otherwise x * r in training (r uniform in [lower, upper), drawn per element and per
    call from the engine's generator) and x * (lower + upper) / 2 in eval (F.rrelu). inplace=True writes
    into the input, as torch's."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False) -> None:
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Tensor) -> Tensor:
        return rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")
