"""Datasets and mini-batching: the embedded digits, MNIST / Fashion-MNIST IDX files, DataLoader.

    from tinygrad_opt.data import load_dataset, DataLoader, train_val_split
    x_train, y_train, x_test, y_test = load_dataset("digits")   # offline, no download
    for xb, yb in DataLoader((x_train, y_train), batch_size=64, shuffle=True):
        ...

Images come as float32 (N, features) scaled to [0, 1], labels as int64.

The embedded dataset (digits.npz, 45 KB): the 1797 8x8 handwritten digits of the UCI
ML repository's "Optical Recognition of Handwritten Digits" (E. Alpaydin and
C. Kaynak, 1998; the test part of that set, as bundled with scikit-learn), each pixel
a count 0..16 of set bits in a 4x4 block of a 32x32 bitmap. UCI distributes it
under the Creative Commons Attribution 4.0 licence (CC BY 4.0); it was extracted once
from `sklearn.datasets.load_digits()` by make_digits.py, and nothing here needs
scikit-learn at run time. The fixed train/test split (1438 / 359, stratified 80/20,
seed 0) is stored in the file; see digits.py.

MNIST (Y. LeCun, C. Cortes, C. J. C. Burges) and Fashion-MNIST (Zalando Research, MIT
licence) are read from the standard IDX files, found via --data-dir, the
TINYGRAD_OPT_DATA environment variable or the cache, and downloaded with MD5 checks
when missing (see locate.py).
"""
from .arrays import ArrayDataset, TensorDataset, check_labels
from .download import download_idx_dataset
from .errors import ChecksumError, DatasetNotFoundError, DownloadError, IDXFormatError, LabelRangeError
from .idx import read_idx, write_idx
from .load import DATASET_NAMES, NORMALIZE_MODES, DatasetSplits, load_dataset
from .loader import DataLoader, check_batch_size
from .locate import ENV_VAR, cache_dir, locate_idx_files
from .sources import FASHION_MNIST, IDX_DATASETS, MNIST
from .split import train_val_split

__all__ = [
    "load_dataset", "DatasetSplits", "DATASET_NAMES", "NORMALIZE_MODES",
    "DataLoader", "check_batch_size", "ArrayDataset", "TensorDataset", "train_val_split", "check_labels",
    "read_idx", "write_idx", "locate_idx_files", "download_idx_dataset", "cache_dir", "ENV_VAR",
    "MNIST", "FASHION_MNIST", "IDX_DATASETS",
    "IDXFormatError", "LabelRangeError", "ChecksumError", "DownloadError", "DatasetNotFoundError",
]
