"""`load_dataset`: one entry point for every dataset, returning float32 features and int64 labels."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .arrays import ArrayDataset, check_labels
from .digits import DIGITS_CLASSES, DIGITS_FILE, DIGITS_MAX_VALUE, load_digits_raw
from .mnist import load_idx_raw
from .sources import IDX_DATASETS

DATASET_NAMES = ("digits", "mnist", "fashion-mnist")
NORMALIZE_MODES = ("unit", "standard", "none")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist"}


@dataclass
class DatasetSplits:
    """Train and test arrays of one dataset. Unpacks as `x_train, y_train, x_test, y_test`."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str  # the file or folder the data was read from

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def train(self) -> ArrayDataset:
        return ArrayDataset(self.x_train, self.y_train)

    @property
    def test(self) -> ArrayDataset:
        return ArrayDataset(self.x_test, self.y_test)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))

    def __repr__(self) -> str:
        return (
            f"DatasetSplits({self.name!r}, train {self.x_train.shape}, test {self.x_test.shape}, "
            f"{self.num_classes} classes, from {self.source})"
        )


def canonical_name(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_NAMES)}")
    return key


def _features(images: np.ndarray, max_value: float, flatten: bool) -> np.ndarray:
    x = images.astype(np.float32)
    x *= np.float32(1.0 / max_value)  # in place: MNIST's 188 MB float copy is made once
    return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *images.shape[1:])


def load_dataset(
    name: str = "digits",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    normalize: str = "unit",
    flatten: bool = True,
    timeout: float = 10.0,
) -> DatasetSplits:
    """Load "digits" (embedded, offline), "mnist" or "fashion-mnist" as float32 features and int64 labels.

    normalize: "unit" scales pixels to [0, 1] (digits / 16, MNIST / 255); "standard"
    then subtracts the training set's mean and divides by its standard deviation (one
    scalar each, applied to both splits); "none" keeps the raw pixel values as float32.
    flatten: (N, features) when True, else (N, 1, height, width) for convolutions.
    data_dir / download / timeout: where to look for IDX files and whether to fetch them
    (see tinygrad_opt.data.locate); ignored for the embedded digits.
    """
    key = canonical_name(name)
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"load_dataset: unknown normalize={normalize!r}; choose one of {', '.join(NORMALIZE_MODES)}")
    if key == "digits":
        raw, max_value, classes, source = load_digits_raw(), DIGITS_MAX_VALUE, DIGITS_CLASSES, str(DIGITS_FILE)
    else:
        info = IDX_DATASETS[key]
        raw, source = load_idx_raw(key, data_dir=data_dir, download=download, timeout=timeout)
        max_value, classes = 255, info.class_names
    xtr, ytr, xte, yte = raw
    scale = 1.0 if normalize == "none" else max_value
    x_train, x_test = _features(xtr, scale, flatten), _features(xte, scale, flatten)
    if normalize == "standard":
        mean, std = x_train.mean(dtype=np.float64), x_train.std(dtype=np.float64)
        for x in (x_train, x_test):
            x -= np.float32(mean)
            x *= np.float32(1.0 / std)
    n = len(classes)
    return DatasetSplits(
        name=key,
        x_train=x_train,
        y_train=check_labels(ytr, n, f"{key} training labels"),
        x_test=x_test,
        y_test=check_labels(yte, n, f"{key} test labels"),
        class_names=classes,
        source=source,
    )
