"""Embedding's scatter-add kernel (kernels/embedding_*.py): the Numba loop against NumPy's add.at."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_opt import kernels
from tinygrad_opt.kernels import embedding_reference as reference

cpu = pytest.importorskip("tinygrad_opt.kernels.embedding_cpu", reason="Numba is not installed")


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num=st.integers(1, 20), cols=st.integers(1, 17), n=st.integers(0, 200),
       dtype=st.sampled_from([np.float32, np.float64]), index_dtype=st.sampled_from([np.int64, np.int32, np.uint8]))
def test_the_loop_adds_repeated_rows_in_numpys_order_bitwise(seed, num, cols, n, dtype, index_dtype):
    rng = np.random.default_rng(seed)
    index = rng.integers(0, min(num, 255), n).astype(index_dtype)  # few rows: many repeats
    values = (rng.standard_normal((n, cols)) * 10 ** rng.uniform(-3, 3, (n, 1))).astype(dtype)
    start = rng.standard_normal((num, cols)).astype(dtype)
    fast, ref = start.copy(), start.copy()
    assert cpu.index_add_rows(fast, index, values) is None
    reference.index_add_rows(ref, index, values)
    np.testing.assert_array_equal(fast, ref)


def test_the_registry_runs_the_reference_for_indices_the_loop_does_not_take():
    target = np.zeros((4, 3), np.float32)
    values = np.ones((3, 3), np.float32)
    assert kernels.which("index_add_rows", target) == "cpu"
    negative = np.array([0, -1, -1])  # NumPy wraps negative indices: so does the reference path
    kernels.get("index_add_rows", target)(target, negative, values)
    np.testing.assert_array_equal(target[:, 0], [1, 0, 0, 2])
    with pytest.raises(IndexError):
        kernels.get("index_add_rows", target)(target, np.array([0, 4, 1]), values)


def test_the_loop_takes_broadcast_values():
    target, ref = np.zeros((5, 4), np.float32), np.zeros((5, 4), np.float32)
    index = np.array([1, 3, 1, 0])
    values = np.broadcast_to(np.float32(0.25), (4, 4))  # the gradient of a sum
    fast = kernels.get("index_add_rows", target)
    assert fast.fast.takes(target, index, values)
    fast(target, index, values)
    reference.index_add_rows(ref, index, values)
    np.testing.assert_array_equal(target, ref)
