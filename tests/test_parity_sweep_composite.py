"""Tensor methods and tg.<name> functions composed of other ops (methods/composite.py), against torch:
values, dtypes, shapes and float64 gradients."""
import numpy as np
import pytest

import tinygrad_opt as tg
from weighted_loss import is_differentiable, weighted_sum

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
M = RNG.standard_normal((3, 4))
SQ = RNG.standard_normal((4, 4))
V = RNG.standard_normal(4)
B3 = RNG.standard_normal((2, 3, 4))


def _run(fn, library, arrays):
    inputs = [library.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
              for a in arrays]
    return inputs, fn(library, *inputs)


def compare(fn, *arrays, grad=True):
    ours_in, ours = _run(fn, tg, arrays)
    theirs_in, theirs = _run(fn, torch, arrays)
    expected = theirs.detach().numpy()
    assert ours.shape == expected.shape and ours.dtype == expected.dtype, (ours.shape, ours.dtype, expected.dtype)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-14)
    if grad and theirs.requires_grad and is_differentiable(theirs):
        weighted_sum(ours, tg).backward()
        weighted_sum(theirs, torch).backward()
        for a, b in zip(ours_in, theirs_in):
            if isinstance(a, tg.Tensor) and a.requires_grad:
                # no gradient and a zero gradient mean the same (torch may hand back a ZeroTensor)
                expected_grad = np.zeros(b.shape) if b.grad is None or b.grad._is_zerotensor() else b.grad.numpy()
                got = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
                np.testing.assert_allclose(got, expected_grad, rtol=1e-10, atol=1e-14)


