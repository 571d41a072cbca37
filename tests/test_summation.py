"""sum_axes and the sum_rows kernel: NumPy's sum, to rounding, for every shape, axis set and layout."""
import math

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from tinygrad_opt import kernels
from tinygrad_opt.kernels import cpu as cpu_module
from tinygrad_opt.kernels import reference
from tinygrad_opt.summation import sum_axes

from kernel_versions import Guarded

cpu = Guarded(cpu_module)


def close_to_numpy(ours, a, axes, keepdims):
    theirs = a.sum(axis=axes, keepdims=keepdims)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    if a.dtype.kind != "f":
        np.testing.assert_array_equal(ours, theirs)
        return
    # both are within n * eps * sum|a| of the exact sum (the loop's float64 sum is closer)
    exact = np.sum(a.astype(np.longdouble), axis=axes, keepdims=keepdims)
    bound = max(1, a.size) * np.finfo(a.dtype).eps * np.abs(a).astype(np.float64).sum(axis=axes, keepdims=keepdims)
    assert np.all(np.abs(ours - exact) <= bound + 1e-300)


@settings(max_examples=80, deadline=None)
@given(a=hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16]),
                    hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
                    elements=st.floats(-100, 100, width=16)),
       data=st.data(), keepdims=st.booleans(), transpose=st.booleans())
def test_sum_axes_is_numpys_sum(a, data, keepdims, transpose):
    if transpose:
        a = a.T  # not C-contiguous: only the 2-D last-axis case may take the loop
    axes = tuple(data.draw(st.lists(st.integers(0, a.ndim - 1), min_size=1, max_size=a.ndim, unique=True)))
    close_to_numpy(sum_axes(a, axes, keepdims), a, axes, keepdims)


def test_integers_and_empty_axes_are_numpys_exactly():
    a = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(sum_axes(a, (1,), True), a.sum(axis=1, keepdims=True))
    f = np.ones((2, 3), np.float32)
    assert sum_axes(f, (), False).shape == (2, 3)


def test_trailing_axes_and_broadcast_rows_take_the_loop(monkeypatch):
    calls = []
    real = cpu_module.sum_rows
    monkeypatch.setattr(cpu_module, "sum_rows", lambda rows: (calls.append(rows.shape), real(rows))[1])
    kernels.set_kernels("auto")  # clears the registry's resolved table so it sees the patched function
    try:
        kernels.registry._resolved_host.clear()
        a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        close_to_numpy(sum_axes(a, (2,), True), a, (2,), True)
        close_to_numpy(sum_axes(a, (1, 2), False), a, (1, 2), False)
        close_to_numpy(sum_axes(a, (0,), False), a, (0,), False)  # leading axis: NumPy's own
        row = np.broadcast_to(np.float32([[1.5], [2.5]]), (2, 7))  # a stride-0 gradient view
        close_to_numpy(sum_axes(row, (1,), True), row, (1,), True)
    finally:
        kernels.registry._resolved_host.clear()
    assert calls == [(6, 4), (2, 12), (2, 7)]


def test_reference_mode_is_numpy_bit_for_bit():
    a = np.random.default_rng(0).standard_normal((50, 333)).astype(np.float32)
    mode = kernels.get_mode()
    tg.set_kernels("reference")
    try:
        np.testing.assert_array_equal(sum_axes(a, (1,), False), a.sum(axis=1))
    finally:
        tg.set_kernels(mode)


def test_float32_rows_are_summed_in_float64():
    """Closer to the exact sum than NumPy's float32 pairwise sum: only the final rounding remains."""
    a = np.random.default_rng(1).standard_normal((64, 4096)).astype(np.float32)
    exact = np.array([math.fsum(row) for row in a.astype(np.float64)])
    ours, numpy_sum = cpu.sum_rows(a), reference.sum_rows(a)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, exact.astype(np.float32))  # float64 partial sums lose nothing here
    assert np.abs(ours - exact).max() <= np.abs(numpy_sum - exact).max()


def test_sum_rows_propagates_nan_and_inf_like_numpy():
    a = np.array([[1, np.nan, 2], [np.inf, 1, 0], [np.inf, -np.inf, 0], [0, 0, 0]], np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf
        np.testing.assert_array_equal(cpu.sum_rows(a), reference.sum_rows(a))
    assert cpu.sum_rows(np.zeros((3, 0), np.float32)).tolist() == [0, 0, 0]
