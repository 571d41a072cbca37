"""load_dataset on the embedded digits and full MNIST; train_val_split."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from tinygrad_opt.data import DATASET_NAMES, load_dataset, train_val_split
from tinygrad_opt.data.digits import DIGITS_FILE

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


# ---- embedded digits ---------------------------------------------------------------

def test_digits_shapes_types_and_range():
    d = load_dataset("digits")
    assert d.x_train.shape == (1438, 64) and d.x_test.shape == (359, 64)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    for x in (d.x_train, d.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert d.num_classes == 10 and d.num_features == 64 and d.class_names[3] == "3"
    # stratified: every class is about 20% test
    test_counts, all_counts = np.bincount(d.y_test), np.bincount(np.concatenate([d.y_train, d.y_test]))
    assert np.all(np.abs(test_counts - 0.2 * all_counts) <= 0.5)


def test_digits_deterministic_and_unpackable():
    a, b = load_dataset("digits"), load_dataset("digits")
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    x_train, y_train, x_test, y_test = a
    assert x_train is a.x_train and y_test is a.y_test
    # first samples, pinned so an accidental change of the shipped file is noticed
    assert a.y_train[:10].tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 0, 1]
    assert a.y_test[:10].tolist() == [5, 9, 2, 4, 6, 7, 9, 3, 4, 6]
    assert float(a.x_train.sum(dtype=np.float64)) * 16 == 449828.0
    assert float(a.x_test.sum(dtype=np.float64)) * 16 == 111890.0
    a.x_train[0, 0] = 123.0  # callers may edit their copy without touching the next load
    assert load_dataset("digits").x_train[0, 0] != 123.0


def test_digits_file_is_sklearns_digits_with_the_documented_split():
    datasets = pytest.importorskip("sklearn.datasets")
    from tinygrad_opt.data.make_digits import stratified_test_mask

    bunch = datasets.load_digits()
    with np.load(DIGITS_FILE) as f:
        images, labels, is_test = f["images"], f["labels"], f["is_test"]
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(labels, bunch.target)
    np.testing.assert_array_equal(is_test, stratified_test_mask(labels))
    d = load_dataset("digits", normalize="none")
    np.testing.assert_array_equal(d.x_test, bunch.data[is_test])


def test_digits_need_no_sklearn_at_run_time():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # any sklearn import now fails
        "from tinygrad_opt.data import load_dataset\n"
        "d = load_dataset('digits'); print(d.x_train.shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(1438, 64)" in out.stdout


def test_normalize_modes_and_unflattened_shape():
    unit, raw = load_dataset("digits"), load_dataset("digits", normalize="none")
    np.testing.assert_allclose(raw.x_train / 16.0, unit.x_train, rtol=1e-7)
    assert raw.x_train.max() == 16.0
    std = load_dataset("digits", normalize="standard")
    assert abs(std.x_train.mean()) < 1e-5 and abs(std.x_train.std() - 1) < 1e-5
    mean, sd = unit.x_train.mean(dtype=np.float64), unit.x_train.std(dtype=np.float64)
    np.testing.assert_allclose(std.x_test, (unit.x_test - mean) / sd, atol=1e-5)
    images = load_dataset("digits", flatten=False)
    assert images.x_train.shape == (1438, 1, 8, 8)
    np.testing.assert_array_equal(images.x_train.reshape(1438, 64), unit.x_train)


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="unknown dataset 'cifar10': choose one of digits, mnist, fashion-mnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown normalize='zscore'"):
        load_dataset("digits", normalize="zscore")
    assert DATASET_NAMES == ("digits", "mnist", "fashion-mnist")
    assert load_dataset("DIGITS").name == "digits"


# ---- full MNIST from the project's known-good copy ------------------------------

@pytest.mark.skipif(not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"full MNIST is not present at {SHARED_MNIST} (only on the project's machines)")
def test_full_mnist():
    d = load_dataset("mnist", data_dir=SHARED_MNIST, download=False)
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.x_train.dtype == np.float32 and d.y_test.dtype == np.int64
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0 and d.x_test.max() == 1.0
    assert np.bincount(d.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(d.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert d.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert d.x_train.mean(dtype=np.float64) * 255 == pytest.approx(33.3184, abs=1e-3)
    assert d.x_train.std(dtype=np.float64) * 255 == pytest.approx(78.5675, abs=1e-3)


# ---- validation split ------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 300), k=st.integers(1, 7), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**31))
def test_train_val_split_partitions_and_stratifies(n, k, fraction, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = np.arange(n) * 10  # values identify the samples
    xt, yt, xv, yv = train_val_split(x, y, fraction, seed=seed)
    n_val = min(max(round(fraction * n), 1), n - 1)
    assert len(xv) == n_val and len(xt) == n - n_val
    assert sorted(np.concatenate([xt, xv]).tolist()) == x.tolist()  # each sample exactly once
    np.testing.assert_array_equal(y[xt // 10], yt)  # labels travel with their samples
    assert np.all(np.diff(xt) > 0) and np.all(np.diff(xv) > 0)  # original order kept
    for c in range(k):  # each class within one sample of its proportional share
        assert abs(np.sum(yv == c) - np.sum(y == c) * n_val / n) < 1 + 1e-9


def test_train_val_split_seeding():
    x, y = np.arange(100), np.arange(100) % 3
    a, b = train_val_split(x, y, 0.2, seed=5), train_val_split(x, y, 0.2, seed=5)
    np.testing.assert_array_equal(a[2], b[2])
    assert not np.array_equal(a[2], train_val_split(x, y, 0.2, seed=6)[2])
    tg.manual_seed(11)
    c = train_val_split(x, y, 0.2, seed=None)  # the engine's generator
    tg.manual_seed(11)
    np.testing.assert_array_equal(c[2], train_val_split(x, y, 0.2, seed=None)[2])
    plain = train_val_split(x, y, 0.3, seed=1, stratify=False)
    assert len(plain[2]) == 30


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True])
def test_train_val_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="val_fraction must lie strictly between 0 and 1"):
        train_val_split(np.arange(10), np.arange(10), fraction)


def test_train_val_split_rejects_mismatch_and_tiny():
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        train_val_split(np.arange(10), np.arange(9), 0.5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        train_val_split(np.arange(1), np.arange(1), 0.5)
