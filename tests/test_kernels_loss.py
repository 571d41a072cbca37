"""The loss kernels (kernels/loss_*.py): the Numba loops against their reference twins, special values
included, the registry's choice, and the ops against PyTorch in float32 on a large batch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import kernels
from tinygrad_opt.kernels import loss_reference as reference

cpu = pytest.importorskip("tinygrad_opt.kernels.loss_cpu", reason="Numba is not installed")

SPECIAL = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-30, 0.5, -0.5, 1.0, -1.0, 2.5, -2.5]
# (name, options before the reduction)
REGRESSION = [("l1_loss", ()), ("smooth_l1_loss", (1.0,)), ("smooth_l1_loss", (0.3,)), ("smooth_l1_loss", (0.0,)),
              ("huber_loss", (1.0,)), ("huber_loss", (2.5,))]


def pair(seed, shape, dtype, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    y = (rng.standard_normal(shape) * scale).astype(dtype)
    flat = x.reshape(-1)
    flat[: min(flat.size, len(SPECIAL))] = SPECIAL[: flat.size]
    return x, y


def bitwise(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from([(1,), (7,), (33, 5), (2, 3, 4)]),
       dtype=st.sampled_from([np.float32, np.float64]), case=st.sampled_from(REGRESSION),
       reduction=st.sampled_from(["mean", "sum", "none"]), scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_regression_loops_match_their_reference(seed, shape, dtype, case, reduction, scale):
    """The slope and the loss elements bitwise; the sum (accumulated in float64) to float32 rounding."""
    name, options = case
    x, y = pair(seed, shape, dtype, scale)
    loss, slope = getattr(cpu, name)(x, y, *options, reduction)
    expected_loss, expected_slope = getattr(reference, name)(x, y, *options, reduction)
    bitwise(slope, expected_slope)
    if reduction == "none":
        bitwise(loss, expected_loss)
        return
    assert loss.dtype == expected_loss.dtype and loss.shape == ()
    elements = getattr(reference, name)(x, y, *options, "none")[0].astype(np.float64)
    exact = elements.sum() / (elements.size if reduction == "mean" else 1)
    if not np.isfinite(exact):
        np.testing.assert_array_equal(loss, expected_loss)
        return
    bound = 4 * np.finfo(dtype).eps * np.abs(elements).sum() / (elements.size if reduction == "mean" else 1)
    assert abs(float(loss) - exact) <= bound + np.finfo(dtype).tiny


@pytest.mark.parametrize("name, options", REGRESSION)
def test_broadcast_pairs_and_strided_inputs_run_the_reference(name, options):
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    for a, b in ((x, x[:1]), (x.T, x.T[::-1]), (x[:, ::2], x[:, 1::2])):
        assert kernels.get(name, a).fast.takes(a, b, *options, "mean") is False
        got = kernels.get(name, a)(a, b, *options, "sum")
        for u, v in zip(got, getattr(reference, name)(a, b, *options, "sum")):
            bitwise(u, v)
    assert kernels.which(name, x) == "cpu"


def nll_inputs(seed, n, c, dtype, ignored):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)).astype(dtype)
    x.reshape(-1)[:4] = [np.nan, -np.inf, -0.0, 3.0][: x.size]
    target = rng.integers(0, c, n)
    target[rng.random(n) < ignored] = -100
    return x, target


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), c=st.integers(1, 12),
       dtype=st.sampled_from([np.float32, np.float64]), weighted=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]), ignored=st.sampled_from([0.0, 0.3, 1.0]))
@example(seed=0, n=3, c=1, dtype=np.float32, weighted=False, reduction="none", ignored=0.0)  # x[i, t] = -0.0
def test_nll_loops_are_bitwise_their_reference(seed, n, c, dtype, weighted, reduction, ignored):
    """Forward and backward, the sums too (NumPy's, of the same elements); every target ignored gives NaN."""
    x, target = nll_inputs(seed, n, c, dtype, ignored)
    weight = np.random.default_rng(seed + 1).uniform(0.2, 2.0, c).astype(dtype) if weighted else None
    got = cpu.nll_loss(x, target, weight, -100, reduction, 0.0)
    expected = reference.nll_loss(x, target, weight, -100, reduction, 0.0)
    bitwise(got[0], expected[0])
    bitwise(got[1], expected[1])
    g = np.asarray(dtype(0.75)) if reduction != "none" else np.linspace(-1, 1, n).astype(dtype)
    args = (target, expected[1], expected[2], weight, c, -100, reduction, 0.0)
    bitwise(cpu.nll_loss_backward(g, *args), reference.nll_loss_backward(g, *args))


def test_nll_targets_the_loops_cannot_take_run_the_reference():
    """Out-of-range targets (the loops would index outside x), label smoothing and (N, C, d) inputs."""
    x = np.zeros((3, 4), np.float32)
    fast = kernels.get("nll_loss", x).fast
    assert fast.takes(x, np.array([0, 3, -100]), None, -100, "mean", 0.0)
    for target in (np.array([0, 4, 1]), np.array([0, -1, 1]), np.array([0.0, 1.0, 2.0])):
        assert not fast.takes(x, target, None, -100, "mean", 0.0)
    assert not fast.takes(x, np.array([0, 1, 2]), None, -100, "mean", 0.1)
    assert not fast.takes(np.zeros((3, 4, 2), np.float32), np.zeros((3, 2), np.int64), None, -100, "mean", 0.0)
    backward = kernels.get("nll_loss_backward", x).fast
    w = np.ones(3, np.float32)
    assert not backward.takes(np.float32(1), np.array([0, 9, 1]), w, np.float32(3), None, 4, -100, "mean", 0.0)


@pytest.mark.parametrize("call, torch_call", [
    (lambda x, y: F.l1_loss(x, y), lambda x, y: TF.l1_loss(x, y)),
    (lambda x, y: F.smooth_l1_loss(x, y), lambda x, y: TF.smooth_l1_loss(x, y)),
    (lambda x, y: F.smooth_l1_loss(x, y, beta=0.25, reduction="sum"),
     lambda x, y: TF.smooth_l1_loss(x, y, beta=0.25, reduction="sum")),
    (lambda x, y: F.huber_loss(x, y, delta=0.5), lambda x, y: TF.huber_loss(x, y, delta=0.5)),
    (lambda x, y: F.huber_loss(x, y, reduction="none").sum(), lambda x, y: TF.huber_loss(x, y, reduction="none").sum()),
])
@pytest.mark.parametrize("mode", ["auto", "reference"])
def test_regression_ops_match_torch_in_float32_on_a_large_batch(call, torch_call, mode):
    rng = np.random.default_rng(2)
    x_data = (rng.standard_normal((257, 64)) * 2).astype(np.float32)
    y_data = (rng.standard_normal((257, 64)) * 2).astype(np.float32)
    previous = kernels.get_mode()
    tg.set_kernels(mode)
    try:
        x, y = tg.Tensor(x_data, requires_grad=True), tg.Tensor(y_data, requires_grad=True)
        loss = call(x, y)
        loss.backward()
    finally:
        tg.set_kernels(previous)
    tx, ty = torch.tensor(x_data, requires_grad=True), torch.tensor(y_data, requires_grad=True)
    expected = torch_call(tx, ty)
    expected.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=2e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("options", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 3},
                                     {"weight": "w"}, {"weight": "w", "ignore_index": 0}])
