"""F.kl_div (gradcheck over broadcast shapes, torch parity) and the distillation loss."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt.compress import distillation_loss
from tinygrad_opt.errors import ShapeError

KL_REDUCTIONS = ["batchmean", "sum", "none", "mean"]


def t64(array, requires_grad=True):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def weighted(out, seed=0):
    if out.ndim == 0:
        return out
    return (out * tg.Tensor(np.random.default_rng(seed).standard_normal(out.shape))).sum()


def kl(x, t, reduction, log_target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return F.kl_div(x, t, reduction=reduction, log_target=log_target)


shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast together (size-1 axes and missing leading axes included)."""
    shape = draw(shapes)
    other = [1 if draw(st.booleans()) else s for s in shape]
    drop = draw(st.integers(0, len(other)))
    other = other[drop:]
    return (shape, other) if draw(st.booleans()) else (other, shape)


@settings(max_examples=30, deadline=None)
@given(pair=broadcast_pair(), reduction=st.sampled_from(KL_REDUCTIONS), log_target=st.booleans(),
       seed=st.integers(0, 2**16))
def test_kl_div_gradcheck(pair, reduction, log_target, seed):
    rng = np.random.default_rng(seed)
    x = t64(rng.standard_normal(pair[0]))
    raw = rng.uniform(0.1, 1.0, pair[1])
    t = t64(np.log(raw) if log_target else raw)  # positive targets: log t is smooth there
    assert tg.gradcheck(lambda x, t: weighted(kl(x, t, reduction, log_target)), (x, t))


@settings(max_examples=25, deadline=None)
@given(pair=broadcast_pair(), reduction=st.sampled_from(KL_REDUCTIONS), log_target=st.booleans(),
       seed=st.integers(0, 2**16), zeros=st.booleans())
def test_kl_div_matches_torch(pair, reduction, log_target, seed, zeros):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(pair[0])
    t = rng.uniform(0.1, 1.0, pair[1])
    if zeros and not log_target and t.size:
        t.reshape(-1)[0] = 0.0  # 0 * log 0 = 0 in the loss
    if log_target:
        t = np.log(t)
    ours_x, ours_t = t64(x), t64(t)
    out = kl(ours_x, ours_t, reduction, log_target)
    tx = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tout = torch.nn.functional.kl_div(tx, tt, reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    seed_grad = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(tg.Tensor(seed_grad))
    tout.backward(torch.tensor(seed_grad))
    np.testing.assert_allclose(ours_x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    finite = np.isfinite(tt.grad.numpy())  # torch: nan at t = 0, ours: -inf scaled by g (the true limit)
    np.testing.assert_allclose(ours_t.grad.numpy()[finite], tt.grad.numpy()[finite], rtol=1e-10, atol=1e-12)


def test_kl_div_values_and_float32():
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], dtype=np.float32)
    q = np.array([[0.3, 0.3, 0.4], [0.2, 0.5, 0.3]], dtype=np.float32)
    out = F.kl_div(tg.Tensor(np.log(q)), p, reduction="batchmean")
    expected = np.sum(p * np.log(p / q)) / 2
    assert out.dtype == np.float32 and out.item() == pytest.approx(expected, rel=1e-5)
    same = F.kl_div(tg.Tensor(np.log(p)), p, reduction="sum")
    assert abs(same.item()) < 1e-6  # KL(p || p) = 0


def test_kl_div_bad_input():
    x = tg.Tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="reduction='avg' is not one of"):
        F.kl_div(x, x, reduction="avg")
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4,\) do not broadcast"):
        F.kl_div(x, np.ones(4, dtype=np.float32), reduction="sum")
    with pytest.raises(TypeError, match="log_target must be a bool"):
        F.kl_div(x, x, reduction="sum", log_target="yes")
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(x, x)


def torch_distillation(torch, s, t, y, T, alpha):
    """Hinton et al.'s loss written with torch, for the comparison."""
    tf = torch.nn.functional
    soft = tf.kl_div(tf.log_softmax(s / T, dim=1), tf.softmax(t / T, dim=1), reduction="batchmean") * T * T
    return alpha * soft + (1 - alpha) * tf.cross_entropy(s, y)


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 0.0), (8.0, 1.0)])
def test_distillation_loss_matches_torch(T, alpha):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    s, t, y = rng.standard_normal((6, 10)) * 3, rng.standard_normal((6, 10)) * 3, rng.integers(0, 10, 6)
    ours_s = t64(s)
    teacher = t64(t)
    out = distillation_loss(ours_s, teacher, y, T=T, alpha=alpha)
    out.backward()
    ts = torch.tensor(s, requires_grad=True)
    tout = torch_distillation(torch, ts, torch.tensor(t), torch.tensor(y), T, alpha)
    tout.backward()
    assert out.item() == pytest.approx(tout.item(), rel=1e-12)
    np.testing.assert_allclose(ours_s.grad.numpy(), ts.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert teacher.grad is None  # the teacher is not trained


def test_distillation_loss_gradcheck():
    rng = np.random.default_rng(1)
    teacher = rng.standard_normal((4, 5))
    y = rng.integers(0, 5, 4)
    assert tg.gradcheck(lambda s: distillation_loss(s, teacher, y, T=3.0, alpha=0.7), (t64(rng.standard_normal((4, 5))),))


def test_distillation_loss_bad_input():
    s = tg.Tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="temperature T must be a number > 0, got 0"):
        distillation_loss(s, s, [0, 1], T=0, alpha=0.5)
    with pytest.raises(ValueError, match=r"alpha .* must be in \[0, 1\], got 1.5"):
        distillation_loss(s, s, [0, 1], T=2, alpha=1.5)
    with pytest.raises(ValueError, match="targets are needed"):
        distillation_loss(s, s, None, T=2, alpha=0.5)
    with pytest.raises(ValueError, match=r"teacher logits of shape \(2, 4\) must match"):
        distillation_loss(s, np.zeros((2, 4)), [0, 1], T=2, alpha=0.5)
    assert distillation_loss(s, s, None, T=2, alpha=1.0).item() == pytest.approx(0.0, abs=1e-7)
