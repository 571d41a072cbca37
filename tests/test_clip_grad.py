"""clip_grad_norm_ / clip_grad_value_ next to torch.nn.utils: returned norm and clipped gradients."""
import math

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import optim

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (), (2, 1, 3)]


def make(dtype=np.float64, scale=1.0, device="cpu", seed=0, with_none=False):
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, shape in enumerate(SHAPES):
        w = np.asarray(rng.standard_normal(shape), dtype=dtype)
        g = np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)
        p = tg.Tensor(w, requires_grad=True, device=device)
        q = torch.tensor(w, requires_grad=True)
        if not (with_none and i == 1):
            p.grad = tg.Tensor(g.copy(), device=device)
            q.grad = torch.from_numpy(g.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, float("inf"), 1.0, 3.5, 0.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clips / leaves alone
@pytest.mark.parametrize("with_none", [False, True])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, with_none):
    ours, theirs = make(with_none=with_none)
    before = [None if p.grad is None else p.grad.numpy() for p in ours]
    norm = optim.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(norm, tg.Tensor) and norm.shape == () and norm.dtype == tg.float64  # torch: a 0-d tensor
    total = norm.item()
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for p, q, b in zip(ours, theirs, before):
        if q.grad is None:
            assert p.grad is None
            continue
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)
        if max_norm > total:
            np.testing.assert_array_equal(p.grad.numpy(), b)  # untouched when the norm is small
    if max_norm < total and norm_type > 0:
        grads = [p.grad.numpy().ravel() for p in ours if p.grad is not None]
        flat = np.concatenate(grads)
        after = np.max(np.abs(flat)) if norm_type == math.inf else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
        assert after == pytest.approx(max_norm, rel=1e-5)


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_grad_norm_float32(norm_type, device):
    ours, theirs = make(dtype=np.float32, scale=10.0, device=device)
    total = optim.clip_grad_norm_(ours, 1.0, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type)
    assert total.device == device and total.dtype == tg.float32 == np.dtype(str(expected.dtype)[6:])
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    for p, q in zip(ours, theirs):
        assert p.grad.dtype == np.float32 and p.grad.device == device
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_formula_and_edge_cases():
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    p.grad = tg.Tensor(np.array([3.0, 4.0]))
    assert optim.clip_grad_norm_(p, 1.0).item() == 5.0  # a single tensor works too
    np.testing.assert_allclose(p.grad.numpy(), np.array([3.0, 4.0]) * (1.0 / (5.0 + 1e-6)), rtol=1e-15)
    q = tg.Tensor(np.zeros(2), requires_grad=True)
    assert optim.clip_grad_norm_([q], 1.0).item() == 0.0  # no gradients at all
    assert optim.clip_grad_norm_((t for t in [p]), 10.0).item() == pytest.approx(1.0, rel=1e-5)  # generators
    assert optim.clip_grad_norm_([p], 10.0, foreach=True).item() == pytest.approx(1.0, rel=1e-5)  # torch's flag


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0, as torch computes it
def test_clip_grad_norm_nonfinite():
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    p.grad = tg.Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    q = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    q.grad = torch.tensor([np.inf, 1.0], dtype=torch.float64)
    assert optim.clip_grad_norm_([p], 1.0).item() == math.inf == torch.nn.utils.clip_grad_norm_([q], 1.0).item()
    np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())  # [nan, 0] in both


def test_clip_grad_norm_bad_input():
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match="max_norm must be >= 0, got -1"):
        optim.clip_grad_norm_([p], -1)
    with pytest.raises(TypeError, match="max_norm must be a number"):
        optim.clip_grad_norm_([p], "1")
    with pytest.raises(TypeError, match="item 1 is a ndarray"):
        optim.clip_grad_norm_([p, np.zeros(2)], 1.0)


def test_clip_grad_value_matches_torch():
    ours, theirs = make(scale=3.0, with_none=True)
    assert optim.clip_grad_value_(ours, 0.7) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
            assert np.abs(p.grad.numpy()).max() <= 0.7
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        optim.clip_grad_value_(ours, -1.0)


def test_clipping_then_stepping_changes_the_update():
    """Clipping acts on what the optimizer reads: the SGD step is bounded by lr * max_norm."""
    p = tg.Tensor(np.zeros(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = tg.Tensor(np.array([100.0, 0.0, 0.0]))
    optim.clip_grad_norm_([p], 2.0)
    opt.step()
    assert np.linalg.norm(p.numpy()) == pytest.approx(0.2, rel=1e-6)
