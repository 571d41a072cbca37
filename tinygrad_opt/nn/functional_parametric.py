"""F.prelu (a learned slope per channel) and F.rrelu / F.rrelu_ (a random slope in training), with torch's
arguments, checks and messages; the formulas are ops.Prelu, ops.Rrelu and (rrelu in eval) ops.LeakyRelu."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import ops
from ..backend import host_rng
from ..errors import ArgumentValueError, DtypeError
from ..inplace import apply_inplace
from ..tensor import Tensor
from ._arguments import as_tensor


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, weight * x otherwise; weight has one element, or one per channel (dim 1 of input;
    a 1-d input has one channel). The checks are Tensor.prelu's."""
    return as_tensor(input).prelu(weight)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training x * r for x <= 0, r uniform in [lower, upper) drawn per element
    from the engine's generator (tg.manual_seed), x elsewhere; in eval leaky_relu with the slope
    (lower + upper) / 2. inplace=True writes the result into input (as torch's rrelu_)."""
    lower, upper = _number(lower, "lower"), _number(upper, "upper")  # the types first, as torch's parser
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"rrelu(): training must be a bool, got {training!r}")
    for name, value in (("lower", lower), ("upper", upper)):
        if not math.isfinite(value):
            raise ArgumentValueError(f"rrelu: {name} bound must be finite, got {value}")
    if lower > upper:
        raise ArgumentValueError(f"rrelu: Lower bound should be less than or equal to the upper bound, got lower="
                                 f"{lower} and upper={upper}")
    input = as_tensor(input)
    if input.dtype.kind != "f" or (training and input.dtype.itemsize < 4):
        raise DtypeError(f"rrelu: not implemented for {input.dtype}{' in training' if training else ''} (as torch); "
                         "convert first with .float()")
    if inplace:
        return apply_inplace(input, "rrelu_", lambda t: rrelu(t, lower, upper, bool(training)))
    if not training:
        return ops.LeakyRelu.apply(input, negative_slope=(lower + upper) / 2)
    seed = int(host_rng().integers(0, 2**63))
    return ops.Rrelu.apply(input, lower=lower, upper=upper, seed=seed)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """rrelu(..., inplace=True): input takes the result and is returned."""
    return rrelu(input, lower, upper, training, inplace=True)


def _number(value: Any, name: str) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, numbers.Real):
        raise TypeError(f"rrelu(): {name} must be a number, got {type(value).__name__}")
    return float(value)


def torch_rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
                generator=None) -> Tensor:
    """tg.rrelu: torch.rrelu's signature (generator=None only: the engine's generator is seeded with
    tg.manual_seed)."""
    _no_generator(generator)
    return rrelu(input, lower, upper, training)


def torch_rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
                 generator=None) -> Tensor:
    """tg.rrelu_: torch.rrelu_'s signature (generator=None only)."""
    _no_generator(generator)
    return rrelu(input, lower, upper, training, inplace=True)


def _no_generator(generator) -> None:
    if generator is not None:
        raise TypeError("rrelu(): generator objects do not exist in the engine; pass generator=None and seed the "
                        "engine's generator with tg.manual_seed")
