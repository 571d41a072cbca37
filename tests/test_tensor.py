"""Tensor construction, dtype policy, factories, seeding, conversions and error messages."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.autograd import Function


@pytest.mark.parametrize("data,dtype", [
    (1.5, np.float32), ([1.0, 2.0], np.float32), ([[1, 2]], np.int64), (3, np.int64), (True, np.bool_),
    (np.zeros(2, dtype=np.float64), np.float64), (np.zeros(2, dtype=np.int32), np.int32),
    (np.float64(2.0), np.float64),
])
def test_dtype_policy(data, dtype):
    assert tg.Tensor(data).dtype == dtype
    assert tg.tensor(data).dtype == dtype


@pytest.mark.parametrize("spec", ["float64", np.float64, np.dtype("float64"), "double"])
def test_dtype_override(spec):
    assert tg.Tensor([1, 2], dtype=spec).dtype == np.float64


def test_unknown_dtype_is_clear():
    with pytest.raises(TypeError, match="unknown dtype 'float13'"):
        tg.Tensor([1.0], dtype="float13")


def test_requires_grad_on_integer_tensor_raises():
    with pytest.raises(TypeError, match="floating-point tensor, but this one is int64"):
        tg.Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        tg.arange(3, requires_grad=True)


def test_attributes():
    x = tg.Tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float32 and x.device == "cpu"
    assert x.is_leaf and x.grad is None and isinstance(x.data, np.ndarray)
    y = x * 2.0
    assert not y.is_leaf and y.requires_grad


def test_numpy_is_a_copy_and_item_detach():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    n = x.numpy()
    n[0] = 100
    assert x.data[0] == 1.0
    assert tg.Tensor([[4.0]]).item() == 4.0
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf


def test_python_scalars_keep_float32():
    x = tg.Tensor([1.0, 2.0])
    for y in (x + 1, x * 2.5, 3 - x, 1.0 / x, x ** 2, 2 ** x, x / 3):
        assert y.dtype == np.float32, y


def test_reverse_operators_with_numpy_left_operand():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = np.float32(3.0) * x
    assert isinstance(y, tg.Tensor)
    z = np.array([1.0, 1.0], dtype=np.float32) + x
    assert isinstance(z, tg.Tensor)


def test_comparisons_give_bool_tensors_without_grad():
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [(x < 2, [1, 0, 0]), (x <= 2, [1, 1, 0]), (x > 2, [0, 0, 1]),
                             (x >= 2, [0, 1, 1]), (x == 2, [0, 1, 0]), (x != 2, [1, 0, 1])]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.numpy(), np.array(expected, dtype=bool))
    assert {x: 1}[x] == 1  # still hashable by identity


@pytest.mark.parametrize("factory", [tg.zeros, tg.ones, tg.randn, tg.rand])
def test_factories_shapes_dtypes(factory):
    assert factory(2, 3).shape == (2, 3)
    assert factory((2, 3)).shape == (2, 3)
    assert factory(4).dtype == np.float32
    assert factory(4, dtype="float64").dtype == np.float64
    assert factory(2, requires_grad=True).requires_grad


def test_arange_eye():
    assert tg.arange(5).dtype == np.int64
    np.testing.assert_array_equal(tg.arange(1, 7, 2).numpy(), [1, 3, 5])
    assert tg.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_array_equal(tg.eye(3).numpy(), np.eye(3))
    assert tg.eye(2, 3).shape == (2, 3)


def test_manual_seed_reproduces_random_tensors():
    tg.manual_seed(123)
    a, b = tg.randn(5).numpy(), tg.rand(5).numpy()
    tg.manual_seed(123)
    np.testing.assert_array_equal(a, tg.randn(5).numpy())
    np.testing.assert_array_equal(b, tg.rand(5).numpy())
    tg.manual_seed(124)
    assert not np.array_equal(a, tg.randn(5).numpy())
    with pytest.raises(TypeError, match="int"):
        tg.manual_seed(1.5)


def test_rng_state_round_trip():
    tg.manual_seed(5)
    state = tg.get_rng_state()
    first = tg.randn(4).numpy()
    tg.set_rng_state(state)
    np.testing.assert_array_equal(first, tg.randn(4).numpy())


def test_reshape_transpose_arguments():
    x = tg.arange(6).float()
    assert x.reshape(2, 3).shape == (2, 3) and x.reshape((3, 2)).shape == (3, 2)
    y = tg.zeros(2, 3, 4)
    assert y.transpose(0, 2).shape == (4, 3, 2)  # torch's meaning: swap two dims
    assert y.permute(1, 0, 2).shape == (3, 2, 4)
    assert y.permute((2, 0, 1)).shape == (4, 2, 3)
    assert y.T.shape == (4, 3, 2)


def test_functional_forms_match_methods():
    x = tg.Tensor([[0.5, -1.0], [2.0, 0.1]])
    for name in ("exp", "relu", "sigmoid", "tanh", "abs", "softmax", "log_softmax"):
        np.testing.assert_array_equal(getattr(tg, name)(x).numpy(), getattr(x, name)().numpy())
    np.testing.assert_array_equal(tg.sum(x, axis=0).numpy(), x.sum(axis=0).numpy())
    np.testing.assert_array_equal(tg.matmul(x, x).numpy(), (x @ x).numpy())


# ---- errors -----------------------------------------------------------------

def test_matmul_shape_mismatch_names_op_and_shapes():
    with pytest.raises(tg.ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        tg.zeros(2, 3) @ tg.zeros(4, 5)
    with pytest.raises(tg.ShapeError, match=r"matmul.*\(3,\)"):
        tg.zeros(3) @ tg.Tensor(2.0)


def test_broadcast_mismatch_names_op_and_shapes():
    with pytest.raises(tg.ShapeError, match=r"Add: .*shape \(2, 3\) float32, shape \(4,\) float32"):
        tg.zeros(2, 3) + tg.zeros(4)
    with pytest.raises(tg.ShapeError, match="Mul"):
        tg.zeros(2, 3) * tg.zeros(2)


def test_reshape_and_axis_errors():
    with pytest.raises(tg.ShapeError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        tg.zeros(2, 3).reshape(4)
    with pytest.raises(IndexError, match="dim 2 is out of range"):  # torch raises IndexError here
        tg.zeros(2, 3).sum(axis=2)
    with pytest.raises(IndexError, match="softmax: dim 3"):
        tg.zeros(2, 3).softmax(3)
    with pytest.raises(tg.ShapeError, match="permute"):
        tg.zeros(2, 3).permute(0, 0)
    with pytest.raises(IndexError, match=r"index 5 is out of bounds.*shape \(2, 3\)"):  # IndexError, as torch
        tg.zeros(2, 3)[5]


def test_mixing_devices_names_both(monkeypatch):
    """Simulated without a GPU: an array type the device check sees as 'cuda'."""
    import tinygrad_opt.autograd as autograd

    class OnOtherDevice(np.ndarray):
        pass

    real = autograd.device_of
    monkeypatch.setattr(autograd, "device_of", lambda a: "cuda" if isinstance(a, OnOtherDevice) else real(a))
    a = tg.zeros(3)
    b = tg.Tensor._make(np.zeros(3, dtype=np.float32).view(OnOtherDevice), False)
    with pytest.raises(tg.DeviceError, match=r"Add: inputs are on different devices \(cpu, cuda\)"):
        a + b


def test_cuda_request_without_cuda_is_clear():
    if tg.cuda_is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(RuntimeError, match="pip install"):
        tg.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        tg.zeros(2).cuda()
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tg.zeros(2, device="tpu")


def test_to_same_device_returns_self():
    x = tg.zeros(2)
    assert x.to("cpu") is x and x.cpu() is x


def test_function_subclass_without_grad_records_nothing():
    class Double(Function):
        """y = 2a.   dL/da = 2g."""

        @staticmethod
        def forward(ctx, a):
            return 2 * a

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    y = Double.apply(tg.Tensor([1.0]))
    assert y.is_leaf and not y.requires_grad
    x = tg.Tensor([1.0], requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.item() == 2.0
