"""F.pad: pad the last dims of a tensor with torch's four modes (constant, reflect, replicate, circular)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor
from ._arguments import as_tensor as _tensor


def pad(input: Tensor, pad: tuple, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad) // 2 dims: pad = (last_before, last_after, second_last_before, ...).

    mode "constant" fills with value (0 by default; negative widths crop), "reflect" mirrors
    without repeating the edge, "replicate" repeats the edge, "circular" wraps around.
    """
    input = _tensor(input)
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    widths_in = tuple(pad)
    if len(widths_in) % 2 or len(widths_in) // 2 > input.ndim:
        raise ValueError(
            f"pad: padding length must be even and at most twice the number of dims ({input.ndim}), got {widths_in}"
        )
    if any(not isinstance(w, (int, np.integer)) for w in widths_in):
        raise TypeError(f"pad: widths must be ints, got {widths_in}")
    widths = [(0, 0)] * input.ndim
    for k in range(len(widths_in) // 2):
        widths[input.ndim - 1 - k] = (int(widths_in[2 * k]), int(widths_in[2 * k + 1]))
    if mode == "constant":
        return ops.ConstantPad.apply(input, widths=tuple(widths), value=0.0 if value is None else value)
    if value not in (None, 0, 0.0):
        raise ValueError(f"pad: value= only applies to mode='constant', not {mode!r}")
    for d, (lo, hi) in enumerate(widths):
        n = input.shape[d]
        limit = n - 1 if mode == "reflect" else n
        if min(lo, hi) < 0 or max(lo, hi) > limit or (n == 0 and (lo or hi)):
            raise ValueError(
                f"pad: {mode} padding of ({lo}, {hi}) on dim {d} of size {n} is out of range: each width must be "
                f"between 0 and {limit} (the size{' - 1' if mode == 'reflect' else ''} of the dim)"
            )
    return ops.IndexPad.apply(input, widths=tuple(widths), mode=mode)
