"""What the IDX datasets are: their four files, official checksums, mirrors and class names.

Checksums are the MD5s of the official `.gz` files. For MNIST the MD5s of the
uncompressed payloads are published as well and are accepted too, because some
mirrors re-compress the files (same images, different gzip bytes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# the four parts every IDX dataset has, in the order they are loaded
PARTS = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class IDXDataset:
    """One IDX dataset: file stems, checksums, where to download it and what its classes are."""

    name: str
    files: dict[str, str]  # part -> file stem without ".gz", e.g. "train-images-idx3-ubyte"
    md5_gz: dict[str, str]  # part -> MD5 of the official .gz file
    md5_raw: dict[str, str]  # part -> MD5 of the uncompressed payload (where published)
    mirrors: tuple[str, ...]  # base URLs ending in "/"; a file's URL is base + stem + ".gz"
    class_names: tuple[str, ...]
    folder_names: tuple[str, ...] = field(default=())  # sub-folder names accepted under a data dir
    image_shape: tuple[int, int] = (28, 28)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

MNIST = IDXDataset(
    name="mnist",
    files=dict(_STEMS),
    md5_gz={
        "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
        "test_images": "9fb629c4189551a2d022fa330f9573f3",
        "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    md5_raw={
        "train_images": "6bbc9ace898e44ae57da46a324031adb",
        "train_labels": "a25bea736e30d166cdddb491f175f624",
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    class_names=tuple(str(d) for d in range(10)),
    folder_names=("mnist", "MNIST"),
)

FASHION_MNIST = IDXDataset(
    name="fashion-mnist",
    files=dict(_STEMS),
    md5_gz={
        "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
        "test_images": "bef4ecab320f06d8554ea6380940ec79",
        "test_labels": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    md5_raw={},
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    folder_names=("fashion-mnist", "fashion_mnist", "FashionMNIST", "fashion"),
)

IDX_DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}
