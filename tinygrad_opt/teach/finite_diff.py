"""Central finite differences: the gradient estimated from function values alone."""
from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dL/d(array) estimated element by element as (f(w + eps) - f(w - eps)) / (2 eps).

    `f` takes no arguments and reads `array` (e.g. a parameter's data), which is
    perturbed in place and restored. The error is O(eps^2) from the truncated Taylor
    series plus O(machine epsilon / eps) from rounding, so eps ~ 1e-6 suits float64
    and ~ 1e-3 float32 (notebook 02 plots this trade-off).
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    if not array.flags.c_contiguous:
        raise ValueError("numerical_gradient: the array must be C-contiguous so it can be perturbed in place")
    flat = array.reshape(-1)  # a view: writing to it perturbs `array`
    for i in range(flat.size):
        original = flat[i].copy()
        flat[i] = original + eps
        up = f()
        flat[i] = original - eps
        down = f()
        flat[i] = original
        grad.reshape(-1)[i] = (up - down) / (2 * eps)
    return grad
