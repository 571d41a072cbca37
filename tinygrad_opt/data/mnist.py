"""MNIST and Fashion-MNIST from their IDX files, found (or downloaded) by locate.py."""
from __future__ import annotations

import os

import numpy as np

from .arrays import check_labels
from .errors import IDXFormatError
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from .locate import locate_idx_files
from .sources import IDX_DATASETS, IDXDataset


def read_split(info: IDXDataset, images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """Read one split's image and label files and check they fit together and the labels are valid."""
    images = read_idx(images_path, expect_magic=IMAGES_MAGIC, expect_shape=(None, *info.image_shape))
    labels = read_idx(labels_path, expect_magic=LABELS_MAGIC)
    if len(images) == 0:
        raise IDXFormatError(f"{images_path} holds 0 images; the file is damaged or not {info.name}: "
                             "delete it and download it again")
    if len(images) != len(labels):
        raise IDXFormatError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "the files belong to different downloads or one is damaged: delete them and download again"
        )
    hint = f"the file is corrupt or not {info.name}: delete it and download it again"
    return images, check_labels(labels, info.num_classes, source=f"label file {labels_path}", hint=hint)


def load_idx_raw(
    name: str, data_dir: str | os.PathLike | None = None, download: bool = True, timeout: float = 10.0
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], str]:
    """((train_images, train_labels, test_images, test_labels), folder): uint8 images (N, 28, 28), int64 labels."""
    info = IDX_DATASETS[name]
    files = locate_idx_files(info, data_dir=data_dir, download=download, timeout=timeout)
    x_train, y_train = read_split(info, files["train_images"], files["train_labels"])
    x_test, y_test = read_split(info, files["test_images"], files["test_labels"])
    return (x_train, y_train, x_test, y_test), str(files["train_images"].parent)
