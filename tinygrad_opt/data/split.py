"""Holding out a validation set: seeded, stratified by class when labels are given."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module, host_rng
from .arrays import as_array


def _generator(seed: int | None) -> np.random.Generator:
    return host_rng() if seed is None else np.random.default_rng(seed)


def _stratified_val_indices(y: np.ndarray, n_val: int, rng: np.random.Generator) -> np.ndarray:
    """n_val indices, each class contributing in proportion to its size (largest remainders round)."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    share = counts * (n_val / len(y))
    quota = np.floor(share).astype(np.int64)
    leftover = n_val - int(quota.sum())
    if leftover:  # hand the remaining slots to the classes with the largest fractional parts
        quota[np.argsort(-(share - quota), kind="stable")[:leftover]] += 1
    order = rng.permutation(len(y))
    picked = []
    for k in range(len(classes)):
        members = order[inverse[order] == k]  # this class's indices, in random order
        picked.append(members[: quota[k]])
    return np.concatenate(picked)


def train_val_split(
    x: Any, y: Any, val_fraction: float = 0.1, seed: int | None = 0, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split (x, y) into (x_train, y_train, x_val, y_val).

    round(val_fraction * N) samples (at least 1, leaving at least 1) go to validation,
    chosen with `default_rng(seed)`; seed=None uses the engine's generator, which
    `tg.manual_seed` seeds. With stratify, each class keeps its share in both parts.
    Both parts keep the original sample order.
    """
    x, y = as_array(x), as_array(y)
    n = len(y)
    if len(x) != n:
        raise ValueError(f"train_val_split: x has {len(x)} samples but y has {n}")
    if isinstance(val_fraction, bool) or not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"train_val_split: val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")
    if n < 2:
        raise ValueError(f"train_val_split: need at least 2 samples to split, got {n}")
    n_val = min(max(int(round(float(val_fraction) * n)), 1), n - 1)
    rng = _generator(seed)
    y_host = y if isinstance(y, np.ndarray) else y.get()
    if stratify:
        val_idx = _stratified_val_indices(y_host, n_val, rng)
    else:
        val_idx = rng.permutation(n)[:n_val]
    is_val = np.zeros(n, dtype=bool)
    is_val[val_idx] = True
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    xp = array_module(x)  # CuPy data is indexed with device arrays
    y_train, y_val = y[array_module(y).asarray(train_idx)], y[array_module(y).asarray(val_idx)]
    return x[xp.asarray(train_idx)], y_train, x[xp.asarray(val_idx)], y_val
