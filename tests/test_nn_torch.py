"""Every nn layer and loss next to PyTorch: same forward values, same gradients (float32)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn

torch = pytest.importorskip("torch")

REDUCTIONS = ["mean", "sum", "none"]


def pair(array, requires_grad=True):
    """The same float32 data as an engine tensor and a torch tensor."""
    array = np.asarray(array, dtype=np.float32)
    return tg.Tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad)


def backward_both(out, tout, seed=0):
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.tensor(g))


def close(a, b, atol=1e-5, rtol=1e-4):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    np.testing.assert_allclose(a.numpy() if hasattr(a, "numpy") else a, b, atol=atol, rtol=rtol)


def copy_params(module, tmodule):
    tmodule.load_state_dict({k: torch.tensor(v) for k, v in module.state_dict().items()})


@settings(max_examples=20, deadline=None)
@given(batch=st.lists(st.integers(1, 4), min_size=0, max_size=2), n_in=st.integers(1, 6),
       n_out=st.integers(1, 6), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_matches_torch(batch, n_in, n_out, bias, seed):
    layer, tlayer = nn.Linear(n_in, n_out, bias=bias), torch.nn.Linear(n_in, n_out, bias=bias)
    copy_params(layer, tlayer)
    x, tx = pair(np.random.default_rng(seed).standard_normal((*batch, n_in)))
    out, tout = layer(x), tlayer(tx)
    close(out, tout)
    backward_both(out, tout, seed)
    close(x.grad, tx.grad)
    close(layer.weight.grad, tlayer.weight.grad)
    if bias:
        close(layer.bias.grad, tlayer.bias.grad)
    assert out.dtype == np.float32 and layer.weight.grad.dtype == np.float32


@pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "Tanh"])
@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), seed=st.integers(0, 2**16))
def test_activations_match_torch(name, shape, seed):
    x, tx = pair(np.random.default_rng(seed).standard_normal(shape) * 3)
    out, tout = getattr(nn, name)()(x), getattr(torch.nn, name)()(tx)
    close(out, tout)
    backward_both(out, tout, seed)
    close(x.grad, tx.grad)


@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (1, 2), (-2, -1)])
def test_flatten_matches_torch(start, end):
    x, tx = pair(np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5))
    out, tout = nn.Flatten(start, end)(x), torch.nn.Flatten(start, end)(tx)
    assert out.shape == tuple(tout.shape)
    close(out, tout)
    backward_both(out, tout)
    close(x.grad, tx.grad)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), c=st.integers(1, 7), reduction=st.sampled_from(REDUCTIONS),
       smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]), scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 2**16))
def test_cross_entropy_matches_torch(n, c, reduction, smoothing, scale, seed):
    rng = np.random.default_rng(seed)
    z, tz = pair(rng.standard_normal((n, c)) * scale)
    target = rng.integers(0, c, n)
    loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(z, tg.Tensor(target))
    tloss = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(tz, torch.tensor(target))
    close(loss, tloss, atol=1e-4)
    assert loss.dtype == np.float32
    backward_both(loss, tloss, seed)
    close(z.grad, tz.grad)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 5), reduction=st.sampled_from(REDUCTIONS),
       smoothing=st.sampled_from([0.0, 0.2]), seed=st.integers(0, 2**16))
def test_cross_entropy_probability_targets_match_torch(n, c, reduction, smoothing, seed):
    rng = np.random.default_rng(seed)
    z, tz = pair(rng.standard_normal((n, c)))
    p = rng.random((n, c))
    q, tq = pair(p / p.sum(axis=1, keepdims=True))
    loss = F.cross_entropy(z, q, reduction=reduction, label_smoothing=smoothing)
    tloss = torch.nn.functional.cross_entropy(tz, tq, reduction=reduction, label_smoothing=smoothing)
    close(loss, tloss)
    backward_both(loss, tloss, seed)
    close(z.grad, tz.grad)
    close(q.grad, tq.grad)


def test_cross_entropy_huge_logits_are_finite_and_exact():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=np.float32)
    target = np.array([0, 2, 1])
    z, tz = pair(logits)
    loss = F.cross_entropy(z, target)
    tloss = torch.nn.functional.cross_entropy(tz, torch.tensor(target))
    loss.backward()
    tloss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad.numpy()))
    # row 0 is certain (loss 0), row 1 a tie (log 2), row 2 uniform (log 3)
    assert loss.item() == pytest.approx((0 + np.log(2) + np.log(3)) / 3, rel=1e-6)
    close(loss, tloss, atol=0, rtol=1e-6)
    close(z.grad, tz.grad, atol=1e-7)


def test_nll_of_log_softmax_equals_cross_entropy():
    rng = np.random.default_rng(3)
    z, tz = pair(rng.standard_normal((5, 4)))
    target = rng.integers(0, 4, 5)
    loss = nn.NLLLoss()(F.log_softmax(z, axis=1), target)
    tloss = torch.nn.functional.nll_loss(torch.log_softmax(tz, 1), torch.tensor(target))
    close(loss, tloss)
    loss.backward()
    tloss.backward()
    close(z.grad, tz.grad)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), reduction=st.sampled_from(REDUCTIONS),
       seed=st.integers(0, 2**16))
def test_mse_matches_torch(shape, reduction, seed):
    rng = np.random.default_rng(seed)
    x, tx = pair(rng.standard_normal(shape))
    y, ty = pair(rng.standard_normal(shape))
    loss, tloss = nn.MSELoss(reduction=reduction)(x, y), torch.nn.MSELoss(reduction=reduction)(tx, ty)
    close(loss, tloss)
    backward_both(loss, tloss, seed)
    close(x.grad, tx.grad)
    close(y.grad, ty.grad)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), reduction=st.sampled_from(REDUCTIONS),
       with_pos_weight=st.booleans(), scale=st.sampled_from([1.0, 50.0]), seed=st.integers(0, 2**16))
def test_bce_with_logits_matches_torch(shape, reduction, with_pos_weight, scale, seed):
    rng = np.random.default_rng(seed)
    x, tx = pair(rng.standard_normal(shape) * scale)
    y, ty = pair(rng.random(shape))
    pw = (rng.random(shape[-1]) + 0.5).astype(np.float32) if with_pos_weight else None
    loss = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=None if pw is None else tg.Tensor(pw))(x, y)
    tloss = torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=None if pw is None else torch.tensor(pw))(tx, ty)
    close(loss, tloss, atol=1e-4)
    backward_both(loss, tloss, seed)
    close(x.grad, tx.grad)
    close(y.grad, ty.grad, atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(4, 3), (2, 5), (3, 2, 4), (6, 1, 1)]), affine=st.booleans(), bias=st.booleans(),
       momentum=st.sampled_from([0.1, 0.5, None]), seed=st.integers(0, 2**16))
def test_batchnorm1d_matches_torch_train_and_eval(shape, affine, bias, momentum, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    bn = nn.BatchNorm1d(c, momentum=momentum, affine=affine, bias=bias)
    tbn = torch.nn.BatchNorm1d(c, momentum=momentum, affine=affine, bias=bias)
    assert list(bn.state_dict()) == list(tbn.state_dict())
    for p in bn.parameters():
        p.data[...] = rng.standard_normal(c)
    copy_params(bn, tbn)
    for step in range(3):
        x, tx = pair(rng.standard_normal(shape) * 2 + 1)
        out, tout = bn(x), tbn(tx)
        close(out, tout, atol=1e-4)
        backward_both(out, tout, step)
        close(x.grad, tx.grad, atol=1e-4)
        for p, tp in zip(bn.parameters(), tbn.parameters()):
            close(p.grad, tp.grad, atol=1e-4)
    for key, value in tbn.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    bn.eval()
    tbn.eval()
    x, tx = pair(rng.standard_normal(shape))
    out, tout = bn(x), tbn(tx)
    close(out, tout, atol=1e-4)
    backward_both(out, tout)
    close(x.grad, tx.grad, atol=1e-4)


def test_batchnorm1d_without_running_stats_matches_torch():
    bn, tbn = nn.BatchNorm1d(3, track_running_stats=False), torch.nn.BatchNorm1d(3, track_running_stats=False)
    assert list(bn.state_dict()) == list(tbn.state_dict()) == ["weight", "bias"]
    bn.eval()
    tbn.eval()
    x, tx = pair(np.random.default_rng(0).standard_normal((5, 3)))
    close(bn(x), tbn(tx), atol=1e-5)


def test_dropout_statistics_and_scaling():
    tg.manual_seed(7)
    x = tg.ones(200, 500, requires_grad=True)
    y = nn.Dropout(0.3)(x)
    values = np.unique(y.numpy())
    np.testing.assert_allclose(values, [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((y.numpy() == 0).mean() - 0.3) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # gradient = mask / (1 - p)
    assert y.dtype == np.float32


def test_dropout_is_reproducible_and_identity_in_eval():
    layer = nn.Dropout(0.5)
    x = tg.randn(4, 6)
    tg.manual_seed(3)
    a = layer(x).numpy()
    tg.manual_seed(3)
    b = layer(x).numpy()
    np.testing.assert_array_equal(a, b)
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.5, training=False) is x


def test_functional_forms_match_torch():
    rng = np.random.default_rng(0)
    x, tx = pair(rng.standard_normal((3, 4)))
    w, tw = pair(rng.standard_normal((2, 4)))
    b, tb = pair(rng.standard_normal(2))
    close(F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb))
    close(F.linear(x, w), torch.nn.functional.linear(tx, tw))
    close(F.relu(x), torch.relu(tx))
    close(F.sigmoid(x), torch.sigmoid(tx))
    close(F.tanh(x), torch.tanh(tx))
    for axis in (0, 1, -1):
        close(F.softmax(x, axis=axis), torch.softmax(tx, axis))
        close(F.log_softmax(x, axis=axis), torch.log_softmax(tx, axis))
    close(F.softmax(x, dim=0), torch.softmax(tx, 0))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_float32_stays_float32_everywhere(reduction):
    """No float64 constant or integer array may promote the training path to float64."""
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.3), nn.Linear(6, 4), nn.Sigmoid())
    x = tg.randn(8, 5, requires_grad=True)
    out = model(x)
    labels = np.arange(8, dtype=np.uint8) % 4  # MNIST labels come as uint8
    losses = [
        F.cross_entropy(out, labels, reduction=reduction, label_smoothing=0.1),
        F.cross_entropy(out, tg.softmax(tg.randn(8, 4)), reduction=reduction, label_smoothing=0.1),
        F.mse_loss(out, np.ones((8, 4))),  # a float64 NumPy target takes the input's dtype
        F.binary_cross_entropy_with_logits(out, np.zeros((8, 4)), reduction=reduction, pos_weight=np.full(4, 2.0)),
    ]
    for loss in losses:
        assert loss.dtype == np.float32
        with tg.trace() as t:  # raw gradients, before the traversal would cast them back
            (loss if loss.ndim == 0 else loss.sum()).backward(retain_graph=True)
        for step in t.steps:
            assert all(g is None or g.dtype == np.float32 for g in step.input_grads), step.op
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert x.grad.dtype == np.float32
    assert all(b.dtype == np.float32 for name, b in model.named_buffers() if "num_batches" not in name)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_without_dim_takes_torchs_legacy_dim(name, shape):
    """F.softmax(x) with no dim: torch picks dim 0 for 0-, 1- and 3-d input, else 1, and warns."""
    data = np.random.default_rng(0).normal(size=shape)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ours = getattr(F, name)(tg.Tensor(data))
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        theirs = getattr(torch.nn.functional, name)(torch.tensor(data))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_softmax_dtype_casts_first():
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    ours = F.log_softmax(tg.Tensor(x), dim=1, dtype=tg.float64)
    theirs = torch.nn.functional.log_softmax(torch.tensor(x), dim=1, dtype=torch.float64)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
