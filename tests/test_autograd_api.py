"""tg.autograd.grad, register_hook, retain_grad, is_leaf and grad_fn as torch's."""
import numpy as np
import pytest
import torch

import tinygrad_opt as tg


def test_autograd_grad_returns_a_tuple_of_tensors_and_leaves_dot_grad_alone():
    x, tx = tg.Tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    w, tw = tg.Tensor([3.0, -1.0], requires_grad=True), torch.tensor([3.0, -1.0], requires_grad=True)
    ours = tg.autograd.grad((x * x * w).sum(), [x, w])
    theirs = torch.autograd.grad((tx * tx * tw).sum(), [tx, tw])
    assert isinstance(ours, tuple) and all(isinstance(g, tg.Tensor) for g in ours)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy())
    assert x.grad is None and w.grad is None


def test_autograd_grad_with_non_leaf_inputs_grad_outputs_and_several_outputs():
    x, tx = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True), torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h, th = x * 2, tx * 2
    y1, ty1 = h * h, th * th
    y2, ty2 = h.sum() * 3, th.sum() * 3
    seed = [1.0, 0.5, -1.0]
    ours = tg.autograd.grad([y1, y2], [h, x], grad_outputs=[tg.Tensor(seed), None])
    theirs = torch.autograd.grad([ty1, ty2], [th, tx], grad_outputs=[torch.tensor(seed), None])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy())


def test_autograd_grad_unused_input():
    x = tg.Tensor([1.0], requires_grad=True)
    unused = tg.Tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not used.*allow_unused=True"):
        tg.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = tg.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None and gx.tolist() == [2.0]
    _, zeros = tg.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True, materialize_grads=True)
    assert zeros.tolist() == [0.0]
    with pytest.raises(NotImplementedError, match="create_graph"):
        tg.autograd.grad((x * 2).sum(), [x], create_graph=True)


def test_retain_graph_default_frees_the_graph_as_torch():
    x = tg.Tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    tg.autograd.grad(y, [x])
    with pytest.raises(tg.GraphFreedError):
        tg.autograd.grad(y, [x])


def test_hooks_see_and_replace_gradients_as_torch():
    seen, tseen = [], []
    x, tx = tg.Tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    h, th = x * 3, tx * 3
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    th.register_hook(lambda g: tseen.append(g.numpy().copy()))
    h.register_hook(lambda g: g * 10)  # a returned tensor replaces the gradient
    th.register_hook(lambda g: g * 10)
    handle = x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    tx.register_hook(lambda g: g + 1)
    tx.register_hook(lambda g: tseen.append(g.numpy().copy()))
    (h * h).sum().backward(retain_graph=True)
    (th * th).sum().backward(retain_graph=True)
    for a, b in zip(seen, tseen):
        np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    handle.remove()
    x.grad = None
    (h * h).sum().backward()
    assert x.grad.tolist() == [180.0, 360.0]  # 3 * (10 * 2h), without the removed +1
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tg.zeros(2).register_hook(lambda g: g)


def test_retain_grad_keeps_a_non_leaf_gradient():
    x, tx = tg.Tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    h, th = x * x, tx * tx
    h.retain_grad()
    th.retain_grad()
    assert h.retains_grad and th.retains_grad
    (h * 3).sum().backward()
    (th * 3).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy())
    other = x * 2
    (other * 2).sum().backward()
    assert other.grad is None  # not retained


def test_is_leaf_and_grad_fn():
    x = tg.Tensor([1.0], requires_grad=True)
    assert x.is_leaf and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and type(y.grad_fn).__name__ == "Mul"
    with tg.no_grad():
        z = x * 2
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad
