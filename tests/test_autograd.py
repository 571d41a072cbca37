"""Behaviour of the backward traversal: accumulation, graph freeing, no_grad, depth, memory."""
import gc
import sys
import weakref

import numpy as np
import pytest

import tinygrad_opt as tg


def test_gradients_accumulate_across_backward_calls():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_shared_subexpression_gets_both_contributions():
    x = tg.Tensor(2.0, requires_grad=True)
    y = x * x  # used twice below
    (y + y * x).backward()  # d/dx (x^2 + x^3) = 2x + 3x^2
    assert x.grad.item() == pytest.approx(4 + 12)


def test_retain_graph_allows_second_backward():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_second_backward_through_freed_graph_raises():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * 2.0).sum()
    loss.backward()
    with pytest.raises(tg.GraphFreedError, match="second time.*retain_graph=True"):
        loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]), rtol=1e-6)  # unchanged


def test_backward_on_non_scalar_without_gradient_raises():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\) needs a gradient"):
        (x * 2.0).backward()


def test_backward_with_explicit_gradient():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x * x).backward(gradient=tg.Tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 40.0])
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\)"):
        (x * x).backward(gradient=np.ones(3, dtype=np.float32))


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (tg.Tensor([1.0]) * 2.0).sum().backward()


def test_no_grad_context_and_decorator():
    x = tg.Tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf

    @tg.no_grad()
    def double(t):
        return t * 2.0

    assert not double(x).requires_grad
    assert (x * 2.0).requires_grad  # recording is back on afterwards
    with tg.no_grad():
        with tg.enable_grad():
            assert (x * 2.0).requires_grad


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            1 / 0
    assert tg.is_grad_enabled()


def test_chain_of_ten_thousand_ops_needs_no_recursion():
    limit = sys.getrecursionlimit()
    x = tg.Tensor([1.0], requires_grad=True, dtype="float64")
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    assert sys.getrecursionlimit() == limit
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_intermediates_are_freed_after_backward():
    x = tg.Tensor(np.ones((100, 100)), requires_grad=True)
    hidden = (x * 2.0).exp()
    probe = weakref.ref(hidden.data)  # the array: Mul's backward needs it, so the graph saves it
    loss = (hidden * 3.0).sum()
    del hidden
    gc.collect()
    assert probe() is not None  # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert probe() is None, "the intermediate tensor survived backward: the graph was not freed"


def test_retained_graph_keeps_intermediates():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    hidden = x * 2.0
    probe = weakref.ref(hidden.data)
    loss = (hidden * 3.0).sum()
    del hidden
    loss.backward(retain_graph=True)
    gc.collect()
    assert probe() is not None


def test_graph_does_not_keep_intermediates_no_backward_needs():
    """ReLU saves its output, not its input: the pre-activation's array dies with its Tensor, as in PyTorch."""
    x = tg.Tensor(np.ones((50, 50)), requires_grad=True)
    pre = x * 2.0
    probe = weakref.ref(pre.data)
    y = pre.relu()
    del pre
    gc.collect()
    assert probe() is None, "the graph kept an array that no backward formula reads"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((50, 50), 2.0))


def test_leaf_grads_do_not_alias_each_other():
    """Clipping updates .grad in place; two leaves fed by one upstream array must not share it."""
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_user_gradient_is_not_aliased():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    seed = np.ones(2, dtype=np.float32)
    (x + 0.0).backward(seed)
    x.grad.data *= 5
    np.testing.assert_allclose(seed, [1.0, 1.0])


def test_requires_grad_only_on_some_inputs():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([3.0, 4.0])
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


def test_broadcast_gradient_is_unbroadcast():
    a = tg.Tensor(np.ones((3, 1)), requires_grad=True)
    b = tg.Tensor(np.ones((4,)), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy(), 4.0)
    np.testing.assert_allclose(b.grad.numpy(), 3.0)


def test_backward_on_leaf_itself():
    x = tg.Tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_grad_function_leaves_dot_grad_alone():
    from tinygrad_opt.autograd import grad

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (gx,) = grad((x * x).sum(), [x])
    np.testing.assert_allclose(gx, [2.0, 4.0])
    assert x.grad is None


def test_gradient_dtype_follows_the_leaf():
    x = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (x * np.float64(2.0)).sum().backward()
    assert x.grad.dtype == np.float32


def test_graph_dropped_without_backward_is_freed_by_refcount_alone():
    """No reference cycles in the graph: an unused forward frees its saved arrays at once."""
    gc.disable()
    try:
        x = tg.Tensor(np.ones((4, 3), np.float32), requires_grad=True)
        w = tg.Tensor(np.ones((3, 3), np.float32), requires_grad=True)
        y = (x @ w).relu() * 2.0
        saved = y._ctx.inputs[0]._ctx.y  # the array ReLU keeps for its backward
        probe = weakref.ref(saved)
        del saved, y
        assert probe() is None, "the graph kept its saved arrays alive after the last reference went"
    finally:
        gc.enable()
