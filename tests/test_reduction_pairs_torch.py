"""aminmax, var_mean, std_mean and hardshrink as a method and function, against torch 2.13: values, shapes,
return types, errors and the gradients of sum(y * w) (tests/weighted_loss.py)."""
import numpy as np
import pytest

import tinygrad_opt as tg
from weighted_loss import weighted_sum

torch = pytest.importorskip("torch")

DATA = np.array([[1.0, 3.0, 3.0, -0.5], [2.0, 2.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0]])


def _backprop(outputs, library):
    total = None
    for y in outputs:
        part = weighted_sum(y, library)
        total = part if total is None else total + part
    total.backward()


@pytest.mark.parametrize("options", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": -1, "keepdim": False}])
def test_aminmax_matches_torch_ties_included(options):
    ours, theirs = tg.tensor(DATA, requires_grad=True), torch.tensor(DATA, requires_grad=True)
    mine, expected = ours.aminmax(**options), torch.aminmax(theirs, **options)
    assert type(mine).__name__ == "aminmax" and mine._fields == ("min", "max")
    for a, b in zip(mine, expected):
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    _backprop(mine, tg)
    _backprop(expected, torch)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-15)
    np.testing.assert_array_equal(tg.aminmax(tg.tensor(DATA), **options).max.numpy(), expected.max.detach().numpy())


def test_aminmax_takes_bool_and_refuses_empty_dims_as_torch():
    bools = np.array([True, False, True])
    assert [v.item() for v in tg.tensor(bools).aminmax()] == [v.item() for v in torch.tensor(bools).aminmax()]
    with pytest.raises(RuntimeError):
        torch.zeros(0).aminmax()
    with pytest.raises(RuntimeError, match="aminmax"):
        tg.zeros(0).aminmax()
    with pytest.raises(RuntimeError, match="aminmax"):
        tg.zeros(2, 0).aminmax(dim=1)


@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
@pytest.mark.parametrize("args, options", [((), {}), ((1,), {}), ((1,), {"keepdim": True}), ((0, False), {}),
                                           ((), {"dim": (0, 1), "correction": 0}), ((), {"unbiased": False})])
def test_var_mean_and_std_mean_match_torch(name, args, options):
    ours, theirs = tg.tensor(DATA, requires_grad=True), torch.tensor(DATA, requires_grad=True)
    mine, expected = getattr(tg, name)(ours, *args, **options), getattr(torch, name)(theirs, *args, **options)
    assert type(mine) is tuple and len(mine) == 2
    for a, b in zip(mine, expected):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-14)
    _backprop(mine, tg)
    _backprop(expected, torch)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_var_mean_refuses_integers_with_an_error_torch_code_catches():
    with pytest.raises(RuntimeError):
        torch.var_mean(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="var"):
        tg.var_mean(tg.tensor([1, 2]))
    with pytest.raises(TypeError):
        tg.tensor([1, 2]).std()


def test_hardshrink_method_and_function_match_torch():
    x = np.array([-1.0, -0.5, -0.2, 0.0, 0.4, 0.6, np.nan])
    for call in (lambda t: t.hardshrink(), lambda t: t.hardshrink(0.3)):
        np.testing.assert_array_equal(call(tg.tensor(x)).numpy(), call(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(tg.hardshrink(tg.tensor(x), 0.3).numpy(), torch.hardshrink(torch.tensor(x), 0.3))
    with pytest.raises(TypeError):
        tg.tensor([1, 2]).hardshrink()
