"""Dtype promotion of operators and floating ops matches torch.result_type, operand kind by operand kind."""
import itertools

import numpy as np
import pytest
import torch

import tinygrad_opt as tg

DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]
TORCH = {name: getattr(torch, name) for name in DTYPES}
SCALARS = [True, 3, 2.5]


def _pair(dtype: str, zero_dim: bool):
    values = np.array(1 if zero_dim else [1, 2], dtype=dtype)
    return tg.Tensor(values), torch.from_numpy(values.copy())


def _torch_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


OPERATORS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "pow": lambda a, b: a ** b,
}


def _torch_result(op, a, b):
    try:
        return _torch_name(op(a, b).dtype)
    except RuntimeError:  # torch refuses the pair (bool - bool, ...): nothing to compare
        return None


@pytest.mark.parametrize("left,right", list(itertools.product(DTYPES, DTYPES)))
@pytest.mark.parametrize("right_zero_dim", [False, True])
def test_tensor_tensor_operators_promote_as_torch(left, right, right_zero_dim):
    a, ta = _pair(left, zero_dim=False)
    b, tb = _pair(right, zero_dim=right_zero_dim)
    for name, op in OPERATORS.items():
        expected = _torch_result(op, ta, tb)
        if expected is None:
            continue
        assert str(op(a, b).dtype) == expected, (name, left, right, right_zero_dim)
        assert str(op(b, a).dtype) == _torch_result(op, tb, ta), (name, right, left)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", SCALARS)
def test_tensor_scalar_operators_promote_as_torch(dtype, scalar):
    a, ta = _pair(dtype, zero_dim=False)
    for name, op in OPERATORS.items():
        for fn in (op, lambda x, y, op=op: op(y, x)):
            expected = _torch_result(fn, ta, scalar)
            if expected is None:
                continue
            assert str(fn(a, scalar).dtype) == expected, (name, dtype, scalar)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"])
@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "sigmoid", "tanh"])
def test_floating_ops_on_integer_tensors_give_the_default_float(dtype, op):
    values = np.array([1, 2, 3]).astype(dtype)
    ours = getattr(tg.Tensor(values), op)()
    theirs = getattr(torch.from_numpy(values), op)()
    assert str(ours.dtype) == _torch_name(theirs.dtype)
    np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64), rtol=1e-3)


def test_issue_examples():
    assert tg.Tensor([1, 2, 3]).sigmoid().dtype == tg.float32
    np.testing.assert_allclose(tg.Tensor([1, 2, 3]).sigmoid().numpy(), torch.tensor([1, 2, 3]).sigmoid().numpy())
    assert (tg.Tensor([1, 2]) / tg.Tensor([2, 2])).dtype == tg.float32
    assert (tg.Tensor([1, 2]) * 2.5).dtype == tg.float32
    x = tg.Tensor([1.0, 2.0])
    assert (x * tg.Tensor(3.0, dtype=tg.float64)).dtype == tg.float32  # a 0-d tensor does not promote
    assert (x * np.float64(3.0)).dtype == tg.float32


def test_default_dtype_governs_python_floats_and_integer_promotion():
    assert tg.get_default_dtype() == tg.float32
    tg.set_default_dtype(tg.float64)
    try:
        assert tg.Tensor([1.5]).dtype == tg.float64
        assert (tg.Tensor([1, 2]) / 2).dtype == tg.float64
        assert tg.Tensor([1, 2]).exp().dtype == tg.float64
        assert tg.zeros(2).dtype == tg.float64
        assert (tg.Tensor([1.0], dtype=tg.float32) * 2.5).dtype == tg.float32
    finally:
        tg.set_default_dtype(tg.float32)
    assert tg.Tensor([1.5]).dtype == tg.float32
    with pytest.raises(TypeError, match="floating"):
        tg.set_default_dtype(tg.int64)


def test_dtype_names_are_numpy_dtypes():
    assert tg.float32 == np.float32 and tg.float64 == "float64" and tg.int64 == np.int64 and tg.bool == np.bool_
    assert tg.Tensor([1, 2], dtype=tg.int32).dtype == np.int32
    assert tg.half == tg.float16 and tg.long == tg.int64 and tg.double == tg.float64


def test_mixed_float_gradients_come_back_in_each_inputs_dtype():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([3.0, 4.0], dtype=tg.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == tg.float32 and b.grad.dtype == tg.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 2.0])


def test_remainder_and_floor_divide_as_torch():
    values = [-7.5, -2.0, 3.25, 8.0]
    for divisor in (2, -3.0, 2.5):
        ours = tg.Tensor(values) % divisor
        np.testing.assert_allclose(ours.numpy(), (torch.tensor(values) % divisor).numpy(), rtol=1e-6)
        np.testing.assert_allclose((tg.Tensor(values) // divisor).numpy(), (torch.tensor(values) // divisor).numpy())
    assert (tg.Tensor([7, -7]) // 2).tolist() == (torch.tensor([7, -7]) // 2).tolist()
    assert (tg.Tensor([7, -7]) % 3).dtype == tg.int64
    a = tg.Tensor([5.5, -3.0], requires_grad=True)
    b = tg.Tensor([2.0, 4.0], requires_grad=True)
    (a % b).sum().backward()
    ta = torch.tensor([5.5, -3.0], requires_grad=True)
    tb = torch.tensor([2.0, 4.0], requires_grad=True)
    (ta % tb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())


def test_matmul_refuses_mixed_dtypes_as_torch():
    with pytest.raises(TypeError, match="same dtype"):
        tg.ones(2, 2) @ tg.ones(2, 2, dtype=tg.float64)


def test_comparisons_promote_int_against_float():
    assert (tg.Tensor([1, 2, 3]) > 1.5).tolist() == [False, True, True]
    assert (tg.Tensor([1, 2]) == tg.Tensor([1.0, 2.5])).tolist() == [True, False]
