"""Ops are silent on zeros, infinities and NaNs, as torch is: no NumPy RuntimeWarning (divide by zero,
invalid value, overflow) from any op of the op table, forward or backward, in float32 and float64.

The forward passes of +, -, *, @, sum, mean, batch norm and nll_loss are left as NumPy runs them (silencing costs
about 0.3 us an op, a fifth of a small product's: README, Differences from PyTorch); the op table composes
many ops with them, so this test silences those few itself and checks everything else."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from op_specs import OPS, op_cases
from tinygrad_opt import ops
from tinygrad_opt.quiet_numpy import silent

LEFT_TO_NUMPY = (ops.Add, ops.Sub, ops.Mul, ops.MatMul, ops.Sum, ops.Mean, ops.BatchNormChannels, ops.NLLLoss)


@pytest.fixture(autouse=True)
def silence_the_plain_arithmetic(monkeypatch):
    for op in LEFT_TO_NUMPY:
        monkeypatch.setattr(op, "forward", staticmethod(silent(op.forward)))

EDGES = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 1e-310, 1.0, -1.0, 2.5, -0.5, 700.0, -700.0,
                  1e30, -3.0])


def _edge_values(rng, shape, dtype):
    with np.errstate(over="ignore", under="ignore"):  # 1e300 is inf and 1e-310 is 0 in float32
        return rng.choice(EDGES, size=shape).astype(dtype)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
# batch norm's training statistics are computed outside any op (nn/batchnorm_statistics.py), on the CNN step
@pytest.mark.parametrize("spec", [s for s in OPS if not s.name.startswith("batch_norm")], ids=lambda s: s.name)
@given(data=st.data())
def test_edge_values_raise_no_numpy_warning(spec, dtype, data):
    shapes, params, seed = data.draw(op_cases(spec))
    rng = np.random.default_rng(seed)
    inputs = [tg.tensor(_edge_values(rng, shape, dtype), requires_grad=True) for shape in shapes]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            out = spec.engine(*inputs, **params)
        except ValueError:  # an op that checks its input refuses NaN (binary_cross_entropy, as torch)
            assume(False)
        out.backward(tg.tensor(rng.uniform(-1, 1, out.shape), dtype=out.dtype))


def test_division_log_and_sqrt_by_zero_are_silent_and_give_torchs_values():
    import torch

    x = np.array([0.0, -0.0, 1.0, -1.0, np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for name, call in [("div", lambda t: 1.0 / t), ("log", lambda t: t.log()), ("sqrt", lambda t: t.sqrt()),
                           ("pow", lambda t: t ** -1.5), ("reciprocal", lambda t: t.reciprocal()),
                           ("remainder", lambda t: t % 0.0), ("fmod", lambda t: t.fmod(0.0)),
                           ("rsqrt", lambda t: t.rsqrt()), ("log1p", lambda t: (t - 1).log1p())]:
            np.testing.assert_array_equal(call(tg.tensor(x)).numpy(), call(torch.tensor(x)).numpy(), err_msg=name)


def test_numpy_keeps_warning_outside_the_engine():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        tg.tensor([0.0]).log()
        with pytest.raises(RuntimeWarning):
            np.log(np.zeros(1))
