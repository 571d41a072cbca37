"""Dtype casts as torch's: floating casts are differentiable, integer casts cut the graph, same dtype is self."""
import numpy as np
import pytest
import torch

import tinygrad_opt as tg

CASTS = ["float", "double", "half", "long", "int", "bool"]


@pytest.mark.parametrize("cast", CASTS)
def test_cast_methods_match_torch_values_and_dtypes(cast):
    values = np.array([-1.5, 0.0, 2.25, 3.0], dtype=np.float32)
    ours = getattr(tg.Tensor(values), cast)()
    theirs = getattr(torch.from_numpy(values), cast)()
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_issue_example_mixed_precision_product_gets_the_full_gradient():
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x.double()).sum().backward()
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (tx * tx.double()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    assert x.grad.dtype == tg.float32


@pytest.mark.parametrize("convert", [
    lambda t, dt: t.to(dt), lambda t, dt: t.type(dt), lambda t, dt: t.to("cpu", dt), lambda t, dt: t.to(dtype=dt),
])
def test_floating_casts_record_and_route_the_gradient_back_in_the_input_dtype(convert):
    x = tg.Tensor([0.5, -1.0], requires_grad=True)
    y = convert(x, tg.float64)
    assert y.dtype == tg.float64 and y.requires_grad and not y.is_leaf
    (y * y).sum().backward()
    assert x.grad.dtype == tg.float32
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -2.0])


def test_integer_and_bool_casts_cut_the_graph_as_torch():
    x = tg.Tensor([0.5, -1.0], requires_grad=True)
    for cast in ("long", "int", "bool"):
        y = getattr(x, cast)()
        assert not y.requires_grad and y.grad_fn is None
        assert getattr(torch.tensor([0.5], requires_grad=True), cast)().requires_grad is False


def test_same_dtype_cast_returns_self_as_torch():
    x = tg.Tensor([1.0], requires_grad=True)
    assert x.float() is x and x.to(tg.float32) is x and x.to("cpu") is x and x.type(tg.float32) is x
    assert x.to(tg.float32, copy=True) is not x


def test_to_other_tensor_takes_its_dtype_and_device():
    x = tg.Tensor([1.5, 2.5])
    assert x.to(tg.Tensor([1], dtype=tg.int32)).dtype == tg.int32
    assert x.to(tg.Tensor([1.0], dtype=tg.float64)).dtype == tg.float64


def test_type_without_argument_gives_torchs_type_string():
    for dtype in ("float32", "float64", "int64", "int32", "bool", "uint8"):
        values = np.zeros(2, dtype=dtype)
        assert tg.Tensor(values).type() == torch.from_numpy(values).type()
    assert tg.Tensor([1, 2]).type("torch.DoubleTensor").dtype == tg.float64


def test_bad_cast_arguments_are_clear_errors():
    with pytest.raises(TypeError, match="unknown dtype"):
        tg.Tensor([1.0]).to("float128x")
    with pytest.raises(TypeError, match="unexpected keyword"):
        tg.Tensor([1.0]).to(dtyp=tg.float64)


def test_clone_copies_memory_and_passes_the_gradient():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert y.data is not x.data and not np.shares_memory(y.data, x.data)
    (y * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_shape_error_is_value_error_and_runtime_error():
    assert issubclass(tg.ShapeError, ValueError) and issubclass(tg.ShapeError, RuntimeError)
    with pytest.raises(RuntimeError):
        tg.ones(2, 3) + tg.ones(4)


def test_integer_softmax_is_a_type_error_not_numpys():
    try:
        tg.Tensor([1, 2]).softmax()
    except TypeError as err:
        assert type(err).__module__.split(".")[0] != "numpy", type(err)
    else:  # promoted to the default float: also fine, as long as nothing leaks
        pass
