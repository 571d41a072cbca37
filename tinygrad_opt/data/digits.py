"""The embedded default dataset: 1797 8x8 handwritten digits, shipped in digits.npz.

digits.npz holds `images` (1797, 8, 8) uint8 in 0..16, `labels` (1797,) uint8 in 0..9
and `is_test` (1797,) bool, the fixed train/test split (1438 / 359 samples). The split
is stratified: for each class in turn, a NumPy `default_rng(0)` permutation of that
class's indices sends its first round(0.2 * count) samples to the test set
(make_digits.py). The split is stored rather than recomputed so that it can never
change with a NumPy version.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

DIGITS_FILE = Path(__file__).with_name("digits.npz")
DIGITS_MAX_VALUE = 16  # each pixel counts set bits in a 4x4 block of the 32x32 original
DIGITS_CLASSES = tuple(str(d) for d in range(10))


@lru_cache(maxsize=1)
def _read() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(DIGITS_FILE) as f:
        return f["images"], f["labels"], f["is_test"]


def load_digits_raw() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_images, train_labels, test_images, test_labels) as stored: uint8, images (N, 8, 8)."""
    images, labels, is_test = _read()
    return images[~is_test], labels[~is_test], images[is_test], labels[is_test]
