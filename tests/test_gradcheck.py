"""tg.gradcheck itself: catches wrong gradients, explains them, refuses float32."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.autograd import Function


class WrongSquare(Function):
    """y = a**2 with a deliberately wrong backward (g * a instead of 2 g a)."""

    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return a * a

    @staticmethod
    def backward(ctx, g):
        return g * ctx.a


def test_passes_on_correct_gradient_and_full_jacobian():
    x = tg.Tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True)
    assert x.dtype == np.float64
    assert tg.gradcheck(lambda t: t.softmax(axis=1), (x,))  # non-scalar output: full Jacobian


def test_error_names_input_element_and_values():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda t: WrongSquare.apply(t), (x,))
    message = str(info.value)
    assert "input 0" in message and "element (0,)" in message
    assert "analytical 1" in message and "numerical 2" in message
    assert isinstance(info.value, AssertionError)


def test_raise_exception_false_returns_false():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert tg.gradcheck(lambda t: WrongSquare.apply(t).sum(), (x,), raise_exception=False) is False


def test_refuses_float32_with_advice():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(lambda t: t.sum(), (x,))


def test_only_requires_grad_inputs_are_checked_and_inputs_restored():
    data = np.array([1.0, 2.0])
    x = tg.Tensor(data.copy(), requires_grad=True)
    c = tg.Tensor(np.array([3.0, 4.0]))
    assert tg.gradcheck(lambda a, b: (a * b).sum(), (x, c))
    np.testing.assert_array_equal(x.numpy(), data)
    assert x.grad is None  # gradcheck does not leave gradients behind


def test_needs_some_input_with_grad():
    with pytest.raises(ValueError, match="requires_grad"):
        tg.gradcheck(lambda t: t.sum(), (tg.Tensor(np.ones(2)),))


def test_detects_nan_gradient():
    class NanGrad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1.0

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    x = tg.Tensor(np.array([1.0]), requires_grad=True)
    assert not tg.gradcheck(lambda t: NanGrad.apply(t), (x,), raise_exception=False)
