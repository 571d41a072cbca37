"""PyTorch's dtype promotion (torch.result_type) and the default floating dtype.

Operands fall into three priority groups: tensors with at least one dim, 0-d tensors,
and Python scalars. Categories rank bool < integer < floating. A lower group changes
the result only when its category is higher than every higher group's, so a 0-d
float64 tensor or a Python float leaves a float32 tensor float32, while an integer
tensor meeting a Python float becomes the default float dtype.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

_FLOATING = ("float16", "float32", "float64")
_default_float = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The dtype Python floats and floating ops on integer tensors produce (float32 unless set)."""
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Set the default floating dtype, as torch.set_default_dtype (float16, float32 or float64)."""
    global _default_float
    from .backend import resolve_dtype  # noqa: PLC0415 - backend imports nothing from here

    resolved = resolve_dtype(dtype)
    if resolved.name not in _FLOATING:
        raise TypeError(f"set_default_dtype: only floating dtypes ({', '.join(_FLOATING)}) are allowed, got {resolved}")
    _default_float = resolved


def category(dtype: np.dtype) -> int:
    """0 for bool, 1 for integers, 2 for floating types."""
    kind = dtype.kind
    return 0 if kind == "b" else 2 if kind in "fc" else 1


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """torch.promote_types: within a category NumPy's rule; across categories the higher one's dtype."""
    if a == b:
        return a
    ca, cb = category(a), category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def scalar_dtype(value: Any) -> np.dtype:
    """The dtype a Python scalar takes on its own: bool, int64 or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, numbers.Integral):
        return np.dtype(np.int64)
    if isinstance(value, numbers.Real):
        return _default_float
    raise TypeError(f"unsupported scalar {value!r} of type {type(value).__name__}: use a bool, int or float")


def _combine(higher, lower):
    """Fold a lower-priority group's dtype into a higher one's (c10's combine_categories)."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if category(higher) == 2:
        return higher
    if category(higher) == 0 or category(lower) == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands: Any) -> np.dtype:
    """torch.result_type over Tensors, arrays and Python scalars."""
    dimensioned = zero_dim = scalars = None
    for x in operands:
        data = getattr(x, "data", x) if not isinstance(x, np.ndarray) else x
        if hasattr(data, "dtype") and hasattr(data, "ndim") and not isinstance(data, np.generic):
            if data.ndim:
                dimensioned = data.dtype if dimensioned is None else promote_types(dimensioned, data.dtype)
            else:
                zero_dim = data.dtype if zero_dim is None else promote_types(zero_dim, data.dtype)
        else:
            dtype = scalar_dtype(x.item() if isinstance(x, np.generic) else x)
            scalars = dtype if scalars is None else promote_types(scalars, dtype)
    return _combine(dimensioned, _combine(zero_dim, scalars))


def floating_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a floating op (exp, sigmoid, /, ...) computes in: dtype if floating, else the default."""
    return dtype if category(dtype) == 2 else _default_float
