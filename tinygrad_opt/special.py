"""torch.special's names for the engine's functions: tg.special.erf(x), tg.special.expit(x), ...

Each is the Tensor method of the same meaning (torch.special.expit is sigmoid); ndtr, the standard
normal CDF, is composed of erf.
"""
from __future__ import annotations

import math

from .functional_arith import erf, erfc, erfinv, exp2, logit, xlogy
from .tensor import Tensor

__all__ = ["erf", "erfc", "erfinv", "exp2", "expit", "expm1", "log1p", "log_softmax", "logit", "logsumexp", "ndtr",
           "round", "softmax", "xlogy"]


def _tensor(input) -> Tensor:  # noqa: A002 - torch's parameter name
    return input if isinstance(input, Tensor) else Tensor(input)


def expit(input) -> Tensor:  # noqa: A002
    """torch.special.expit: the logistic sigmoid 1 / (1 + exp(-x))."""
    return _tensor(input).sigmoid()


def expm1(input) -> Tensor:  # noqa: A002
    """exp(x) - 1, accurate for small x."""
    return _tensor(input).expm1()


def log1p(input) -> Tensor:  # noqa: A002
    """log(1 + x), accurate for small x."""
    return _tensor(input).log1p()


def round(input, decimals: int = 0) -> Tensor:  # noqa: A001,A002 - torch's names
    """Round half to even, to `decimals` places."""
    return _tensor(input).round(decimals=decimals)


def logsumexp(input, dim, keepdim: bool = False) -> Tensor:  # noqa: A002
    """log(sum(exp(x))) over dim, without overflow."""
    return _tensor(input).logsumexp(dim, keepdim)


def softmax(input, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """exp(x) / sum(exp(x)) along dim (dim is required, as torch.special.softmax's)."""
    return _tensor(input).softmax(dim, dtype=dtype)


def log_softmax(input, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """log(softmax(x)) along dim, computed without overflow."""
    return _tensor(input).log_softmax(dim, dtype=dtype)


def ndtr(input) -> Tensor:  # noqa: A002
    """The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2; its gradient exp(-x^2 / 2) / sqrt(2 pi)
    comes through erf's."""
    x = _tensor(input)._floating()
    return (x * math.sqrt(0.5)).erf() * 0.5 + 0.5
