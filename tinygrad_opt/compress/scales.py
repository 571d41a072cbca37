"""Symmetric int8 scales: per output channel for weights, one per batch for activations.

Weights (any shape, channel = the first axis):  s_w[j] = max |W[j, ...]| / 127,
    Wq[j, ...] = clip(round(W[j, ...] / s_w[j]), -127, 127) as int8 (s_w = 1 for an all-zero channel).
Activations (dynamic):                          s_x = max |x| / 127,  xq = round(x / s_x) as int8.
-128 is never used, so the range is symmetric and zero maps to zero (zero padding stays exact).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module

QMAX = 127


def quantize_per_channel(w) -> tuple[Any, Any]:
    """(int8 weights shaped like w, float32 scale per first-axis channel) with scale = max|w[j]| / 127."""
    xp = array_module(w)
    rows = w.reshape(w.shape[0], -1)
    amax = xp.abs(rows).max(axis=1) if rows.shape[1] else xp.zeros(w.shape[0], dtype=w.dtype)
    scale = xp.where(amax > 0, amax / QMAX, 1.0).astype(xp.float32)
    q = xp.clip(xp.rint(rows / scale[:, None]), -QMAX, QMAX).astype(xp.int8)
    return q.reshape(w.shape), scale


def quantize_activation(x, where: str = "QuantizedLinear") -> tuple[Any, float]:
    """(int8 values, scale) with one symmetric scale max|x| / 127 for the whole batch."""
    xp = array_module(x)
    amax = float(xp.abs(x).max()) if x.size else 0.0
    if not np.isfinite(amax):
        raise ValueError(f"{where}: the input contains inf or NaN; it cannot be quantized")
    scale = amax / QMAX if amax > 0 else 1.0
    q = xp.clip(xp.rint(x * (1.0 / scale)), -QMAX, QMAX).astype(xp.int8)
    return q, scale
