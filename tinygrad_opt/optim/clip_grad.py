"""Gradient clipping by total norm or by value (torch.nn.utils.clip_grad_norm_ / clip_grad_value_)."""
from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np

from ..backend import array_module, device_of, to_device
from ..kernels import get as kernel
from ..kernels import reference
from ..tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor], fn: str) -> list:
    """The gradient arrays of the parameters that have one."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: parameters must be Tensors, but item {i} is a {type(p).__name__}")
        if p.grad is not None:
            grads.append(p.grad.data)
    return grads


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their total norm is at most `max_norm`.

    The total norm is the `norm_type`-norm of the per-parameter gradient norms (the
    norm of all gradients concatenated; `float('inf')` for the largest |g|). When
    max_norm / (total + 1e-6) is below 1, every gradient is multiplied by it in place.
    Returns the total norm before clipping as a Python float (0.0 without gradients).
    """
    for name, value in (("max_norm", max_norm), ("norm_type", norm_type)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"clip_grad_norm_: {name} must be a number, got {value!r}")
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm!r}")
    norm_type = float(norm_type)
    grads = _grads(parameters, "clip_grad_norm_")
    if not grads:
        return 0.0
    by_device: dict[str, list] = {}
    for g in grads:
        by_device.setdefault(device_of(g), []).append(g)
    # one fused reduction per device (kernels "grad_norm"); several devices meet on the host
    totals = [kernel("grad_norm", gs[0])(gs, norm_type) for gs in by_device.values()]
    if len(totals) > 1:
        totals = [to_device(t, "cpu").astype(totals[0].dtype) for t in totals]
        totals = [reference.vector_norm(np.stack(totals), norm_type)]
    total = float(totals[0])
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so they "
            "cannot be clipped; pass error_if_nonfinite=False to clip anyway (the gradients become "
            "NaN or zero), or find where the loss or its gradient overflows"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1 or math.isnan(coef):  # PyTorch clamps the factor at 1, so NaN propagates as there
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value], in place."""
    if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real):
        raise TypeError(f"clip_grad_value_: clip_value must be a number, got {clip_value!r}")
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for g in _grads(parameters, "clip_grad_value_"):
        array_module(g).clip(g, -clip_value, clip_value, out=g)