@pytest.mark.parametrize("mode", ["auto", "reference"])
def test_nll_loss_matches_torch_in_float32_on_a_large_batch(options, mode):
    rng = np.random.default_rng(3)
    logp = np.log(rng.dirichlet(np.ones(10), 513)).astype(np.float32)
    target = rng.integers(0, 10, 513)
    weight = np.linspace(0.5, 1.5, 10, dtype=np.float32)
    ours = {k: (tg.Tensor(weight) if v == "w" else v) for k, v in options.items()}
    theirs = {k: (torch.from_numpy(weight) if v == "w" else v) for k, v in options.items()}
    previous = kernels.get_mode()
    tg.set_kernels(mode)
    try:
        x = tg.Tensor(logp, requires_grad=True)
        loss = F.nll_loss(x, tg.Tensor(target), **ours)
        (loss * tg.Tensor(np.linspace(0.5, 2, loss.numel()).reshape(loss.shape).astype(np.float32))).sum().backward()
    finally:
        tg.set_kernels(previous)
    tx = torch.tensor(logp, requires_grad=True)
    expected = TF.nll_loss(tx, torch.from_numpy(target), **theirs)
    (expected * torch.linspace(0.5, 2, expected.numel()).reshape(expected.shape)).sum().backward()
    np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=2e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-12)
