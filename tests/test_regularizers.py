"""regularizers.l1 / l2 / elastic_net: values, gradients, any iterable, validation."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from tinygrad_opt import nn, regularizers


def make_params(seed, dtype="float32"):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(tg.Tensor(rng.standard_normal(s), dtype=dtype)) for s in [(3, 4), (4,), ()]]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), lam=st.floats(0, 10), lam2=st.floats(0, 10))
def test_values_and_gradients(seed, lam, lam2):
    params = make_params(seed, "float64")
    arrays = [p.numpy() for p in params]
    expected_l1 = lam * sum(np.abs(a).sum() for a in arrays)
    expected_l2 = lam2 * sum((a**2).sum() for a in arrays)
    r1 = regularizers.l1(params, lam)
    r2 = regularizers.l2(params, lam2)
    assert r1.shape == () and r2.shape == ()
    assert r1.item() == pytest.approx(expected_l1, rel=1e-12, abs=1e-12)
    assert r2.item() == pytest.approx(expected_l2, rel=1e-12, abs=1e-12)
    en = regularizers.elastic_net((p for p in params), lam, lam2)
    assert en.item() == pytest.approx(expected_l1 + expected_l2, rel=1e-12, abs=1e-12)
    if lam > 0 or lam2 > 0:
        en.backward()
        for p, a in zip(params, arrays):
            np.testing.assert_allclose(p.grad.numpy(), lam * np.sign(a) + 2 * lam2 * a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_gradcheck(name):
    params = make_params(1, "float64")
    fn = getattr(regularizers, name)
    assert tg.gradcheck(lambda *ps: fn(ps, 0.3), tuple(params))


def test_generator_of_model_parameters_and_float32_stays_float32():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    reg = regularizers.l2(model.parameters(), 1e-3)
    assert reg.dtype == np.float32 and reg.requires_grad
    expected = 1e-3 * sum((p.numpy().astype(np.float64) ** 2).sum() for p in model.parameters())
    assert reg.item() == pytest.approx(expected, rel=1e-5)
    loss = model(tg.randn(5, 4)).sum() + reg
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_elastic_net_reads_a_generator_once():
    params = make_params(2)
    reg = regularizers.elastic_net((p for p in params), 0.1, 0.2)
    expected = sum(0.1 * np.abs(p.numpy()).sum() + 0.2 * (p.numpy() ** 2).sum() for p in params)
    assert reg.item() == pytest.approx(expected, rel=1e-5)


def test_zero_lambda_and_empty_params_give_zero():
    assert regularizers.l1(make_params(0), 0.0).item() == 0.0
    assert regularizers.l2([], 1.0).item() == 0.0
    loss = tg.Tensor(1.0, requires_grad=True) * 2 + regularizers.l2(make_params(0), 0)
    loss.backward()


@pytest.mark.parametrize("lam", [-1e-3, float("nan"), float("inf"), "0.1", None, True])
def test_lambda_validation(lam):
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        regularizers.l1(make_params(0), lam)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        regularizers.l2(make_params(0), lam)
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        regularizers.elastic_net(make_params(0), 0.1, lam)


def test_non_tensor_parameter_is_refused():
    with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
        regularizers.l2([tg.ones(2), np.ones(2)], 0.1)
