"""Regenerate digits.npz from scikit-learn's bundled copy (a maintainer's tool, not used at run time).

    python -m tinygrad_opt.data.make_digits      # needs scikit-learn

The product never imports this module: digits.npz is committed and shipped.
"""
from __future__ import annotations

import numpy as np

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def stratified_test_mask(labels: np.ndarray, fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED) -> np.ndarray:
    """For each class in ascending order, a default_rng(seed) permutation picks round(fraction * count) test samples."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        is_test[rng.permutation(members)[: int(round(fraction * len(members)))]] = True
    return is_test


def build() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits  # noqa: PLC0415 - maintainer-only dependency

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    if not np.array_equal(images, bunch.images):
        raise ValueError("sklearn's digits are not integers 0..16 any more; check before regenerating")
    labels = bunch.target.astype(np.uint8)
    return {"images": images, "labels": labels, "is_test": stratified_test_mask(labels)}


if __name__ == "__main__":
    from .digits import DIGITS_FILE

    np.savez_compressed(DIGITS_FILE, **build())
    print(f"wrote {DIGITS_FILE}")
