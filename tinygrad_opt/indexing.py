"""torch's indexing rule, as two NumPy indexing steps.

NumPy and torch agree on basic indexing (ints, slices, None, Ellipsis) and on advanced
indexing with integer or boolean arrays, except in one place: NumPy counts a plain int
as an advanced index when arrays are present, so `x[0, :, [0, 1]]` on shape (2, 3, 4)
puts the advanced dims first and gives (2, 3). torch applies the ints first (a select
that drops the dim) and only then the arrays, giving (3, 2). Splitting the index into a
basic step (ints, slices, None; each array replaced by a full slice) and an advanced
step on what remains (the arrays, at their new positions) reproduces torch's rule with
NumPy's own indexing.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

_FULL = slice(None)


class TorchIndex(NamedTuple):
    """An index as two steps: `array[basic]`, then `[advanced]` on that (None when there are no arrays)."""

    basic: Any
    advanced: Any = None


def is_array(part: Any) -> bool:
    return hasattr(part, "dtype") and hasattr(part, "ndim")


def split_index(index: Any, ndim: int) -> TorchIndex:
    """The two-step form of `index` (its parts already NumPy/CuPy arrays, ints, slices, None or Ellipsis)."""
    parts = index if isinstance(index, tuple) else (index,)
    if not any(is_array(p) and p.ndim > 0 for p in parts):
        return TorchIndex(tuple(p.item() if is_array(p) else p for p in parts) if isinstance(index, tuple)
                          else (index.item() if is_array(index) else index))
    parts = _expand_ellipsis(parts, ndim)
    basic, advanced = [], []
    for part in parts:
        if is_array(part) and part.ndim == 0:  # a 0-d integer index is an int to torch
            part = part.item()
        if is_array(part):
            basic.append(_FULL)
            advanced.append(part)
        elif part is None:
            basic.append(None)
            advanced.append(_FULL)
        elif isinstance(part, slice):
            basic.append(part)
            advanced.append(_FULL)
        else:  # an int (or bool): the basic step drops (or adds) the dim
            basic.append(part)
    return TorchIndex(tuple(basic), tuple(advanced))


def _expand_ellipsis(parts: tuple, ndim: int) -> tuple:
    """Replace `...` with the full slices it stands for, so each part's dims are explicit."""
    used = sum(p.ndim if is_array(p) and p.dtype == np.bool_ else 0 if p is None or p is Ellipsis else 1
               for p in parts)
    at = next((i for i, p in enumerate(parts) if p is Ellipsis), None)  # `in` would compare arrays
    if at is None:
        return parts + (_FULL,) * max(ndim - used, 0)
    return parts[:at] + (_FULL,) * max(ndim - used, 0) + parts[at + 1:]


def take(array: Any, index: TorchIndex) -> Any:
    """array[index] under torch's rule."""
    out = array[index.basic]
    return out if index.advanced is None else out[index.advanced]


def put(array: Any, index: TorchIndex, values: Any) -> None:
    """array[index] = values under torch's rule (the basic step is a view, so this writes into array)."""
    if index.advanced is None:
        array[index.basic] = values
    else:
        array[index.basic][index.advanced] = values
