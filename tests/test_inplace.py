"""In-place ops and x[idx] = v against torch: leaf errors, no_grad updates, recorded ops and their gradients."""
import numpy as np
import pytest
import torch

import tinygrad_opt as tg

VALUES = [0.5, -1.5, 2.0, 3.0]


def pair(values=VALUES, requires_grad=True):
    return (tg.Tensor(values, requires_grad=requires_grad),
            torch.tensor(values, requires_grad=requires_grad))


INPLACE = {
    "add_": lambda t, o: t.add_(o), "add_alpha": lambda t, o: t.add_(o, alpha=-2.5),
    "sub_": lambda t, o: t.sub_(o), "sub_alpha": lambda t, o: t.sub_(o, alpha=0.5),
    "mul_": lambda t, o: t.mul_(o), "div_": lambda t, o: t.div_(o),
    "iadd": lambda t, o: t.__iadd__(o), "isub": lambda t, o: t.__isub__(o),
    "imul": lambda t, o: t.__imul__(o), "itruediv": lambda t, o: t.__itruediv__(o),
    "copy_": lambda t, o: t.copy_(o),
    "clamp_": lambda t, o: t.clamp_(-1.0, 1.0), "fill_": lambda t, o: t.fill_(7.0), "zero_": lambda t, o: t.zero_(),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_leaf_that_requires_grad_refuses_with_torchs_message(name):
    x, tx = pair()
    other = tg.Tensor([2.0, 2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError) as ours:
        INPLACE[name](x, other)
    with pytest.raises(RuntimeError) as theirs:
        INPLACE[name](tx, torch.full((4,), 2.0))
    expected = "a leaf Variable that requires grad is being used in an in-place operation."
    assert str(ours.value) == str(theirs.value) == expected


@pytest.mark.parametrize("name", list(INPLACE))
def test_under_no_grad_the_data_changes_in_place_as_torch(name):
    x, tx = pair()
    before = x.data
    with tg.no_grad():
        out = INPLACE[name](x, tg.Tensor([2.0, 4.0, -2.0, 0.5]))
    with torch.no_grad():
        INPLACE[name](tx, torch.tensor([2.0, 4.0, -2.0, 0.5]))
    assert out is x and x.data is before and x.is_leaf and x.requires_grad
    np.testing.assert_allclose(x.numpy(), tx.detach().numpy(), rtol=1e-6)
    assert x._version == tx._version == 1


def test_the_classic_hand_written_training_loop_trains():
    rng = np.random.default_rng(0)
    inputs, target = rng.standard_normal((32, 3)).astype(np.float32), rng.standard_normal(32).astype(np.float32)
    w, tw = pair([0.1, -0.2, 0.3])
    for _ in range(5):
        loss = ((tg.Tensor(inputs) @ w - tg.Tensor(target)) ** 2).mean()
        loss.backward()
        with tg.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
        tloss = ((torch.from_numpy(inputs) @ tw - torch.from_numpy(target)) ** 2).mean()
        tloss.backward()
        with torch.no_grad():
            tw -= 0.1 * tw.grad
        tw.grad = None
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5)
    assert w.is_leaf


def _graph_case(name, ours, theirs):
    """Run the same in-place op on a non-leaf of a graph in both engines; compare values and gradients."""
    x, tx = pair()
    o, to = pair([2.0, 4.0, -2.0, 0.5])
    h, th = x * 1.5, tx * 1.5
    r, tr = ours(h, o), theirs(th, to)
    assert r is h
    np.testing.assert_allclose(h.detach().numpy(), th.detach().numpy(), rtol=1e-6)
    weights = [1.0, 2.0, 3.0, 4.0]
    (h * tg.Tensor(weights)).sum().backward()
    (th * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    if to.grad is None:
        assert o.grad is None or not o.grad.numpy().any()
    else:
        np.testing.assert_allclose(o.grad.numpy(), to.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", list(INPLACE))
def test_on_a_non_leaf_the_op_is_recorded_and_gradients_match_torch(name):
    _graph_case(name, INPLACE[name], INPLACE[name])


def test_recorded_inplace_rebases_history():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    first = h.grad_fn
    h += 1
    assert h.grad_fn is not first and type(h.grad_fn).__name__ == "Add" and not h.is_leaf
    assert h._version == 1


def test_leaf_without_grad_takes_a_value_that_requires_grad():
    v, tv = pair([5.0])
    buf, tbuf = tg.zeros(3), torch.zeros(3)
    buf[1] = v[0]
    tbuf[1] = tv[0]
    assert buf.requires_grad and not buf.is_leaf
    (buf * buf * tg.Tensor([1.0, 2.0, 3.0])).sum().backward()
    (tbuf * tbuf * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy())


def test_in_place_on_a_view_of_a_leaf_refuses_as_torch():
    x, tx = pair()
    with pytest.raises(RuntimeError) as ours:
        x[0].add_(1)
    with pytest.raises(RuntimeError) as theirs:
        tx[0].add_(1)
    assert str(ours.value) == str(theirs.value)
    with tg.no_grad():
        x[1:3].mul_(10)  # under no_grad a view writes through to its base, as torch
    with torch.no_grad():
        tx[1:3].mul_(10)
    np.testing.assert_allclose(x.numpy(), tx.detach().numpy())


def test_in_place_on_a_view_inside_a_graph_is_a_clear_error():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    with pytest.raises(RuntimeError, match="view .* not supported.*clone"):
        h[0:1].add_(1)


def test_dtype_rules_as_torch():
    a = tg.Tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        a += 1.5
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).add_(1.5)
    a += 2
    assert a.tolist() == [3, 4] and a.dtype == tg.int64
    f = tg.Tensor([1.0, 2.0])
    f += tg.Tensor([1.0, 1.0], dtype=tg.float64)  # float64 result cast into float32, as torch
    assert f.dtype == tg.float32 and f.tolist() == [2.0, 3.0]
    c = tg.Tensor([0, 0])
    c.copy_(tg.Tensor([1.7, -2.2]))  # copy_ casts anything, as torch
    assert c.tolist() == torch.tensor([0, 0]).copy_(torch.tensor([1.7, -2.2])).tolist()


def test_shape_rules_as_torch():
    a = tg.zeros(3)
    with pytest.raises(tg.ShapeError, match="cannot change a tensor's shape"):
        a += tg.ones(2, 3)
    a += tg.ones(1)  # broadcasting the other operand is fine
    assert a.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="fill_ only supports a 0-dimension value tensor"):
        a.fill_(tg.ones(2))


def test_setitem_matches_torch_values_and_gradients():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((3, 4))
    value = rng.standard_normal((2, 4))
    x, tx = tg.Tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
    v, tv = tg.Tensor(value, requires_grad=True), torch.tensor(value, requires_grad=True)
    h, th = x * 1.0, tx * 1.0
    h[[0, 2]] = v
    th[[0, 2]] = tv
    h[1, 1:3] = 5.0
    th[1, 1:3] = 5.0
    weights = rng.standard_normal((3, 4))
    (h * tg.Tensor(weights)).sum().backward()
    (th * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(h.detach().numpy(), th.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy())


def test_setitem_broadcast_value_gets_the_summed_gradient():
    v, tv = pair([2.0])
    h, th = tg.zeros(2, 3), torch.zeros(2, 3)
    h[:, 1] = v
    th[:, 1] = tv
    (h * tg.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    (th * torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy())


def test_setitem_without_graph_writes_in_place_and_bumps_the_version():
    x = tg.zeros(2, 3)
    data = x.data
    x[0] = tg.Tensor([1, 2, 3])  # an int value is cast to the tensor's dtype
    x[1, [0, 2]] = 9.0
    assert x.data is data and x._version == 2
    assert x.tolist() == [[1.0, 2.0, 3.0], [9.0, 0.0, 9.0]]
    with pytest.raises(IndexError, match="out of bounds"):
        x[5] = 1.0
    with pytest.raises(tg.ShapeError, match="setitem"):
        x[0] = tg.ones(4)
    w = tg.Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0] = 2.0


def test_clone_requires_grad_and_is_leaf():
    x = tg.zeros(2)
    assert x.requires_grad_() is x and x.requires_grad and x.is_leaf
    y = x.clone()
    assert not y.is_leaf and y.grad_fn is not None
    y.add_(1)  # a clone is a non-leaf: in place is recorded
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])
    with pytest.raises(RuntimeError):
        y.requires_grad_(False)
