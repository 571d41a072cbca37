"""The backward traversal's bookkeeping: a chain walked instead of searched (autograd._chain_order), every other
graph by the depth-first search, and the gradients handed to the leaves (_deliver_to_leaves). Gradients are
compared with torch's."""
import numpy as np
import pytest
import torch

import tinygrad_opt as tg
from tinygrad_opt import autograd, nn
from tinygrad_opt.errors import GraphFreedError


def pair(values):
    return tg.Tensor(np.array(values, np.float32), requires_grad=True), torch.tensor(values, requires_grad=True)


def test_a_chain_is_walked_in_the_order_the_search_gives():
    x, _ = pair([[0.5, -1.0, 2.0]])
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    out = (model(x) * model(x).detach()).sum().exp()  # a detached second pass adds no branch
    order = autograd._chain_order(out._ctx)
    assert order is not None and len(order) >= 5
    assert order == autograd._depth_first_order(out._ctx)


def test_a_node_fed_twice_by_one_node_is_a_chain():
    (a, ta) = pair([1.5, -2.0, 0.25])
    y = a.exp()
    out = (y * y).sum()  # Mul's two inputs come from the same node
    assert autograd._chain_order(out._ctx) is not None
    out.backward()
    ty = ta.exp()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("shape", ["diamond", "two_branches"])
def test_a_branching_graph_is_searched(shape):
    (a, ta), (b, tb) = pair([0.3, -0.7]), pair([1.1, 0.4])

    def build(x, y, lib):
        h = x * 2.0
        if shape == "diamond":
            return (h.exp() + h.sin()).sum()
        return (lib.tanh(x) * lib.sigmoid(y)).sum()

    out = build(a, b, tg)
    assert autograd._chain_order(out._ctx) is None
    order = autograd._topological_order(out._ctx)
    position = {node: i for i, node in enumerate(order)}
    for node in order:  # every node after each node that consumes it
        for t in node.inputs:
            if t._ctx is not None:
                assert position[t._ctx] > position[node]
    out.backward()
    build(ta, tb, torch).backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)
    if shape == "two_branches":
        np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-6)


def test_backward_twice_through_a_freed_chain_names_the_op():
    a, _ = pair([1.0, 2.0])
    out = a.exp().sum()
    out.backward()
    with pytest.raises(GraphFreedError, match="at op Sum"):
        out.backward()


def test_the_leaves_get_gradients_of_their_own():
    (a, ta) = pair([1.0, -2.0, 3.0])
    (b, tb) = pair([0.5, 0.5, 0.5])
    out = a + b  # Add hands the same array to both inputs
    out.backward(tg.Tensor(np.ones(3, np.float32)))
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data += 1  # an optimizer's in-place change of one leaf's gradient leaves the other alone
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, np.float32))
    for g in (a.grad, b.grad):
        assert type(g) is tg.Tensor and g.is_leaf and not g.requires_grad and g.grad is None and g.name is None
        g.add_(1.0)  # a plain tensor: its version counter is made on first use
    (a * b).sum().backward()  # accumulates into the existing .grad
    (ta + tb).backward(torch.ones(3))
    (ta * tb).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy() + 1.0, rtol=1e-6)


def test_a_zero_dimensional_leaf_gets_an_array_gradient():
    a = tg.Tensor(np.float32(3.0), requires_grad=True)
    (a * a).backward()
    assert type(a.grad.data) is np.ndarray and a.grad.shape == () and a.grad.item() == 6.0


def test_hooks_and_retain_grad_on_a_chain():
    (a, ta) = pair([0.2, -0.4])
    seen = []
    a.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 2.0)
    h = a.exp()
    h.retain_grad()
    h.register_hook(lambda g: g + 1.0)
    out = (h * 3.0).sum()
    assert autograd._chain_order(out._ctx) is not None
    out.backward()
    th = ta.exp()
    th.retain_grad()
    th.register_hook(lambda g: g + 1.0)
    ta.register_hook(lambda g: g * 2.0)
    (th * 3.0).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(seen[0], (4.0 * np.exp(np.float32([0.2, -0.4]))), rtol=1e-6)


@pytest.mark.parametrize("frozen", ["weight", "bias", "input", "none"])
def test_a_three_input_node_records_which_inputs_need_gradients(frozen):
    rng = np.random.default_rng(0)
    values = {"input": rng.standard_normal((5, 3)), "weight": rng.standard_normal((4, 3)),
              "bias": rng.standard_normal(4)}
    ours = {k: tg.Tensor(v.astype(np.float32), requires_grad=k != frozen) for k, v in values.items()}
    theirs = {k: torch.tensor(v.astype(np.float32), requires_grad=k != frozen) for k, v in values.items()}
    h = ours["input"].tanh() if frozen != "input" else ours["input"]  # an intermediate input: kept as an edge
    out = tg.ops.Linear.apply(h, ours["weight"], ours["bias"])
    assert out._ctx.needs_input_grad == tuple(k != frozen for k in ("input", "weight", "bias"))
    assert (type(out._ctx.inputs[0]) is autograd._Edge) == (frozen != "input")
    (out * out).sum().backward()
    th = theirs["input"].tanh() if frozen != "input" else theirs["input"]
    (torch.nn.functional.linear(th, theirs["weight"], theirs["bias"]) ** 2).sum().backward()
    for k in values:
        if k == frozen:
            assert ours[k].grad is None
        else:
            np.testing.assert_allclose(ours[k].grad.numpy(), theirs[k].grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_three_input_node_refuses_mixed_devices(monkeypatch):
    """Simulated without a GPU: an array type the device check sees as 'cuda' (as test_tensor.py's)."""
    class OnOtherDevice(np.ndarray):
        pass

    real = autograd.device_of
    monkeypatch.setattr(autograd, "device_of", lambda a: "cuda" if isinstance(a, OnOtherDevice) else real(a))
    x, w = tg.zeros(2, 3), tg.zeros(4, 3)
    b = tg.Tensor._make(np.zeros(4, dtype=np.float32).view(OnOtherDevice), False)
    with pytest.raises(tg.DeviceError, match=r"Linear: inputs are on different devices \(cpu, cpu, cuda\)"):
        tg.ops.Linear.apply(x, w, b)


def test_a_tensor_subclass_that_is_not_hashable_still_gets_its_gradient():
    class Compared(tg.Tensor):
        def __eq__(self, other):  # defining __eq__ alone leaves the class without __hash__
            return super().__eq__(other)

    a = Compared(np.array([1.0, 2.0], np.float32), requires_grad=True)
    assert Compared.__hash__ is None
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.array([2.0, 4.0], np.float32))
