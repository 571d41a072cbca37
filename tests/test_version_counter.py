"""Version counters as torch's: in-place changes of a value saved for backward raise, never a wrong gradient."""
import numpy as np
import pytest
import torch

import tinygrad_opt as tg
from tinygrad_opt import nn, optim


def test_each_in_place_change_bumps_the_version_shared_by_aliases():
    x, tx = tg.zeros(3), torch.zeros(3)
    assert x._version == tx._version == 0
    for t in (x, tx):
        t.add_(1)
        t.mul_(2)
        t[0] = 5.0
    assert x._version == tx._version == 3
    alias, talias = x.detach(), tx.detach()
    view, tview = x[1:], tx[1:]
    alias.add_(1)
    talias.add_(1)
    view.zero_()
    tview.zero_()
    assert x._version == alias._version == view._version == tx._version == 5
    np.testing.assert_allclose(x.numpy(), tx.numpy())


def test_changed_saved_output_raises_naming_the_op():
    x, tx = tg.Tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    y, ty = x.exp(), tx.exp()
    y.add_(1)
    ty.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation: output 0 of Exp is at version 1; "
                                           "expected version 0"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


def test_changed_saved_input_raises_but_an_unsaved_one_does_not():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    c = tg.Tensor([3.0, 4.0])
    y = x * c  # Mul saves c
    c.add_(1)
    with pytest.raises(RuntimeError, match="input 1 of Mul is at version 1; expected version 0"):
        y.sum().backward()
    x.grad = None
    z = x + c  # Add saves nothing: changing c afterwards is harmless, as in torch
    c.add_(1)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_in_place_on_a_non_leaf_whose_old_value_is_needed():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = h * h  # saves h
    h += 1
    with pytest.raises(RuntimeError, match="input 0 of Mul"):
        y.sum().backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    th = tx * 2
    ty = th * th
    th += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


def test_optimizer_step_between_two_backwards_raises_as_torch():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))  # layer 2's weight is saved for layer 1
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = model(tg.randn(4, 3)).sum()
    loss.backward(retain_graph=True)
    before = model[2].weight._version
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    tloss = tmodel(torch.randn(4, 3)).sum()
    tloss.backward(retain_graph=True)
    tbefore = tmodel[2].weight._version
    topt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()
    assert model[2].weight._version - before == tmodel[2].weight._version - tbefore == 1  # one bump per step


def test_no_grad_update_of_a_parameter_between_forward_and_backward_raises():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with tg.no_grad():
        w -= 0.5
    with pytest.raises(RuntimeError, match="of Mul is at version 1; expected version 0"):
        loss.backward()


def test_a_fresh_forward_after_the_change_is_fine():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        w.mul_(3)
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 12.0])
