"""Parameter: a leaf Tensor that a Module registers as trainable."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor with requires_grad=True (unless asked otherwise), as torch.nn.Parameter.

    Built from a Tensor it shares that tensor's data (no copy); from an array it keeps
    the array's dtype; Python numbers and lists become float32. Integer data cannot
    require a gradient: that raises a TypeError naming the dtype.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            data = data.data  # share storage, drop any graph: a parameter is always a leaf
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
