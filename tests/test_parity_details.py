"""Small torch 2.13 semantics, each compared with torch itself: integer division by zero, the result
dtypes of integer reductions, hooks across in-place ops, create_graph's refusal."""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import tinygrad_opt as tg

INTEGER_DTYPES = ["uint8", "int8", "int16", "int32", "int64", "bool"]


def _both(dtype: str, values):
    return tg.tensor(values).to(getattr(tg, dtype)), torch.tensor(values).to(getattr(torch, dtype))


def _torch_outcome(fn):
    try:
        return fn()
    except RuntimeError as err:
        return err


@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
@pytest.mark.parametrize("divisor", [0, "tensor0", "mixed"])
def test_integer_division_by_zero_raises_as_torch(op, divisor):
    a_tg, a_torch = _both("int64", [5, -3, 0])
    if divisor == "tensor0":
        b_tg, b_torch = tg.tensor(0), torch.tensor(0)
    elif divisor == "mixed":
        b_tg, b_torch = _both("int64", [2, 0, 1])
    else:
        b_tg, b_torch = 0, 0
    expected = _torch_outcome(lambda: getattr(torch, op)(a_torch, b_torch))
    assert isinstance(expected, RuntimeError) and "ZeroDivisionError" in str(expected)
    with pytest.raises(RuntimeError, match="ZeroDivisionError") as caught:
        getattr(tg, op)(a_tg, b_tg)
    assert op in str(caught.value)
    symbol = {"floor_divide": lambda x, y: x // y, "remainder": lambda x, y: x % y}[op]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        symbol(a_tg, b_tg)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):  # the reflected form: 5 // t
        symbol(7, tg.tensor([1, 0]))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32"])
def test_narrow_integer_division_by_zero_raises(dtype):
    a_tg, a_torch = _both(dtype, [5, 3])
    b_tg, b_torch = _both(dtype, [0, 1])
    assert isinstance(_torch_outcome(lambda: a_torch // b_torch), RuntimeError)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        a_tg // b_tg


@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
def test_floating_division_by_zero_gives_torchs_values_without_warnings(op):
    a_tg, a_torch = _both("float32", [5.0, -3.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = getattr(tg, op)(a_tg, 0).numpy()
        integer_by_float = getattr(tg, op)(tg.tensor([5, 0]), 0.0).numpy()
    np.testing.assert_array_equal(got, getattr(torch, op)(a_torch, 0).numpy())
    np.testing.assert_array_equal(integer_by_float, getattr(torch, op)(torch.tensor([5, 0]), 0.0).numpy())


@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
def test_bool_division_is_not_implemented_as_in_torch(op):
    a_tg, a_torch = _both("bool", [True, False])
    b_tg, b_torch = _both("bool", [True, True])
    with pytest.raises(NotImplementedError, match="Bool"):
        getattr(torch, op)(a_torch, b_torch)
    with pytest.raises(NotImplementedError, match=f"{op}: not implemented for 'Bool'"):
        getattr(tg, op)(a_tg, b_tg)
    np.testing.assert_array_equal((a_tg // 2).numpy(), (a_torch // 2).numpy())  # bool by int: int64, as torch


def test_integer_division_by_nonzero_still_works():
    a_tg, a_torch = _both("int64", [7, -7, 0])
    b_tg, b_torch = _both("int64", [2, 2, -3])
    np.testing.assert_array_equal((a_tg // b_tg).numpy(), (a_torch // b_torch).numpy())
    np.testing.assert_array_equal((a_tg % b_tg).numpy(), (a_torch % b_torch).numpy())


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
@pytest.mark.parametrize("reduction", ["sum", "prod", "sum0", "prod1", "cumsum", "cumprod", "all", "any",
                                       "all0", "any1"])
def test_integer_reductions_have_torchs_result_dtype_and_values(dtype, reduction):
    values = [[1, 0, 1], [1, 1, 1]] if dtype == "bool" else [[3, 0, 2], [1, 5, 7]]
    a_tg, a_torch = _both(dtype, values)
    name, dim = reduction.rstrip("01"), (int(reduction[-1]) if reduction[-1].isdigit() else None)
    if name in ("cumsum", "cumprod"):
        dim = 1
    args = () if dim is None else (dim,)
    got, expected = getattr(a_tg, name)(*args), getattr(a_torch, name)(*args)
    assert str(got.dtype) == str(expected.dtype).replace("torch.", ""), (got.dtype, expected.dtype)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_uint8_sum_does_not_wrap_or_go_unsigned():
    a = tg.full((300,), 255, dtype=tg.uint8)
    total = a.sum()
    assert total.dtype == tg.int64 and total.item() == torch.full((300,), 255, dtype=torch.uint8).sum().item()


def _hook_story(lib):
    """retain_grad, an in-place op, a hook on the middle version, another in-place op, backward."""
    a = lib.ones(3, requires_grad=True)
    b = a * 2
    b.retain_grad()
    seen = []
    b.register_hook(lambda g: seen.append(g.numpy().copy()))  # on the first version of b
    b.mul_(3)
    b.register_hook(lambda g: g * 2)  # on the second version: doubles what flows to it
    b.add_(1)
    (b * 5).sum().backward()
    return b.grad.numpy(), a.grad.numpy(), seen


def test_hooks_across_in_place_ops_as_torch():
    """torch: register_hook hooks stay with the version they were registered on (they see the gradient of
    that value); retain_grad follows the tensor to its newest version."""
    got, expected = _hook_story(tg), _hook_story(torch)
    np.testing.assert_array_equal(got[0], expected[0])  # b.grad: the newest version's gradient (5)
    np.testing.assert_array_equal(got[1], expected[1])  # a.grad: through the doubling hook (60)
    assert len(got[2]) == len(expected[2]) == 1
    np.testing.assert_array_equal(got[2][0], expected[2][0])


@pytest.mark.parametrize("lib", [tg, torch], ids=["tinygrad_opt", "torch"])
def test_retain_grad_stores_the_gradient_after_the_other_hooks(lib):
    a = lib.ones(3, requires_grad=True)
    b = a * 2
    b.retain_grad()
    b.register_hook(lambda g: g * 2)  # registered after retain_grad, still applied before it
    b.sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 4.0, 4.0])


def test_create_graph_is_refused_with_a_message_naming_it():
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"backward: create_graph=True .*Leave create_graph=False"):
        (x * 2).sum().backward(create_graph=True)
    assert x.grad is None  # refused before any gradient was accumulated
    with pytest.raises(NotImplementedError, match=r"autograd.grad: create_graph=True"):
        tg.autograd.grad((x * 2).sum(), x, create_graph=True)
    (x * 2).sum().backward(retain_graph=None, create_graph=False)  # torch's defaults are accepted
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_readme_lists_the_create_graph_difference():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    differences = readme[readme.index("Differences from PyTorch"):]
    assert "backward(create_graph=True)" in differences and "NotImplementedError" in differences
