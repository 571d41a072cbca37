"""Float64 finite-difference checks of the nn ops: Linear, the fused losses, BatchNorm1d, Dropout."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, ops

REDUCTIONS = ["mean", "sum", "none"]


def t64(array, requires_grad=True):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def weighted(out, seed=0):
    """A fixed random projection of a non-scalar output, so one gradcheck covers every element."""
    if out.ndim == 0:
        return out
    w = np.random.default_rng(seed).standard_normal(out.shape)
    return (out * tg.Tensor(w)).sum()


@settings(max_examples=20, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    n_in=st.integers(1, 4),
    n_out=st.integers(1, 4),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_op_gradcheck(batch, n_in, n_out, bias, seed):
    rng = np.random.default_rng(seed)
    x = t64(rng.standard_normal((*batch, n_in)))
    w = t64(rng.standard_normal((n_out, n_in)))
    inputs = (x, w) + ((t64(rng.standard_normal(n_out)),) if bias else ())
    assert tg.gradcheck(lambda *a: ops.Linear.apply(*a), inputs)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 5),
    c=st.integers(1, 5),
    reduction=st.sampled_from(REDUCTIONS),
    smoothing=st.sampled_from([0.0, 0.1, 0.7]),
    scale=st.sampled_from([1.0, 10.0]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_gradcheck_class_indices(n, c, reduction, smoothing, scale, seed):
    rng = np.random.default_rng(seed)
    z = t64(rng.standard_normal((n, c)) * scale)
    target = tg.Tensor(rng.integers(0, c, n))
    assert tg.gradcheck(lambda z: F.cross_entropy(z, target, reduction=reduction, label_smoothing=smoothing), (z,))


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 4),
    c=st.integers(1, 4),
    reduction=st.sampled_from(REDUCTIONS),
    smoothing=st.sampled_from([0.0, 0.25]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_gradcheck_probability_targets(n, c, reduction, smoothing, seed):
    rng = np.random.default_rng(seed)
    z = t64(rng.standard_normal((n, c)))
    q = t64(rng.random((n, c)))  # not normalised on purpose: the formula must hold for any q
    assert tg.gradcheck(lambda z, q: F.cross_entropy(z, q, reduction=reduction, label_smoothing=smoothing), (z, q))


@settings(max_examples=20, deadline=None)
@given(
    shapes=st.sampled_from([((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), ()), ((5,), ())]),
    reduction=st.sampled_from(REDUCTIONS),
    seed=st.integers(0, 2**16),
)
def test_mse_gradcheck(shapes, reduction, seed):
    rng = np.random.default_rng(seed)
    x, y = t64(rng.standard_normal(shapes[0])), t64(rng.standard_normal(shapes[1]))
    with pytest.warns(UserWarning) if shapes[0] != shapes[1] else _nothing():
        assert tg.gradcheck(lambda x, y: weighted(F.mse_loss(x, y, reduction=reduction)), (x, y))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from([(), (4,), (3, 2), (2, 1, 3)]),
    reduction=st.sampled_from(REDUCTIONS),
    with_pos_weight=st.booleans(),
    scale=st.sampled_from([1.0, 8.0]),
    seed=st.integers(0, 2**16),
)
def test_bce_with_logits_gradcheck(shape, reduction, with_pos_weight, scale, seed):
    rng = np.random.default_rng(seed)
    x = t64(rng.standard_normal(shape) * scale)
    y = t64(rng.random(shape))
    if with_pos_weight:
        w = t64(rng.random(shape[-1:] if shape else ()) + 0.5)

        def loss(x, y, w):
            return weighted(F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=w))

        assert tg.gradcheck(loss, (x, y, w))
    else:
        assert tg.gradcheck(lambda x, y: weighted(F.binary_cross_entropy_with_logits(x, y, reduction=reduction)),
                            (x, y))


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from([(2, 3), (5, 1), (3, 2, 4), (2, 3, 1)]),
    params=st.sampled_from(["none", "weight", "both"]),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_batchnorm1d_gradcheck(shape, params, training, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    bn = nn.BatchNorm1d(c, affine=params != "none", bias=params == "both").double()
    bn.train(training)
    if not training:  # non-trivial running statistics
        bn.running_mean.data[...] = rng.standard_normal(c)
        bn.running_var.data[...] = rng.random(c) + 0.5
    x = t64(rng.standard_normal(shape))
    inputs = (x,) + tuple(bn.parameters())
    for p in inputs[1:]:
        p.data[...] = rng.standard_normal(c)
    assert tg.gradcheck(lambda *a: weighted(bn(a[0]), seed), inputs)


@settings(max_examples=15, deadline=None)
@given(shape=st.sampled_from([(4,), (3, 5), (2, 3, 2)]), p=st.sampled_from([0.2, 0.5, 0.9]))
def test_dropout_gradcheck_with_fixed_mask(shape, p):
    x = t64(np.random.default_rng(1).standard_normal(shape))
    drop = nn.Dropout(p)

    def fn(x):
        tg.manual_seed(123)  # the same mask on every evaluation
        return weighted(drop(x))

    assert tg.gradcheck(fn, (x,))


def test_dropout_p_one_gradient_is_zero():
    x = t64(np.ones((3, 3)))
    y = F.dropout(x, 1.0, True)
    y.sum().backward()
    assert np.all(y.numpy() == 0) and np.all(x.grad.numpy() == 0)
