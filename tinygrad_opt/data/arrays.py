"""In-memory datasets: equal-length arrays indexed together, and the label range check."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .errors import LabelRangeError


def as_array(value: Any):
    """The backend array behind `value`: a Tensor's data, a NumPy/CuPy array as is, else np.asarray.

    CuPy arrays stay on the GPU, so a dataset can live in GPU memory and be batched there.
    """
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):  # NumPy or CuPy
        return value
    return np.asarray(value)


def check_labels(labels: np.ndarray, num_classes: int, source: str = "labels", hint: str = "") -> np.ndarray:
    """Return `labels` as int64 after checking every value lies in [0, num_classes).

    A bad value raises LabelRangeError naming `source`, the first bad value and its index,
    followed by `hint` (what the caller should do).
    """
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise LabelRangeError(f"{source}: class labels must be integers, got non-integer values ({labels.dtype})")
    elif labels.dtype.kind not in "iu":
        raise LabelRangeError(f"{source}: class labels must be integers, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise LabelRangeError(f"{source}: labels must be one-dimensional, got shape {labels.shape}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise LabelRangeError(
            f"{source}: label {labels[i].item()} at index {i} is outside [0, {num_classes}) "
            f"({bad.size} bad labels in all)" + (f"; {hint}" if hint else "")
        )
    return labels.astype(np.int64, copy=False)


class ArrayDataset:
    """Several arrays with the same first dimension, sampled together: ds[i] -> (x[i], y[i], ...).

    The DataLoader slices `.arrays` directly (one gather per epoch), so this is the
    fast path; any object with __len__ and __getitem__ also works, only slower.
    """

    def __init__(self, *arrays: Any):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(as_array(a) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"ArrayDataset: every array needs the same first dimension, got shapes {shapes}")

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"ArrayDataset({shapes})"


TensorDataset = ArrayDataset  # PyTorch's name for the same thing
