"""Numerically hard inputs: huge logits, saturation, log(0)."""
import numpy as np
import pytest

import tinygrad_opt as tg


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family_at_huge_logits(dtype, device):
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]])
    x = tg.Tensor(logits, dtype=dtype, requires_grad=True, device=device)
    ls = x.log_softmax(axis=1)
    expected = np.array([[0.0, -1e4, -2e4], [-np.log(3)] * 3])
    np.testing.assert_allclose(ls.numpy(), expected, rtol=1e-6)
    sm = x.softmax(axis=1)
    np.testing.assert_allclose(sm.numpy(), [[1, 0, 0], [1 / 3] * 3], rtol=1e-6, atol=0)
    (ls.sum() + sm.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_tanh_saturate_without_nan(dtype, device):
    x = tg.Tensor([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype, requires_grad=True, device=device)
    s = x.sigmoid()
    np.testing.assert_allclose(s.numpy(), [0, 0, 0.5, 1, 1], atol=1e-30)
    t = x.tanh()
    np.testing.assert_allclose(t.numpy(), [-1, -1, 0, 1, 1])
    (s.sum() + t.sum()).backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all()
    assert g[2] == pytest.approx(0.25 + 1.0)


def test_log_of_zero_is_minus_inf_like_numpy(device):
    with np.errstate(divide="ignore"):
        expected = np.log(np.array([0.0, 1.0]))
        got = tg.Tensor([0.0, 1.0], device=device).log().numpy()
    np.testing.assert_array_equal(got, expected)
    assert got[0] == -np.inf


def test_float32_stays_float32_through_a_training_expression():
    x = tg.randn(8, 4)
    w = tg.randn(4, 3, requires_grad=True)
    loss = ((x @ w).relu().log_softmax(axis=1) * -1.0).mean()
    loss.backward()
    assert loss.dtype == np.float32 and w.grad.dtype == np.float32
