"""Default initialisation and nn.init: PyTorch's bounds and statistics, seeded reproducibility."""
import math

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.errors import ShapeError
from tinygrad_opt.nn import init

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("n_in,n_out", [(784, 256), (256, 10), (3, 500), (1, 1)])
def test_linear_default_init_bounds_match_torch(n_in, n_out):
    tg.manual_seed(0)  # whatever ran before, the same draws every run
    torch.manual_seed(0)
    layer, tlayer = nn.Linear(n_in, n_out), torch.nn.Linear(n_in, n_out)
    bound = 1 / math.sqrt(n_in)
    for p, tp in zip(layer.parameters(), tlayer.parameters()):
        values, tvalues = p.numpy(), tp.detach().numpy()
        assert values.shape == tvalues.shape and values.dtype == np.float32
        assert np.abs(values).max() <= bound
        assert np.abs(tvalues).max() <= bound
    w = layer.weight.numpy()
    n = w.size
    if n > 1000:  # U(-b, b): mean 0, std b / sqrt(3), and it reaches close to the bound
        # tolerances of 5 standard errors: the sample mean's is (b / sqrt(3)) / sqrt(n), and the
        # sample std's is about 0.258 b / sqrt(n) for a uniform distribution
        assert abs(w.mean()) < 5 * bound / math.sqrt(3 * n)
        assert abs(w.std() - bound / math.sqrt(3)) < 5 * 0.258 * bound / math.sqrt(n)
        assert np.abs(w).max() > 0.99 * bound
        tw = tlayer.weight.detach().numpy()
        assert abs(w.std() - tw.std()) < 5 * math.sqrt(2) * 0.258 * bound / math.sqrt(n)


def test_init_is_reproducible_with_manual_seed():
    tg.manual_seed(42)
    a = nn.Linear(5, 4).state_dict()
    tg.manual_seed(42)
    b = nn.Linear(5, 4).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    c = nn.Linear(5, 4).state_dict()
    assert not np.array_equal(a["weight"], c["weight"])


def test_batchnorm_default_init_matches_torch():
    bn, tbn = nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5)
    for key, value in tbn.state_dict().items():
        np.testing.assert_array_equal(bn.state_dict()[key], value.numpy())
        assert bn.state_dict()[key].dtype == value.numpy().dtype


@pytest.mark.parametrize(
    "fn,kwargs,expected_std",
    [
        (init.kaiming_uniform_, {}, math.sqrt(2 / (1 + 0.01**2)) / math.sqrt(400)),
        (init.kaiming_uniform_, {"nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(400)),
        (init.kaiming_uniform_, {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(300)),
        (init.kaiming_normal_, {"nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(400)),
        (init.xavier_uniform_, {}, math.sqrt(2 / 700)),
        (init.xavier_normal_, {"gain": 2.0}, 2 * math.sqrt(2 / 700)),
        (init.normal_, {"mean": 1.0, "std": 0.5}, 0.5),
        (init.uniform_, {"a": -2.0, "b": 4.0}, 6 / math.sqrt(12)),
    ],
)
def test_init_functions_statistics_match_torch(fn, kwargs, expected_std):
    t = tg.zeros(300, 400)
    assert fn(t, **kwargs) is t
    tt = getattr(torch.nn.init, fn.__name__)(torch.empty(300, 400), **kwargs)
    values, tvalues = t.numpy(), tt.numpy()
    assert abs(values.std() - expected_std) < 0.01 * expected_std
    assert abs(values.std() - tvalues.std()) < 0.015 * expected_std
    assert abs(values.mean() - tvalues.mean()) < 0.02 * expected_std + 0.01 * abs(tvalues.mean())
    if "uniform" in fn.__name__:  # same support
        assert values.min() >= tvalues.min() - 0.01 * expected_std and values.max() <= tvalues.max() + 0.01 * expected_std


def test_constant_inits_and_dtype_kept():
    t = tg.zeros(3, 2, dtype="float64")
    init.ones_(t)
    assert t.dtype == np.float64 and np.all(t.numpy() == 1)
    init.zeros_(t)
    assert np.all(t.numpy() == 0)
    init.constant_(t, 0.25)
    assert np.all(t.numpy() == 0.25)


def test_init_does_not_record_a_graph():
    p = nn.Parameter(tg.zeros(4, 4))
    init.kaiming_uniform_(p)
    assert p.is_leaf and p.requires_grad and p.grad is None


def test_fan_needs_two_dimensions():
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        init.kaiming_uniform_(tg.zeros(5))
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_normal_(tg.zeros(2, 2), mode="fan")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.kaiming_normal_(tg.zeros(2, 2), nonlinearity="swish")


def test_calculate_gain_matches_torch():
    for name in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
