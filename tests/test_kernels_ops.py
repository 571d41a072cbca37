"""The ops built on fused kernels: Dropout and ApplyMask (gradcheck, PyTorch), in both kernel modes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import kernels, ops

MODES = ["auto", "reference"]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)


@pytest.fixture(params=MODES)
def mode(request):
    previous = kernels.get_mode()
    tg.set_kernels(request.param)
    yield request.param
    tg.set_kernels(previous)


def t64(a, requires_grad=True):
    return tg.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, p=st.sampled_from([0.2, 0.5, 0.9]), seed=st.integers(0, 2**63 - 1))
def test_dropout_node_gradcheck(mode, shape, p, seed):
    x = t64(np.random.default_rng(0).standard_normal(shape))
    w = np.random.default_rng(1).standard_normal(shape)
    assert tg.gradcheck(lambda a: (ops.Dropout.apply(a, p=p, seed=seed) * tg.Tensor(w)).sum(), (x,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_gradient_is_the_forward_mask(mode, dtype):
    tg.manual_seed(11)
    x = tg.Tensor(np.full((64, 50), 2.0, dtype), requires_grad=True)
    y = F.dropout(x, 0.4)
    g = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    kept = y.numpy() != 0
    assert y.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(y.numpy()[kept], dtype(2.0) * dtype(1 / 0.6))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, g * dtype(1 / 0.6), 0))
    assert abs(1 - kept.mean() - 0.4) < 0.03


def test_dropout_mask_is_the_same_in_both_modes_and_reproducible():
    x = tg.randn(30, 40)
    masks = {}
    previous = kernels.get_mode()
    try:
        for mode in MODES:
            tg.set_kernels(mode)
            tg.manual_seed(5)
            masks[mode] = F.dropout(x, 0.3).numpy() != 0
            tg.manual_seed(5)
            np.testing.assert_array_equal(F.dropout(x, 0.3).numpy() != 0, masks[mode])
    finally:
        tg.set_kernels(previous)
    np.testing.assert_array_equal(masks["auto"], masks["reference"])
    tg.manual_seed(6)
    assert not np.array_equal(F.dropout(x, 0.3).numpy() != 0, masks["auto"])


def test_dropout_saves_no_mask():
    """Backward regenerates the mask: the node keeps only the seed, p and the shape."""
    x = tg.randn(8, 8, requires_grad=True)
    y = F.dropout(x, 0.5)
    saved = {k: v for k, v in vars(y._ctx).items() if k not in ("inputs", "needs_input_grad")}
    assert set(saved) == {"p", "seed", "shape"}


@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 1000), as_bool=st.booleans())
def test_apply_mask_gradcheck(mode, shape, seed, as_bool):
    rng = np.random.default_rng(seed)
    w = t64(rng.standard_normal(shape))
    keep = np.asarray(rng.random(shape) < 0.6)
    mask = tg.Tensor(keep if as_bool else keep.astype(np.float64))
    weights = tg.Tensor(rng.standard_normal(shape))
    assert tg.gradcheck(lambda a: (ops.apply_mask(a, mask) * weights).sum(), (w,))
    out = ops.apply_mask(w, mask)
    np.testing.assert_array_equal(out.numpy(), w.numpy() * keep)


def test_apply_mask_matches_torch_prune(mode):
    torch = pytest.importorskip("torch")
    import torch.nn.utils.prune  # noqa: F401 - a submodule torch does not import by itself
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 6)).astype(np.float32)
    mask = (rng.random((4, 6)) < 0.5).astype(np.float32)
    layer = torch.nn.Linear(6, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
    torch.nn.utils.prune.custom_from_mask(layer, "weight", torch.from_numpy(mask))
    x = rng.standard_normal((3, 6)).astype(np.float32)
    layer(torch.from_numpy(x)).square().sum().backward()

    orig = tg.Tensor(weight, requires_grad=True)
    pruned = ops.apply_mask(orig, tg.Tensor(mask))
    (tg.Tensor(x) @ pruned.T).__pow__(2.0).sum().backward()
    np.testing.assert_allclose(pruned.numpy(), layer.weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(orig.grad.numpy(), layer.weight_orig.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(orig.grad.numpy()[mask == 0] == 0)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch_in_both_modes(mode, label_smoothing, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    z = rng.standard_normal((7, 5)).astype(np.float32) * 4
    t = rng.integers(0, 5, 7)
    ours = tg.Tensor(z, requires_grad=True)
    theirs = torch.tensor(z, requires_grad=True)
    loss = F.cross_entropy(ours, t, reduction=reduction, label_smoothing=label_smoothing)
    tloss = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(t), reduction=reduction,
                                              label_smoothing=label_smoothing)
    seed = rng.standard_normal(tuple(tloss.shape)).astype(np.float32)
    loss.backward(seed)
    tloss.backward(torch.from_numpy(seed))
    np.testing.assert_allclose(loss.numpy(), tloss.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert loss.dtype == np.float32 and ours.grad.dtype == np.float32
