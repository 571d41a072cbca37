"""Argument handling shared by the functional forms: tensors, targets, reductions, dtypes."""
from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from ..ops.loss import REDUCTIONS, check_reduction
from ..tensor import Tensor


def as_tensor(x: Any, name: str = "input") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if x is None:
        raise TypeError(f"{name} must be a Tensor, got None")
    return Tensor(x)


def as_target(target: Any, like: Tensor, keep_integer: bool = False) -> Tensor:
    """Targets given as arrays/lists join the input's device; float ones take its dtype."""
    if isinstance(target, Tensor):
        return target
    array = np.asarray(target) if not hasattr(target, "shape") else target
    if keep_integer and array.dtype.kind in "iub":
        return Tensor(array, device=like.device)
    return Tensor(array, dtype=like.dtype, device=like.device)


def constant_array(value: Any, like: Tensor, name: str, op: str):
    """An option array (class weights, BCE weights) in the input's dtype and on its device; None stays None."""
    if value is None:
        return None
    tensor = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
    if tensor.device != like.device:
        raise ValueError(f"{op}: {name} is on {tensor.device} but the input is on {like.device}; move it with .to()")
    data = tensor.data
    return data if data.dtype == like.dtype else data.astype(like.dtype)


def check_floating(x: Tensor, op: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor, got {x.dtype}; convert it with .float()")


def check_number(value: Any, name: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)


def reduction_of(size_average: Any, reduce: Any, reduction: str, op: str) -> str:
    """torch's deprecated size_average/reduce flags mapped onto `reduction` (with torch's warning)."""
    if size_average is None and reduce is None and reduction in REDUCTIONS:
        return reduction
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(
            f"{op}: size_average and reduce are deprecated, please use reduction='{reduction}' instead.",
            UserWarning, stacklevel=3,
        )
    check_reduction(reduction, op)
    return reduction


def check_label_smoothing(value: Any, op: str) -> float:
    if type(value) is float and 0.0 <= value <= 1.0:  # the common case, without the numbers.Real ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be a number in [0, 1], got {value!r}")
    return float(value)


def warn_if_shapes_differ(input: Tensor, target: Tensor, op: str) -> None:
    if target.shape != input.shape:
        warnings.warn(
            f"{op}: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}; "
            "they will broadcast, which is rarely intended",
            stacklevel=3,
        )
