"""Gradient clipping by total norm or by value (torch.nn.utils.clip_grad_norm_ / clip_grad_value_).

`clip_grad_norm_` returns the total norm as a 0-d Tensor, as torch does, and
`clip_grads_by_total_norm` (the training loop's) the same norm as a 0-d array: neither
reads it back to the host, so a CUDA step does not stop for it.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

import numpy as np

from ..backend import array_module, device_of, to_device
from ..kernels import get as kernel
from ..kernels import reference
from ..promotion import get_default_dtype
from ..step_effects import replayed
from ..tensor import Tensor

EPS = 1e-6  # added to the norm before dividing, as torch does


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


def _check_norm_options(max_norm: Any, norm_type: Any, fn: str) -> float:
    """Validate max_norm and norm_type; returns norm_type as a float."""
    for name, value in (("max_norm", max_norm), ("norm_type", norm_type)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{fn}: {name} must be a number, got {value!r}")
    if max_norm < 0:
        raise ValueError(f"{fn}: max_norm must be >= 0, got {max_norm!r}")
    return float(norm_type)


def _total_norm(grads: list, norm_type: float):
    """The total norm as a 0-d array: on the gradients' device, or on the host when they span several."""
    by_device: dict[str, list] = {}
    for g in grads:
        by_device.setdefault(device_of(g), []).append(g)
    # one fused reduction per device (kernels "grad_norm"); several devices meet on the host
    totals = [kernel("grad_norm", gs[0])(gs, norm_type) for gs in by_device.values()]
    if len(totals) > 1:
        totals = [to_device(t, "cpu").astype(totals[0].dtype) for t in totals]
        totals = [reference.vector_norm(np.stack(totals), norm_type)]
    return array_module(totals[0]).asarray(totals[0])  # NumPy reductions may hand back a scalar, not a 0-d array


def _scale_host_(grads: list, total: float, max_norm: float) -> None:
    """Clip with the norm read back: multiply only when the factor is below 1 (or NaN)."""
    coef = max_norm / (total + EPS)
    if coef < 1 or math.isnan(coef):  # PyTorch clamps the factor at 1, so NaN propagates as there
        for g in grads:
            g *= coef


def _scale_device_(grads: list, total: Any, max_norm: float) -> None:
    """Clip without reading the norm: always multiply by min(factor, 1), computed where `total` lives.

    Equal to _scale_host_ bit for bit: the factor is formed in float64 as there, then rounded
    to each gradient's dtype as a Python float would be; x * 1.0 == x exactly; minimum keeps NaN.
    """
    xp = array_module(total)
    coef = xp.minimum(float(max_norm) / (total.astype(xp.float64) + EPS), 1.0)
    cast: dict[Any, Any] = {}  # one small cast per dtype, not per gradient
    for g in grads:
        c = cast.get(g.dtype)
        if c is None:
            c = cast[g.dtype] = coef.astype(g.dtype)
        g *= c


@replayed  # it scales .grad arrays in place: a captured step calls it again
def clip_grads_by_total_norm(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0):
    """clip_grad_norm_ without the host read: returns the total norm as a 0-d array.

    The gradients become exactly what clip_grad_norm_ makes of them. The norm stays on the
    gradients' device (on the host when they span several devices, which needs a copy per
    device as clip_grad_norm_ does); without gradients it is a host 0-d array holding 0.0.
    On the CPU reading the norm costs nothing, so there the factor is applied only when it
    is below 1; on a GPU every gradient is multiplied by min(factor, 1) on the device.
    """
    norm_type = _check_norm_options(max_norm, norm_type, "clip_grads_by_total_norm")
    grads = _grads(parameters, "clip_grads_by_total_norm")
    if not grads:
        return np.zeros((), dtype=np.float64)
    total = _total_norm(grads, norm_type)
    if array_module(total) is np:
        _scale_host_(grads, float(total), max_norm)
    else:
        _scale_device_(grads, total, max_norm)
    return total


@replayed  # it scales .grad arrays in place: a captured step calls it again
def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their total norm is at most `max_norm` (torch's clip_grad_norm_).

    The total norm is the `norm_type`-norm of the per-parameter gradient norms (the
    norm of all gradients concatenated; `float('inf')` for the largest |g|); every gradient
    is multiplied by min(max_norm / (total + 1e-6), 1) in place. Returns the total norm
    before clipping as a 0-d Tensor on the gradients' device, as torch does, so a CUDA step
    does not wait for it (error_if_nonfinite=True reads it, as in torch). `foreach` is
    accepted for torch's signature; the norm is always one fused reduction per device.
    """
    norm_type = _check_norm_options(max_norm, norm_type, "clip_grad_norm_")
    grads = _grads(parameters, "clip_grad_norm_")
    if not grads:
        return Tensor._make(np.zeros((), dtype=get_default_dtype()), False)
    total = _total_norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, so they "
            "cannot be clipped; pass error_if_nonfinite=False to clip anyway (the gradients become "
            "NaN or zero), or find where the loss or its gradient overflows"
        )
    if array_module(total) is np:
        _scale_host_(grads, float(total), max_norm)
    else:
        _scale_device_(grads, total, max_norm)
    return Tensor._make(total, False)


@replayed  # it scales .grad arrays in place: a captured step calls it again
def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value], in place."""
    if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real):
        raise TypeError(f"clip_grad_value_: clip_value must be a number, got {clip_value!r}")
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for g in _grads(parameters, "clip_grad_value_"):
        array_module(g).clip(g, -clip_value, clip_value, out=g)
