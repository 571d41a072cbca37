"""The parity sweep's compositions at their edge points against torch 2.13: values (to the last bit where
torch's rounding is the point), dtypes and float64 gradients through a weighted loss. Each case failed
before its op became a Function with torch's formula (ops.Lerp, Copysign, Logit, Hardswish, ...)."""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from weighted_loss import is_differentiable, weighted_sum

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(11)
START, END, WEIGHT = RNG.standard_normal(3000), RNG.standard_normal(3000) * 10, RNG.uniform(-0.5, 1.5, 3000)


def _run(fn, library, arrays):
    inputs = [library.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
              for a in arrays]
    return inputs, fn(library, *inputs)


def compare(fn, *arrays, bitwise=False):
    ours_in, ours = _run(fn, tg, arrays)
    theirs_in, theirs = _run(fn, torch, arrays)
    expected = theirs.detach().numpy()
    assert ours.shape == expected.shape and ours.dtype == expected.dtype, (ours.shape, ours.dtype, expected.dtype)
    if bitwise:
        np.testing.assert_array_equal(ours.numpy().view(np.uint8), expected.view(np.uint8))
    else:
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(np.signbit(ours.numpy()[ours.numpy() == 0]), np.signbit(expected[expected == 0]))
    if theirs.requires_grad and is_differentiable(theirs):
        weighted_sum(ours, tg).backward()
        weighted_sum(theirs, torch).backward()
        for a, b in zip(ours_in, theirs_in):
            if isinstance(a, tg.Tensor) and a.requires_grad:
                expected_grad = np.zeros(b.shape) if b.grad is None else b.grad.numpy()
                got = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
                np.testing.assert_allclose(got, expected_grad, rtol=1e-10, atol=1e-14)


def nn(name):
    return lambda L, *args, **kwargs: getattr(F if L is tg else TF, name)(*args, **kwargs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight", [0.3, 0.5, 0.7, 1.0, -0.2, 1.5, "tensor"])
def test_lerp_rounds_as_torchs_two_fused_multiply_adds(dtype, weight):
    start, end = START.astype(dtype), END.astype(dtype)
    if weight == "tensor":
        compare(lambda L, a, b, w: L.lerp(a, b, w), start, end, WEIGHT.astype(dtype), bitwise=True)
    else:
        compare(lambda L, a, b: a.lerp(b, weight), start, end, bitwise=True)


SPECIAL = np.array([0.0, -0.0, 1.0, -2.0, np.inf, -np.inf, np.nan, 3.0])
SPECIAL_2 = np.array([np.inf, 1.0, -0.0, np.nan, np.inf, 2.0, 1.0, 0.0])
EDGES = np.array([-4.0, -3.0, -2.9, -1e-300, 0.0, -0.0, 1.0, 2.999, 3.0, 3.5, np.inf, -np.inf, np.nan])
ZERO_ROWS = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.0], [1e-13, 0.0, 0.0]])

