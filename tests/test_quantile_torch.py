"""quantile and nanquantile against torch 2.13: values (the sign of a zero too), shapes, which of equal
elements gets the gradient (torch's sort order, rows past 16 elements where std::sort is no longer an
insertion sort), NaN rows, the gradient of q, and torch's errors in torch's order."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.errors import ArgumentValueError, DtypeError, ShapeError
from raised_error import raised
from weighted_loss import weighted_sum

torch = pytest.importorskip("torch")

NAN, INF = np.nan, np.inf
MODES = ["linear", "lower", "higher", "midpoint", "nearest"]


def _same_values(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    assert np.array_equal(ours, theirs, equal_nan=True), f"{what}: {ours} != {theirs}"
    number = ~np.isnan(ours)  # a NaN's sign bit is the hardware's, not torch's
    assert np.array_equal(np.signbit(ours[number]), np.signbit(theirs[number])), f"{what}: signs of zero differ"


def compare(data: np.ndarray, q, op: str = "quantile", q_grad: bool = False, **options):
    """op on both engines (q a number or a list, made a tensor of data's dtype): equal values, equal
    gradients of sum(y * w) for the input and, with q_grad, for q (or both None)."""
    what = f"{op}({data.shape}, q={q}, {options})"
    ours_in, theirs_in = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours_q, theirs_q = q, q
    if isinstance(q, list):
        ours_q = tg.tensor(q, dtype=data.dtype, requires_grad=q_grad)
        theirs_q = torch.tensor(q, dtype=theirs_in.dtype, requires_grad=q_grad)
    ours = getattr(tg, op)(ours_in, ours_q, **options)
    theirs = getattr(torch, op)(theirs_in, theirs_q, **options)
    _same_values(ours.numpy(), theirs.detach().numpy(), what)
    weighted_sum(ours, tg).backward()
    weighted_sum(theirs, torch).backward()
    tolerance = dict(rtol=1e-12, atol=1e-300) if data.dtype == np.float64 else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours_in.grad.numpy(), theirs_in.grad.numpy(), err_msg=what, **tolerance)
    if q_grad:
        if theirs_q.grad is None:
            assert ours_q.grad is None, what
        else:
            np.testing.assert_allclose(ours_q.grad.numpy(), theirs_q.grad.numpy(), equal_nan=True, err_msg=what,
                                       **tolerance)
    return ours


def _tied(rng, shape, dtype, holes: float = 0.2) -> np.ndarray:
    """Small integers (many ties) with NaN, +-inf and -0.0 in some places."""
    data = rng.integers(-2, 3, size=shape).astype(dtype)
    where = rng.random(shape) < holes
    data[where] = rng.choice([NAN, INF, -INF, -0.0], size=int(where.sum()))
    return data


@pytest.mark.parametrize("op", ["quantile", "nanquantile"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_nan_and_zeros_match_torch(op, mode, dtype):
    rng = np.random.default_rng(7)
    for shape, dim in [((7,), None), ((3, 5), 1), ((2, 17, 3), 1), ((40,), 0), ((4, 33), -1), ((33, 4), 0)]:
        data = _tied(rng, shape, dtype)
        for q in (0.0, 0.3, 0.5, 1.0, [0.1, 0.5, 0.5, 0.97]):
            for keepdim in (False, True):
                compare(data, q, op, interpolation=mode, dim=dim, keepdim=keepdim)


@pytest.mark.parametrize("op", ["quantile", "nanquantile"])
@pytest.mark.parametrize("mode", MODES)
def test_gradient_of_q_matches_torch(op, mode):
    """linear: q gets g * (above - below) * (n - 1), 0 on a row whose rank was fixed (a NaN row for
    quantile, an all-NaN row for nanquantile); the other modes leave q without a gradient (None)."""
    data = np.array([[3.0, 1.0, 4.0, 2.0, 7.0], [1.0, NAN, 9.0, 2.0, 5.0], [NAN] * 5])
    compare(data, [0.3, 0.9, 0.0], op, q_grad=True, dim=1, interpolation=mode)
    compare(data[:2], [0.45], op, q_grad=True, interpolation=mode)
    ours_q = tg.tensor(0.4, dtype=tg.float64, requires_grad=True)
    assert getattr(tg, op)(tg.tensor(data), ours_q, interpolation=mode).requires_grad == (mode == "linear")


def test_shapes_match_torch():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(2, 3, 4))
    for q in (0.25, [0.25], [0.1, 0.2, 0.9], []):
        for dim in (None, 0, 1, -1):
            for keepdim in (False, True):
                compare(data, q, dim=dim, keepdim=keepdim)
    for q in (0.5, [0.2, 0.8]):  # a 0-d input: dim 0 or -1, keepdim adds nothing
        for dim in (None, 0, -1):
            compare(np.array(2.5), q, dim=dim, keepdim=True)


def test_infinities_interpolate_as_torch():
    """inf - inf inside torch's lerp gives NaN; a weight of 0 keeps an infinite end."""
    data = np.array([-INF, -1.0, 2.0, INF])
    for mode in MODES:
        compare(data, [0.0, 0.2, 0.5, 0.9, 1.0], interpolation=mode)
        compare(np.array([-INF, INF]), 0.5, interpolation=mode)


def test_function_method_and_positional_forms_agree():
    x = tg.tensor([[1.0, 5.0, 2.0], [4.0, 3.0, 6.0]])
    expected = tg.quantile(x, 0.5, dim=1, keepdim=True, interpolation="lower")
    assert np.array_equal(x.quantile(0.5, 1, True, interpolation="lower").numpy(), expected.numpy())
    assert np.array_equal(expected.numpy(), np.array([[2.0], [4.0]], dtype=np.float32))
    assert np.array_equal(tg.nanquantile(x, 1).numpy(), x.nanquantile(True).numpy())



@pytest.mark.parametrize("call,expected,words", [
    (lambda m: m.quantile(m.zeros(0, dtype=m.int64), 1.5, dim=7, interpolation="x"), ArgumentValueError,
     "q must be in the range [0, 1] but got 1.5"),
    (lambda m: m.quantile(m.zeros(3), float("nan")), ArgumentValueError, "q must be in the range [0, 1] but got nan"),
    (lambda m: m.quantile(m.zeros(0, dtype=m.int64), 0.5, dim=7, interpolation="x"), ArgumentValueError,
     "interpolation must be one of linear, lower, higher, midpoint or nearest"),
    (lambda m: m.nanquantile(m.zeros(0, dtype=m.int64), m.zeros(2, 2), dim=7), ShapeError, "non-empty"),
    (lambda m: m.quantile(m.zeros(3, dtype=m.int64), m.zeros(2, 2), dim=7), ShapeError, "scalar or 1D"),
    (lambda m: m.quantile(m.zeros(3, dtype=m.int64), m.zeros(2, dtype=m.float64), dim=7), DtypeError,
     "float or double"),
    (lambda m: m.quantile(m.zeros(3, dtype=m.float16), 0.5), DtypeError, "float or double"),
    (lambda m: m.quantile(m.zeros(3), m.zeros(2, dtype=m.float64), dim=7), DtypeError, "same dtype"),
    (lambda m: m.quantile(m.zeros(3), m.tensor([2.0]), dim=7), IndexError, "out of range"),
    (lambda m: m.quantile(m.zeros(3), m.tensor([0.5, 2.0])), ArgumentValueError, "q values must be in the range"),
    (lambda m: m.nanquantile(m.zeros(3), m.tensor([NAN])), ArgumentValueError, "q values must be in the range"),
    (lambda m: m.quantile(m.zeros(3), [0.5]), TypeError, "q"),
    (lambda m: m.quantile(m.zeros(3), 0.5, dim=True), TypeError, "dim"),
    (lambda m: m.quantile(m.zeros(0), 2.0, dim=1.0), TypeError, "dim"),  # types before values, as torch's parser
    (lambda m: m.quantile(m.zeros(0), 2.0, keepdim=1), TypeError, "keepdim"),
    (lambda m: m.nanquantile(m.zeros(0), 2.0, interpolation=None), TypeError, "interpolation"),
])
def test_errors_in_torch_order(call, expected, words):
    """The first check torch fails is the one the engine reports, of a type torch code can catch."""
    ours, theirs = raised(call, tg), raised(call, torch)
    assert isinstance(ours, expected), ours
    assert isinstance(ours, type(theirs)), (ours, theirs)  # RuntimeError / IndexError / TypeError as torch
    assert words in str(ours) and "quantile" in str(ours)
    if not isinstance(ours, TypeError):
        assert words.split(" [")[0] in str(theirs)


def test_ties_decided_in_backward_survive_a_second_backward():
    """Rows of equal values without -0.0: the forward pass leaves torch's tie order to backward, which
    works it out once; a retained graph's second backward sends the gradient to the same elements."""
    data = np.random.default_rng(5).integers(0, 3, size=(3, 40)).astype(np.float64)
    ours_in, theirs_in = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours = ours_in.quantile(tg.tensor([0.3, 0.61], dtype=tg.float64), dim=1)
    theirs = theirs_in.quantile(torch.tensor([0.3, 0.61], dtype=torch.float64), dim=1)
    for _ in range(2):
        weighted_sum(ours, tg).backward(retain_graph=True)
        weighted_sum(theirs, torch).backward(retain_graph=True)
    np.testing.assert_allclose(ours_in.grad.numpy(), theirs_in.grad.numpy(), rtol=1e-12)
    assert np.count_nonzero(ours_in.grad.numpy()) <= 12
