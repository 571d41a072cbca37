"""Penalties on parameters to add to the loss: L1, L2 and elastic net.

Each takes any iterable of parameters (a list, `model.parameters()`, a generator)
and returns a scalar Tensor, so `loss = criterion(out, y) + regularizers.l2(model.parameters(), 1e-4)`
backpropagates into every parameter. Weight decay proper lives in the optimizers.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable

from .backend import module_for_device
from .promotion import get_default_dtype
from .tensor import Tensor


def _check_lam(lam, name: str, op: str) -> float:
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not math.isfinite(lam) or lam < 0:
        raise ValueError(f"regularizers.{op}: {name} must be a finite number >= 0, got {lam!r}")
    return float(lam)


def _as_list(params: Iterable[Tensor], op: str) -> list:
    if isinstance(params, Tensor):  # one tensor: accept it as a one-element collection
        return [params]
    params = [p for p in params if p is not None]
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"regularizers.{op}: parameter {i} is a {type(p).__name__}, not a Tensor")
    return params


def _zero(params: list) -> Tensor:
    """A constant 0 on the parameters' device and dtype (nothing to differentiate)."""
    device = params[0].device if params else "cpu"
    dtype = params[0].dtype if params else get_default_dtype()
    return Tensor._make(module_for_device(device).zeros((), dtype=dtype), False)


def _sum_of(params: list, term) -> Tensor:
    total = None
    for p in params:
        value = term(p).sum()
        total = value if total is None else total + value
    return total


def l1(params: Iterable[Tensor], lam: float) -> Tensor:
    """lam * sum over params of sum(|w|).   d/dw = lam * sign(w)."""
    lam = _check_lam(lam, "lam", "l1")
    params = _as_list(params, "l1")
    if lam == 0 or not params:
        return _zero(params)
    return _sum_of(params, Tensor.abs) * lam


def l2(params: Iterable[Tensor], lam: float) -> Tensor:
    """lam * sum over params of sum(w**2) (no 1/2).   d/dw = 2 * lam * w."""
    lam = _check_lam(lam, "lam", "l2")
    params = _as_list(params, "l2")
    if lam == 0 or not params:
        return _zero(params)
    return _sum_of(params, lambda p: p * p) * lam


def elastic_net(params: Iterable[Tensor], l1: float, l2: float) -> Tensor:  # noqa: F811 - PyTorch-style names
    """l1 * sum(|w|) + l2 * sum(w**2) over every parameter (the iterable is read once)."""
    params = _as_list(params, "elastic_net")
    l1_value = _check_lam(l1, "l1", "elastic_net")
    l2_value = _check_lam(l2, "l2", "elastic_net")
    return _l1(params, l1_value) + _l2(params, l2_value)


_l1, _l2 = l1, l2

__all__ = ["l1", "l2", "elastic_net"]
