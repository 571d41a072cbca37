"""ReLU's backward where its output is NaN or its upstream gradient is not finite, against torch 2.13.

PyTorch's ReLU backward is threshold_backward: 0 where y <= 0, g elsewhere. So a NaN output passes
g on (NaN <= 0 is false) and a masked entry is +0 even where g is inf or NaN, which g * [y > 0]
would get wrong twice (0 for the NaN output; NaN, or -0 for a negative g, at masked entries).
Every path that masks ReLU's gradient is checked: the reference (below 512 elements), the Numba
loop (above), Linear + ReLU fused by nn.Sequential, BatchNorm2d + ReLU fused likewise.
"""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn

torch = pytest.importorskip("torch")

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -2.5]


def bitwise_equal(ours, theirs, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    np.testing.assert_array_equal(ours, theirs, err_msg=what)  # NaN where NaN, values equal
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs), err_msg=f"{what}: sign of zero")


def special_pair(size, dtype, seed):
    """(a, g): an input holding NaN, +-inf, +-0 among normal values, and a gradient holding them too."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(size).astype(dtype)
    g = rng.standard_normal(size).astype(dtype)
    a[: len(SPECIALS)] = SPECIALS
    g[: len(SPECIALS)] = SPECIALS[::-1]  # inf and NaN upstream at inputs that ReLU masks
    g[len(SPECIALS): 2 * len(SPECIALS)] = SPECIALS
    return a, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [7 * 3, 600, 5000])  # the reference, the Numba loop, the Numba forward too
def test_relu_backward_is_torchs_threshold_backward(size, dtype):
    a, g = special_pair(size, dtype, seed=size)
    x = tg.Tensor(a.copy(), requires_grad=True)
    tg.relu(x).backward(tg.Tensor(g.copy()))
    tx = torch.tensor(a, requires_grad=True)
    torch.relu(tx).backward(torch.tensor(g))
    bitwise_equal(x.grad.numpy(), tx.grad.numpy(), f"relu backward, {size} elements")


@pytest.mark.parametrize("rows", [3, 64])
def test_sequential_linear_relu_passes_g_where_its_output_is_nan(rows):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 6)).astype(np.float32)
    w = rng.standard_normal((5, 6)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    b[1] = np.nan  # column 1 of the output is NaN: its gradient must pass
    g = rng.standard_normal((rows, 5)).astype(np.float32)
    g[:, 3] = np.inf  # infinite upstream gradient: 0 where ReLU masked, inf where it did not
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU())
    model[0].weight.data[...] = w
    model[0].bias.data[...] = b
    ours_x = tg.Tensor(x, requires_grad=True)
    model(ours_x).backward(tg.Tensor(g))
    tl = torch.nn.Linear(6, 5)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(w))
        tl.bias.copy_(torch.tensor(b))
    theirs_x = torch.tensor(x, requires_grad=True)
    torch.relu(tl(theirs_x)).backward(torch.tensor(g))
    np.testing.assert_allclose(model[0].bias.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(model[0].weight.grad.numpy(), tl.weight.grad.numpy(), rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-5, equal_nan=True)
    assert np.isfinite(model[0].bias.grad.numpy()[1]) == np.isfinite(tl.bias.grad.numpy()[1])


@pytest.mark.parametrize("training", [True, False])
def test_sequential_batch_norm_relu_passes_g_where_its_output_is_nan(training):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    g = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    bias = np.array([0.1, np.nan, -0.2], np.float32)  # channel 1's output is NaN throughout
    model = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
    model[0].bias.data[...] = bias
    model.train(training)
    ours_x = tg.Tensor(x, requires_grad=True)
    model(ours_x).backward(tg.Tensor(g))
    tbn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        tbn.bias.copy_(torch.tensor(bias))
    tbn.train(training)
    theirs_x = torch.tensor(x, requires_grad=True)
    torch.relu(tbn(theirs_x)).backward(torch.tensor(g))
    for what, ours, theirs in [("input", ours_x.grad, theirs_x.grad), ("weight", model[0].weight.grad, tbn.weight.grad),
                               ("bias", model[0].bias.grad, tbn.bias.grad)]:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5, equal_nan=True, err_msg=what)
    assert np.isfinite(model[0].bias.grad.numpy()).all()  # channel 1's sums are of g itself, not of zeros or NaN
