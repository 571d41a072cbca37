"""Differences a differential sweep against torch 2.13 found (reductions' dtype=, empty tensors, bool
inputs, NaN maxima); each test compares with torch on the same input."""
import numpy as np
import pytest

import tinygrad_opt as tg

torch = pytest.importorskip("torch")


def same(ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12, atol=0)


INTS = np.array([[3, -5, 2], [0, 7, -1]])


@pytest.mark.parametrize("data", [INTS, INTS > 0, INTS.astype(np.float32)])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_and_mean_take_dtype_and_cast_first(name, data):
    for kwargs in ({}, {"dim": 1}, {"dim": (0, 1), "keepdim": True}):
        ours = getattr(tg.tensor(data), name)(dtype=tg.float64, **kwargs)
        same(ours, getattr(torch.tensor(data), name)(dtype=torch.float64, **kwargs))
    same(getattr(tg, name)(tg.tensor(data), 0, dtype=tg.float64), getattr(torch, name)(torch.tensor(data), 0,
                                                                                       dtype=torch.float64))


def test_sum_dtype_keeps_the_gradient_flowing_through_the_cast():
    data = np.array([[0.5, -1.5], [2.0, 3.0]], np.float32)
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    (x.sum(dim=0, dtype=tg.float64) ** 2).sum().backward()
    (t.sum(dim=0, dtype=torch.float64) ** 2).sum().backward()
    same(x.grad, t.grad)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scans_take_dtype(name):
    for data in (INTS, INTS > 0, INTS.astype(np.float32)):
        same(getattr(tg.tensor(data), name)(1, dtype=tg.float64),
             getattr(torch.tensor(data), name)(1, dtype=torch.float64))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_takes_dtype(name):
    data = np.array([[0.5, -1.5, 2.0]], np.float32)
    same(getattr(tg.tensor(data), name)(-1, dtype=tg.float64), getattr(torch.tensor(data), name)(-1, dtype=torch.float64))
    same(getattr(tg, name)(tg.tensor(data), 1, dtype=tg.float64),
         getattr(torch, name)(torch.tensor(data), 1, dtype=torch.float64))


@pytest.mark.parametrize("kwargs", [{}, {"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}])
def test_prod_of_an_empty_tensor_and_its_gradient(kwargs):
    data = np.zeros((0, 3))
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, u = x.prod(**kwargs), t.prod(**kwargs)
    same(y, u)
    y.sum().backward()
    u.sum().backward()
    same(x.grad, t.grad)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_extremes_of_an_empty_tensor_over_a_dim_with_elements_are_empty(name):
    data = np.zeros((0, 3), np.float32)
    for kwargs in ({"dim": 1}, {"dim": -1, "keepdim": True}):
        ours, theirs = getattr(tg.tensor(data), name)(**kwargs), getattr(torch.tensor(data), name)(**kwargs)
        if name in ("max", "min"):
            same(ours.values, theirs.values)
            same(ours.indices, theirs.indices)
        else:
            same(ours, theirs)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_extremes_over_a_zero_length_dim_raise_index_error_as_torch(name):
    x, t = tg.zeros(0, 3), torch.zeros(0, 3)
    with pytest.raises(IndexError):
        getattr(t, name)(dim=0)
    with pytest.raises(IndexError, match=f"{name}.*dim 0"):
        getattr(x, name)(dim=0)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min"])
def test_extremes_of_an_empty_tensor_over_all_dims_raise_runtime_error_as_torch(name):
    with pytest.raises(RuntimeError):
        getattr(torch.zeros(0, 3), name)()
    with pytest.raises(RuntimeError, match=f"{name}.*empty"):
        getattr(tg.zeros(0, 3), name)()


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_refuses_bool_but_max_with_a_dim_takes_it(name):
    data = INTS > 0
    with pytest.raises(RuntimeError):
        getattr(torch.tensor(data), name)()
    with pytest.raises(TypeError, match=f"{name}.*bool"):
        getattr(tg.tensor(data), name)()
    ours, theirs = tg.tensor(data).max(dim=1), torch.tensor(data).max(dim=1)
    same(ours.values, theirs.values)
    same(ours.indices, theirs.indices)


def test_sign_of_a_bool_tensor_is_itself():
    same(tg.tensor(INTS > 0).sign(), torch.tensor(INTS > 0).sign())


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_a_nan_maximum_has_torchs_gradient(name):
    """max() sends it to the NaN; amax's tie count is zero there, so torch's gradient is NaN everywhere."""
    data = np.array([0.0, np.nan, 3.0, -1.0])
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    getattr(x, name)().backward()
    getattr(t, name)().backward()
    same(x.grad, t.grad)