CASES = {
    "mm": (lambda L, a, b: L.mm(a, b), M, SQ),
    "mm method": (lambda L, a, b: a.mm(b), M, SQ),
    "bmm": (lambda L, a, b: L.bmm(a, b), B3, RNG.standard_normal((2, 4, 5))),
    "mv": (lambda L, a, b: a.mv(b), M, V),
    "dot": (lambda L, a, b: L.dot(a, b), V, V[::-1].copy()),
    "inner 1d": (lambda L, a, b: L.inner(a, b), V, V[::-1].copy()),
    "inner nd": (lambda L, a, b: L.inner(a, b), B3, M),
    "outer": (lambda L, a, b: L.outer(a, b), V, M[0].copy()),
    "matmul method": (lambda L, a, b: a.matmul(b), B3, SQ),
    "addmm": (lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0), M[:, :3].copy(), M, M.T.copy()[:, :3].copy()),
    "addmm beta 0": (lambda L, c, a, b: c.addmm(a, b, beta=0), np.full((3, 3), np.nan), M, M.T.copy()[:, :3].copy()),
    "addmv": (lambda L, c, a, b: L.addmv(c, a, b, alpha=-1), V[:3].copy(), M, V),
    "addcmul": (lambda L, c, a, b: L.addcmul(c, a, b, value=0.5), M, M[::-1].copy(), M[:1].copy()),
    "addcdiv": (lambda L, c, a, b: c.addcdiv(a, b, value=-2), M, M[::-1].copy(), M[:1].copy() + 3),
    "lerp scalar": (lambda L, a, b: L.lerp(a, b, 0.3), M, M[::-1].copy()),
    "lerp tensor": (lambda L, a, b, w: a.lerp(b, w), M, M[::-1].copy(), RNG.uniform(size=4)),
    "fmod": (lambda L, a, b: L.fmod(a, b), M * 5, M[::-1].copy() + 0.1),
    "fmod scalar": (lambda L, a: a.fmod(-1.5), M * 5),
    "fmod exact": (lambda L, a, b: L.fmod(a, b), np.array([1e10 + 0.5, -7.25, -0.0, 5.0]),
                   np.array([0.3, 2.0, 3.0, -5.0])),
    "fmod int": (lambda L, a, b: a.fmod(b), np.array([-7, 7, -7, 5]), np.array([2, -2, -2, 3])),
    "frac": (lambda L, a: a.frac(), M * 3),
    "sgn": (lambda L, a: L.sgn(a), M),
    "sign nan": (lambda L, a: a.sign(), np.array([np.nan, -0.0, 2.0, -np.inf])),
    "positive": (lambda L, a: L.positive(a), M),
    "clone": (lambda L, a: L.clone(a), M),
    "copysign": (lambda L, a, b: L.copysign(a, b), M, np.array([1.0, -0.0, 0.0, -2.0])),
    "copysign scalar int": (lambda L, a: a.copysign(-1), np.array([1, -2, 0])),
    "logit": (lambda L, a: L.logit(a), RNG.uniform(0.05, 0.95, (3, 4))),
    "logit eps": (lambda L, a: a.logit(eps=0.1), np.array([0.0, 0.05, 0.5, 1.0])),
    "signbit": (lambda L, a: a.signbit(), np.array([0.0, -0.0, -1.0, np.nan, np.inf])),
    "xlogy": (lambda L, a, b: L.xlogy(a, b), np.array([0.0, 1.5, 0.0, 2.0]), np.array([0.5, 2.0, np.nan, 3.0])),
    "xlogy scalar": (lambda L, a: a.xlogy(2), np.array([0.0, 1.5, 2.0])),
    "nan_to_num": (lambda L, a: a.nan_to_num(posinf=4.0, neginf=-5.0), np.array([np.nan, np.inf, -np.inf, 1.5])),
    "nan_to_num values": (lambda L, a: L.nan_to_num(a, nan=1.0, posinf=2.0, neginf=-3.0),
                          np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)),
    "float_power": (lambda L, a: L.float_power(a, 2), np.array([1, 2, 3], np.int32)),
    "float_power f32": (lambda L, a, b: a.float_power(b), np.abs(M).astype(np.float32), M.astype(np.float32)),
    "deg2rad": (lambda L, a: a.deg2rad(), M * 90),
    "rad2deg int": (lambda L, a: L.rad2deg(a), np.array([1, 2])),
    "diagonal": (lambda L, a: a.diagonal(), M),
    "diagonal offset": (lambda L, a: L.diagonal(a, 1), M),
    "diagonal neg offset": (lambda L, a: a.diagonal(-1), M),
    "diagonal dims": (lambda L, a: a.diagonal(0, 2, 0), B3),
    "diag 2d": (lambda L, a: L.diag(a, 1), SQ),
    "diag 1d": (lambda L, a: L.diag(a), V),
    "diag 1d offset": (lambda L, a: a.diag(-2), V),
    "trace": (lambda L, a: a.trace(), M),
    "tile": (lambda L, a: L.tile(a, (2, 1, 2)), M),
    "tile fewer": (lambda L, a: a.tile(2), M),
    "repeat_interleave": (lambda L, a: a.repeat_interleave(2), M),
    "repeat_interleave dim": (lambda L, a: L.repeat_interleave(a, 3, dim=1), M),
    "repeat_interleave tensor": (lambda L, a, r: a.repeat_interleave(r, dim=0), M, np.array([1, 0, 2])),
    "take": (lambda L, a, i: L.take(a, i), M, np.array([[0, 11], [5, -1]])),
    "take_along_dim": (lambda L, a, i: L.take_along_dim(a, i, dim=1), M, np.array([[0], [3], [1]])),
    "count_nonzero": (lambda L, a: L.count_nonzero(a), np.array([[0, 1, 2], [0, 0, 3]])),
    "count_nonzero dim": (lambda L, a: a.count_nonzero(dim=0), np.array([[0, 1, 2], [0, 0, 3]])),
    "argwhere": (lambda L, a: L.argwhere(a), np.array([[0, 1, 2], [0, 0, 3]])),
    "fliplr": (lambda L, a: L.fliplr(a), M),
    "flipud": (lambda L, a: a.flipud(), M),
    "diff": (lambda L, a: L.diff(a), M),
    "diff n dim": (lambda L, a: a.diff(2, dim=0), B3),
    "ravel": (lambda L, a: L.ravel(a.transpose(0, 1)), M),
    "view_as": (lambda L, a, b: a.view_as(b), M, M.reshape(4, 3)),
    "reshape_as": (lambda L, a, b: a.reshape_as(b), M, M.reshape(2, 6)),
    "type_as": (lambda L, a, b: a.type_as(b), np.array([1, 2]), M),
    "isclose": (lambda L, a, b: L.isclose(a, b, rtol=0.1), M, M * 1.05),
    "eq": (lambda L, a, b: L.eq(a, b), np.array([1, 2, 3]), np.array([1, 0, 3])),
    "ge method": (lambda L, a: a.ge(0.5), M),
    "greater": (lambda L, a, b: L.greater(a, b), M, M[::-1].copy()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_composite_matches_torch(name):
    fn, *arrays = CASES[name]
    compare(fn, *arrays)


def test_nan_to_num_defaults_are_the_dtypes_extremes():
    for dtype in (np.float64, np.float32, np.float16):
        data = np.array([np.nan, np.inf, -np.inf, 1.5], dtype)
        np.testing.assert_array_equal(tg.tensor(data).nan_to_num().numpy(), torch.tensor(data).nan_to_num().numpy())


def test_queries_match_torch():
    for data in (M, M.astype(np.float32), np.array([1, 2], np.int8), np.array(True)):
        x, t = tg.tensor(data), torch.tensor(data)
        assert x.is_floating_point() == t.is_floating_point()
        assert x.element_size() == t.element_size() and x.itemsize == t.itemsize and x.nbytes == t.nbytes
        assert x.ndimension() == t.ndimension() and x.nelement() == t.nelement()
        assert x.is_contiguous() and x.is_cuda is False
    assert not tg.tensor(M).transpose(0, 1).is_contiguous()
    assert tg.equal(tg.tensor(M), tg.tensor(M.copy())) and not tg.tensor(M).equal(tg.tensor(M[:2]))
    assert tg.allclose(tg.tensor(M), tg.tensor(M + 1e-9)) and not tg.tensor(M).allclose(tg.tensor(M + 1))


def test_products_check_their_ranks():
    for call in (lambda L: L.mm(L.zeros(2), L.zeros(2, 2)), lambda L: L.dot(L.zeros(2, 2), L.zeros(2)),
                 lambda L: L.zeros(3).mv(L.zeros(3)), lambda L: L.outer(L.zeros(2, 2), L.zeros(2))):
        with pytest.raises(RuntimeError):
            call(torch)
        with pytest.raises(RuntimeError):
            call(tg)


IDX = np.array([[0, 2, 1, 0], [1, 0, 2, 2]])


@pytest.mark.parametrize("name", ["scatter src", "scatter value", "scatter dim1", "scatter_ in graph",
                                  "index_fill", "index_fill_ tensor value"])
def test_scatter_and_index_fill_match_torch(name):
    cases = {
        "scatter src": (lambda L, a, s: a.scatter(0, L.tensor(IDX), s), M, M[:2] * 3),
        "scatter value": (lambda L, a: a.scatter(0, L.tensor(IDX[:1]), 2.5), M),
        "scatter dim1": (lambda L, a, s: a.scatter(1, L.tensor([[3], [0], [1]]), s), M, M[:, :1] * 2),
        "scatter_ in graph": (lambda L, a, s: (a * 1).scatter_(0, L.tensor(IDX[:1]), s), M, M[:1] + 1),
        "index_fill": (lambda L, a: a.index_fill(1, L.tensor([0, 2]), -1.0), M),
        "index_fill_ tensor value": (lambda L, a, v: (a * 2).index_fill_(0, L.tensor([1]), v), M,
                                     np.array(4.0)),
    }
    fn, *arrays = cases[name]
    compare(fn, *arrays)


def test_scatter_with_a_place_named_twice_writes_once():
    """value= writes the same number at a place named twice: 1, as torch's, not the sum of the writes."""
    index = [[0, 1, 0], [0, 1, 0]]  # every column names row 0 or 1 twice
    ours = tg.zeros(3, 3).scatter(0, tg.tensor(index), value=1.0)
    theirs = torch.zeros(3, 3).scatter(0, torch.tensor(index), value=1.0)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_scatter_with_repeats_keeps_the_last_write_and_torchs_gradients():
    """The last write in index order wins (torch's CPU order too); dL/dsrc gathers g for every write,
    the lost ones included, and dL/da is 0 at every written place, as torch's backward formulas."""
    index = [[0, 1, 0], [0, 1, 0]]
    weights = np.arange(9.0).reshape(3, 3)
    results = []
    for L in (tg, torch):
        a = L.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
        src = L.tensor(np.arange(6.0).reshape(2, 3) + 10, requires_grad=True)
        y = a.scatter(0, L.tensor(index), src)
        (y * L.tensor(weights)).sum().backward()
        results.append([t.detach().numpy() if L is torch else t.numpy() for t in (y, a.grad, src.grad)])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_scatter_refuses_a_src_of_another_dtype_as_torch():
    with pytest.raises(TypeError, match="scatter.*float32.*int64"):
        tg.zeros(3).scatter(0, tg.tensor([0]), tg.tensor([1]))


def test_xlogy_gradients_where_self_or_other_is_zero_match_torch():
    """dL/dself = log(other), also where self == 0 (the forward's 0 there is a value, not a cut in the graph),
    but 0 where self == 0 and other <= 0; dL/dother = self / other."""
    a_values = [0.0, 0.0, 2.0, 0.0, 1.5, 0.0, 2.0, -1.0, 0.0]
    b_values = [0.0, 3.0, 0.5, np.nan, 0.0, -1.0, -1.0, 0.0, np.inf]
    results = []
    for L in (tg, torch):
        a = L.tensor(a_values, dtype=L.float64, requires_grad=True)
        b = L.tensor(b_values, dtype=L.float64, requires_grad=True)
        y = a.xlogy(b)
        y.sum().backward()
        results.append([t.detach().numpy() if L is torch else t.numpy() for t in (y, a.grad, b.grad)])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