CASES = {
    "lerp special": (lambda L, a, b: L.lerp(a, b, 0.25), SPECIAL, SPECIAL_2),
    "lerp special tensor weight": (lambda L, a, b, w: a.lerp(b, w), SPECIAL, SPECIAL_2,
                                   np.array([0.2, 0.8, 0.5, 0.0, 1.0, 0.3, 0.6, 0.9])),
    "lerp broadcast": (lambda L, a, b, w: L.lerp(a, b, w), START[:3, None].copy(), END[:4], WEIGHT[:12].reshape(3, 4)),
    "copysign at 0, -0, inf": (lambda L, a, b: L.copysign(a, b),
                               np.array([0.0, -0.0, 0.0, -0.0, 1.5, -2.5, np.nan, np.inf, -np.inf]),
                               np.array([1.0, 1.0, -0.0, -1.0, -0.0, 0.0, -1.0, -np.inf, 2.0])),
    "copysign scalar": (lambda L, a: a.copysign(-0.0), np.array([0.0, -0.0, 2.0, np.inf])),
    "logit at 0, 1 and outside": (lambda L, a: L.logit(a), np.array([0.0, 0.3, 1.0, -0.5, 1.5, np.nan])),
    "logit eps boundaries": (lambda L, a: a.logit(eps=0.25), np.array([0.0, 0.25, 0.5, 0.75, 1.0, -1.0, np.nan])),
    "logit eps 0": (lambda L, a: a.logit(eps=0.0), np.array([0.0, 0.3, 1.0, -0.5])),
    "addmm alpha 0 ignores inf": (lambda L, c, a, b: L.addmm(c, a, b, alpha=0), np.ones((3, 2)),
                                  RNG.standard_normal((3, 4)), np.full((4, 2), np.inf)),
    "addmm beta 0 alpha 0": (lambda L, c, a, b: c.addmm(a, b, beta=0, alpha=0), np.full((3, 2), np.nan),
                             RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))),
    "remainder zero signs and infinities": (lambda L, a, b: L.remainder(a, b),
                                            np.array([5.0, -6.0, 6.0, 0.0, -0.0, np.inf, 1.0, 1.0, 3.0]),
                                            np.array([-3.0, 3.0, -3.0, -2.0, 2.0, 2.0, np.inf, -np.inf, 0.0])),
    "remainder by a negative number": (lambda L, a: a.remainder(-1.5), np.array([3.0, -3.0, 0.0, -0.0, 5.0])),
    "diff of fewer elements than n": (lambda L, a: L.diff(a, n=6), RNG.standard_normal((3, 5))),
    "diff empty": (lambda L, a: a.diff(), np.zeros((3, 0))),
    "diff bool": (lambda L, a: L.diff(a), np.array([True, False, False, True])),
    "diff prepend": (lambda L, a, p: L.diff(a, prepend=p), RNG.standard_normal((3, 5)), RNG.standard_normal((3, 2))),
    "diff append n 2 dim 0": (lambda L, a, p: a.diff(2, 0, append=p), RNG.standard_normal((3, 5)),
                              RNG.standard_normal((1, 5))),
    "repeat_interleave one count": (lambda L, a, r: a.repeat_interleave(r, dim=1), RNG.standard_normal((2, 3)),
                                    np.array([2])),
    "repeat_interleave counts only": (lambda L, r: L.repeat_interleave(r), np.array([2, 0, 1])),
    "repeat_interleave output_size": (lambda L, a: L.repeat_interleave(a, 2, dim=0, output_size=4),
                                      RNG.standard_normal((2, 3))),
    "take_along_dim broadcasts": (lambda L, a, i: L.take_along_dim(a, i, dim=1), RNG.standard_normal((3, 5)),
                                  np.array([[0, 4, 4]])),
    "take_along_dim broadcasts self": (lambda L, a, i: a.take_along_dim(i, dim=0), RNG.standard_normal((3, 1)),
                                       np.array([[0, 2, 1, 2]])),
    "take_along_dim negative index": (lambda L, a, i: L.take_along_dim(a, i, dim=1), RNG.standard_normal((3, 5)),
                                      np.array([[-1], [0], [-5]])),
    "hardswish at -3, 3, inf, nan": (nn("hardswish"), EDGES),
    "hardswish float32": (nn("hardswish"), EDGES.astype(np.float32)),
    "celu negative alpha": (lambda L, a: nn("celu")(L, a, -1.0), EDGES[:11].copy()),
    "celu -0.0 and NaN": (lambda L, a: nn("celu")(L, a, 0.5), np.array([-0.0, 0.0, -1.0, np.nan, np.inf, -np.inf])),
    "logit at -0.0": (lambda L, a: a.logit(), np.array([-0.0, 0.0, 1.0])),
    "lerp keeps -0.0": (lambda L, a, b: a.lerp(b, 0.5), np.array([-0.0, 0.0, -0.0]), np.array([-0.0, -0.0, 0.0])),
    "softsign of integers": (lambda L, a: nn("softsign")(L, a), np.array([[3, -1, 0]])),
    "tanhshrink of integers": (lambda L, a: nn("tanhshrink")(L, a), np.array([[3, -1, 0]])),
    "glu of an empty tensor": (lambda L, a: nn("glu")(L, a, 0), np.zeros((0, 3))),
    "threshold at the threshold and NaN": (lambda L, a: nn("threshold")(L, a, 1.0, -2.0),
                                           np.array([0.5, 1.0, 1.5, np.nan, -np.inf])),
    "threshold int keeps the dtype": (lambda L, a: nn("threshold")(L, a, 1, 7.5), np.array([0, 1, 2, 3])),
    "cosine_similarity zero norms": (nn("cosine_similarity"), ZERO_ROWS, ZERO_ROWS.copy()),
    "cosine_similarity large eps": (lambda L, a, b: nn("cosine_similarity")(L, a, b, eps=10.0), ZERO_ROWS,
                                    ZERO_ROWS[::-1].copy()),
    "cosine_similarity broadcast along dim": (nn("cosine_similarity"), RNG.standard_normal((3, 1)),
                                              RNG.standard_normal((3, 4))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_edge_points_match_torch(name):
    fn, *arrays = CASES[name]
    compare(fn, *arrays)


@pytest.mark.parametrize("call, error", [
    (lambda L: L.addcdiv(L.tensor([1, 2]), L.tensor([3, 4]), L.tensor([5, 6])), TypeError),
    (lambda L: L.diff(L.zeros(3), n=-1), RuntimeError),
    (lambda L: L.diff(L.tensor(1.0)), tg.ShapeError),
    (lambda L: L.diff(L.zeros(3), prepend=L.tensor(2.0)), tg.ShapeError),
    (lambda L: L.zeros(2, 3).take_along_dim(L.tensor([0, -1])), IndexError),
    (lambda L: L.repeat_interleave(L.zeros(3), L.tensor([1, -1, 2])), RuntimeError),
    (lambda L: L.repeat_interleave(L.zeros(2, 3), 2, dim=0, output_size=5), RuntimeError),
    (lambda L: L.lerp(L.tensor([1, 2]), L.tensor([3, 4]), 0.5), TypeError),
    (lambda L: L.positive(L.tensor([True])), TypeError),
    (lambda L: L.take(L.zeros(2, 3), L.tensor([1, 2], dtype=L.int32)), TypeError),
    (lambda L: L.fliplr(L.zeros(3)), tg.ShapeError),
    (lambda L: L.flipud(L.tensor(1.0)), tg.ShapeError),
    (lambda L: L.tensor(1.0).repeat_interleave(2, dim=0), IndexError),
    (lambda L: L.tensor([[True]]).trace(), TypeError),
    (lambda L: L.addcmul(L.tensor([True]), L.tensor([True]), L.tensor([True])), TypeError),
    (lambda L: (F if L is tg else TF).threshold(L.tensor([True]), 0, 1), TypeError),
])
def test_refusals_match_torch(call, error):
    with pytest.raises((RuntimeError, IndexError, NotImplementedError)):
        call(torch)
    with pytest.raises(error):
        call(tg)
