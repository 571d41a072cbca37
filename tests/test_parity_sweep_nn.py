"""nn.functional's composed activations and distances and their modules, against torch (values and
float64 gradients on random input with both signs and the edges of the piecewise ones)."""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from weighted_loss import weighted_sum

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DATA = np.concatenate([np.random.default_rng(0).uniform(-5, 5, 22), [-3.5, 3.5]]).reshape(4, 6)


def _compare(ours_fn, theirs_fn, *arrays):
    ours_in = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours, theirs = ours_fn(*ours_in), theirs_fn(*theirs_in)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == theirs.detach().numpy().dtype
    weighted_sum(ours, tg).backward()
    weighted_sum(theirs, torch).backward()
    # torch's float64 hardsigmoid and celu backward kernels use float32 constants (1/6, 1/alpha): 1e-7 apart
    for a, b in zip(ours_in, theirs_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-14)


@pytest.mark.parametrize("name, kwargs", [
    ("hardsigmoid", {}), ("hardswish", {}), ("softsign", {}), ("tanhshrink", {}), ("celu", {}),
    ("celu", {"alpha": 0.5}), ("glu", {}), ("glu", {"dim": 0}), ("threshold", {"threshold": 0.5, "value": -2.0}),
    ("softmin", {"dim": 1}), ("normalize", {}), ("normalize", {"p": 1, "dim": 0}),
])
def test_functional_composites_match_torch(name, kwargs):
    _compare(lambda x: getattr(F, name)(x, **kwargs), lambda x: getattr(TF, name)(x, **kwargs), DATA)


@pytest.mark.parametrize("name, kwargs", [
    ("cosine_similarity", {}), ("cosine_similarity", {"dim": 0}), ("pairwise_distance", {}),
    ("pairwise_distance", {"p": 1.0, "keepdim": True}),
])
def test_distances_match_torch(name, kwargs):
    _compare(lambda a, b: getattr(F, name)(a, b, **kwargs), lambda a, b: getattr(TF, name)(a, b, **kwargs),
             DATA, DATA[::-1].copy() * 0.7)


@pytest.mark.parametrize("name, args", [
    ("Hardsigmoid", ()), ("Hardswish", ()), ("Softsign", ()), ("Tanhshrink", ()), ("CELU", (0.7,)), ("GLU", (0,)),
    ("Threshold", (0.1, 20.0)), ("Softmin", (1,)),
])
def test_modules_match_torch(name, args):
    _compare(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), DATA)


def test_distance_modules_match_torch():
    other = DATA[::-1].copy()
    _compare(nn.CosineSimilarity(dim=0), torch.nn.CosineSimilarity(dim=0), DATA, other)
    _compare(nn.PairwiseDistance(p=3.0), torch.nn.PairwiseDistance(p=3.0), DATA, other)


def test_glu_refuses_an_odd_dim_as_torch():
    with pytest.raises(RuntimeError):
        TF.glu(torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="glu"):
        F.glu(tg.zeros(2, 3))
