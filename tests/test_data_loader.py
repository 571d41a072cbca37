"""DataLoader: batch sizes, drop_last, every sample once per epoch, seeded shuffling, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from tinygrad_opt.data import ArrayDataset, DataLoader, TensorDataset, check_batch_size


def _data(n, features=3):
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    return x, np.arange(n, dtype=np.int64)  # y[i] == i identifies each sample


def _epoch(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), shuffle=st.booleans(), drop_last=st.booleans())
def test_sizes_and_every_sample_once(n, batch_size, shuffle, drop_last):
    if drop_last and batch_size > n:
        return  # an error, tested below
    x, y = _data(n)
    loader = DataLoader((x, y), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    batches = _epoch(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    sizes = [len(yb) for _, yb in batches]
    assert all(s == batch_size for s in sizes[:-1])
    assert sizes[-1] == (batch_size if drop_last else n - batch_size * (len(sizes) - 1))
    seen = np.concatenate([yb for _, yb in batches])
    for xb, yb in batches:  # rows stay paired with their labels
        np.testing.assert_array_equal(xb, x[yb])
    if drop_last:
        assert len(np.unique(seen)) == len(seen) == n - n % batch_size
    else:
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))


def test_shuffle_follows_manual_seed():
    x, y = _data(50)
    loader = DataLoader((x, y), batch_size=8, shuffle=True)
    tg.manual_seed(123)
    first = [np.concatenate([yb for _, yb in _epoch(loader)]) for _ in range(2)]
    tg.manual_seed(123)
    again = [np.concatenate([yb for _, yb in _epoch(loader)]) for _ in range(2)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1]), "each epoch draws a new order"
    assert not np.array_equal(first[0], np.arange(50))
    tg.manual_seed(124)
    assert not np.array_equal(np.concatenate([yb for _, yb in loader]), first[0])


def test_own_seed_is_independent_of_the_engine():
    x, y = _data(40)
    a = DataLoader((x, y), batch_size=7, shuffle=True, seed=9)
    b = DataLoader((x, y), batch_size=7, shuffle=True, seed=9)
    tg.manual_seed(1)
    order_a = np.concatenate([yb for _, yb in a])
    tg.manual_seed(2)
    tg.randn(100)  # other engine draws must not shift this loader
    order_b = np.concatenate([yb for _, yb in b])
    np.testing.assert_array_equal(order_a, order_b)


def test_state_dict_resumes_the_shuffle():
    x, y = _data(30)
    loader = DataLoader((x, y), batch_size=4, shuffle=True, seed=3)
    list(loader)
    state = loader.state_dict()
    expected = np.concatenate([yb for _, yb in loader])
    fresh = DataLoader((x, y), batch_size=4, shuffle=True, seed=3)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in fresh]), expected)
    assert DataLoader((x, y)).state_dict() == {}  # the engine's generator lives in tg.get_rng_state()
    with pytest.raises(ValueError, match="construct it with the same seed="):
        DataLoader((x, y), shuffle=True).load_state_dict(state)


def test_unshuffled_batches_are_read_only_views():
    x, y = _data(10)
    xb, yb = next(iter(DataLoader((x, y), batch_size=4)))
    assert np.shares_memory(xb, x) and not xb.flags.writeable
    with pytest.raises(ValueError):
        xb[0, 0] = 1.0
    assert x.flags.writeable  # the dataset itself is untouched


def test_input_kinds():
    x, y = _data(9)
    single = list(DataLoader(x, batch_size=4))
    assert [b.shape for b in single] == [(4, 3), (4, 3), (1, 3)]
    ds = TensorDataset(tg.Tensor(x), y)
    assert ds is not None and TensorDataset is ArrayDataset and len(ds) == 9
    xb, yb = next(iter(DataLoader(ds, batch_size=5)))
    np.testing.assert_array_equal(xb, x[:5])
    pairs = [(x[i], int(y[i])) for i in range(9)]  # any map-style dataset
    xb, yb = list(DataLoader(pairs, batch_size=4, shuffle=True))[0]
    assert xb.shape == (4, 3) and yb.shape == (4,)
    np.testing.assert_array_equal(xb, x[yb])
    plain = list(DataLoader([np.ones(2)] * 3, batch_size=2))  # samples that are not tuples
    assert [b.shape for b in plain] == [(2, 2), (1, 2)]


def test_a_shuffled_epoch_of_arrays_gathers_each_batch_at_once_without_python_per_sample(monkeypatch):
    """MNIST-sized arrays: each batch is one gather of the epoch's permutation, never a sample at a time
    (the loader's speed lives in the MNIST benchmarks, not in a timed test)."""
    def no_single_samples(self, index):
        raise AssertionError("the loader read one sample at a time")

    monkeypatch.setattr(ArrayDataset, "__getitem__", no_single_samples)
    x = np.arange(60000 * 4, dtype=np.float32).reshape(60000, 4)
    y = np.arange(60000)
    loader = DataLoader((x, y), batch_size=64, shuffle=True, seed=5)
    order = np.random.default_rng(5).permutation(60000)
    batches = list(loader)
    assert len(batches) == 938 and sum(len(yb) for _, yb in batches) == 60000
    for k, (xb, yb) in enumerate(batches):
        np.testing.assert_array_equal(yb, order[k * 64:(k + 1) * 64])
        np.testing.assert_array_equal(xb, x[yb])


# ---- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_batch_size(bad):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {bad}"):
        DataLoader(_data(5), batch_size=bad)


@pytest.mark.parametrize("bad", [2.5, "8", True, None])
def test_non_integer_batch_size(bad):
    with pytest.raises(TypeError, match="batch_size must be a positive integer"):
        DataLoader(_data(5), batch_size=bad)


def test_drop_last_with_batch_larger_than_dataset():
    with pytest.raises(ValueError, match=r"batch_size 8 is larger than the dataset \(5 samples\) and drop_last=True"):
        DataLoader(_data(5), batch_size=8, drop_last=True)
    assert len(DataLoader(_data(5), batch_size=8)) == 1  # allowed without drop_last: one short batch


def test_check_batch_size_for_the_cli():
    assert check_batch_size(5, 5) == 5
    with pytest.raises(ValueError, match=r"batch size 64 is larger than the training set \(50 samples\); "
                                         r"choose a batch size of at most 50"):
        check_batch_size(64, 50, what="the training set")
    with pytest.raises(ValueError, match="positive"):
        check_batch_size(0, 50)


def test_dataset_errors():
    with pytest.raises(ValueError, match=r"same first dimension, got shapes \(5, 3\), \(4,\)"):
        DataLoader((np.zeros((5, 3)), np.zeros(4)))
    with pytest.raises(ValueError, match="empty"):
        DataLoader((np.zeros((0, 3)), np.zeros(0)))
    with pytest.raises(TypeError, match="expected an ArrayDataset"):
        DataLoader(42)


@pytest.mark.cuda
@pytest.mark.skipif(not tg.cuda_is_available(), reason="needs CuPy and a CUDA device")
def test_gpu_resident_dataset_batches_on_the_gpu():
    import cupy as cp

    from tinygrad_opt.data import train_val_split

    x, y = _data(50)
    loader = DataLoader((cp.asarray(x), cp.asarray(y)), batch_size=8, shuffle=True)
    batches = list(loader)
    assert all(isinstance(xb, cp.ndarray) and isinstance(yb, cp.ndarray) for xb, yb in batches)
    seen = np.concatenate([cp.asnumpy(yb) for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(50))
    for xb, yb in batches:
        np.testing.assert_array_equal(cp.asnumpy(xb), x[cp.asnumpy(yb)])
    xt, yt, xv, yv = train_val_split(cp.asarray(x), cp.asarray(y), 0.2, seed=0)
    assert isinstance(xv, cp.ndarray) and len(xv) == 10 and len(xt) == 40
    np.testing.assert_array_equal(cp.asnumpy(xv), x[cp.asnumpy(yv)])
