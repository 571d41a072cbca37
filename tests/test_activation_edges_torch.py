"""Activations at the edges (+-0, NaN, +-inf, huge, tiny) against torch 2.13: value, sign of zero and the
gradient of sum(y * w), in float32 and float64, with the reference kernels and the compiled ones.

torch's CPU kernels decide some NaN gradients by position: its vectorised loop body (blends of both
branches: NaN for ELU, SELU, CELU, Hardswish; 0 for Hardtanh, ReLU6) and its scalar loop, which runs
the formula as written (`x <= 0 ? ... : ...`: NaN takes the other branch) differ. The engine follows
the scalar loop everywhere (README, Differences from PyTorch), so each edge is compared in a tensor of
its own, which torch runs in the scalar loop.
"""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

EDGES = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-310, -1e-310, 3.0, -3.0, 40.0, -40.0, 1e5, -1e5,
         20.0, -20.0, 0.5, -0.5]

ACTIVATIONS = {
    "elu": lambda f, x: f.elu(x), "elu_alpha": lambda f, x: f.elu(x, 0.5), "selu": lambda f, x: f.selu(x),
    "celu": lambda f, x: f.celu(x, 0.5), "leaky_relu": lambda f, x: f.leaky_relu(x, 0.1),
    "hardtanh": lambda f, x: f.hardtanh(x), "relu6": lambda f, x: f.relu6(x), "relu": lambda f, x: f.relu(x),
    "gelu": lambda f, x: f.gelu(x), "gelu_tanh": lambda f, x: f.gelu(x, approximate="tanh"),
    "silu": lambda f, x: f.silu(x), "mish": lambda f, x: f.mish(x), "softplus": lambda f, x: f.softplus(x),
    "softplus_beta": lambda f, x: f.softplus(x, beta=2.0, threshold=5.0), "logsigmoid": lambda f, x: f.logsigmoid(x),
    "hardswish": lambda f, x: f.hardswish(x), "hardsigmoid": lambda f, x: f.hardsigmoid(x),
    "sigmoid": lambda f, x: f.sigmoid(x), "tanh": lambda f, x: f.tanh(x),
    "tanhshrink": lambda f, x: f.tanhshrink(x), "hardshrink": lambda f, x: f.hardshrink(x),
    "hardshrink_lambd": lambda f, x: f.hardshrink(x, 3.0), "softshrink": lambda f, x: f.softshrink(x),
    "softshrink_lambd": lambda f, x: f.softshrink(x, 20.0),
}


@pytest.fixture(params=["reference", "numba"])
def kernel_mode(request):
    previous = tg.kernels.get_mode()
    tg.set_kernels(request.param)
    yield request.param
    tg.set_kernels(previous)


def _run(name, library, f, values, dtype):
    """Each value alone (one-element tensors: torch's scalar loop), the weight of sum(y * w) per value."""
    outputs, gradients = [], []
    for value, weight in zip(values, np.linspace(0.5, 1.5, len(values)).astype(dtype)):
        x = library.tensor(np.array([value], dtype=dtype), requires_grad=True)
        y = ACTIVATIONS[name](f, x)
        (y * library.tensor(np.array([weight], dtype=dtype))).sum().backward()
        outputs.append((y.numpy() if library is tg else y.detach().numpy())[0])
        gradients.append(x.grad.numpy()[0])
    return outputs, gradients


def _agree(mine, theirs, rtol, atol) -> bool:
    if np.isnan(theirs) or np.isnan(mine):
        return bool(np.isnan(theirs) and np.isnan(mine))
    if theirs == 0 or np.isinf(theirs):
        return bool(mine == theirs and np.signbit(mine) == np.signbit(theirs))
    return bool(abs(mine - theirs) <= rtol * abs(theirs) + atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_edges_match_torch_in_value_sign_and_gradient(name, dtype, kernel_mode):
    # GELU's 1 + erf and 1 + tanh cancel for negative x: float32 agrees to an absolute 1e-6 there (torch's
    # float32 GELU at -3 is itself 1e-4 off in relative terms, the engine's 1e-6)
    rtol, atol = (1e-13, 0.0) if dtype == np.float64 else (1e-5, 1e-6)
    wrong = []
    with np.errstate(over="ignore", under="ignore"):  # 1e300 in float32 is inf; 1e-310 is 0
        values = np.array(EDGES, dtype=dtype)
    ours, theirs = _run(name, tg, F, values, dtype), _run(name, torch, TF, values, dtype)
    for what, mine_all, expected_all in zip(("value", "gradient"), ours, theirs):
        for value, mine, expected in zip(values, mine_all, expected_all):
            if not _agree(float(mine), float(expected), rtol, atol):
                wrong.append(f"{what} at {value!r}: {mine!r}, torch {expected!r}")
    assert not wrong, f"{name} {np.dtype(dtype).name}: " + "; ".join(wrong)


def test_shrink_modules_and_bad_arguments_follow_torch():
    x = np.array([-2.0, -0.4, 0.1, 0.6, 3.0])
    for ours, theirs in [(tg.nn.Hardshrink(0.5), torch.nn.Hardshrink(0.5)), (tg.nn.Softshrink(1.0),
                                                                           torch.nn.Softshrink(1.0))]:
        np.testing.assert_array_equal(ours(tg.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy())
        assert repr(ours) == repr(theirs)
    with pytest.raises(RuntimeError):
        TF.softshrink(torch.tensor(x), -1.0)
    with pytest.raises(ValueError, match="softshrink: lambd must be >= 0"):
        F.softshrink(tg.tensor(x), -1.0)
    with pytest.raises(TypeError):
        F.hardshrink(tg.tensor([1, 2]))


def test_float16_leaky_relu_is_computed_in_float32_as_torch():
    """torch's half leaky_relu multiplies in float32 by the float32 slope and rounds once, both ways."""
    data = np.random.default_rng(0).normal(size=500).astype(np.float16)
    upstream = np.random.default_rng(1).normal(size=500).astype(np.float16)
    ours, theirs = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = F.leaky_relu(ours, 0.2291666), TF.leaky_relu(theirs, 0.2291666)
    assert np.array_equal(y.numpy(), ty.detach().numpy())
    y.backward(tg.tensor(upstream))
    ty.backward(torch.tensor(upstream))
    assert np.array_equal(ours.grad.numpy(), theirs.grad.numpy())
