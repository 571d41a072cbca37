"""median, nanmedian, kthvalue, mode, cummax, cummin, logcumsumexp, nansum, nanmean against torch 2.13:
values, dtypes, torch's index among ties, errors, and gradients of sum(y * w) (tests/weighted_loss.py)."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.errors import DtypeError
from weighted_loss import is_differentiable, weighted_sum

torch = pytest.importorskip("torch")

NAN, INF = np.nan, np.inf


def _tolerance(dtype) -> dict:
    return dict(rtol=1e-13, atol=1e-300) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)


def _same(ours, theirs, what, exact=True):
    ours_np, theirs_np = ours.numpy(), theirs.detach().numpy()
    assert ours_np.dtype == theirs_np.dtype, what
    assert ours_np.shape == theirs_np.shape, what
    if not exact:  # sums and logarithms: torch's rounding order, not the same bits
        np.testing.assert_allclose(ours_np, theirs_np, equal_nan=True, err_msg=what, **_tolerance(ours_np.dtype))
        return
    assert np.array_equal(ours_np, theirs_np, equal_nan=True), f"{what}: {ours_np} != {theirs_np}"
    if ours_np.dtype.kind == "f":
        assert np.array_equal(np.signbit(ours_np), np.signbit(theirs_np)), f"{what}: signs of zero differ"


def compare(call, data, what="", exact=True):
    """call(tensor, library) on both engines: equal results (values, indices; exact=False: values within
    rounding), equal weighted-loss gradients."""
    grad = data.dtype.kind == "f"
    ours_in = tg.tensor(data, requires_grad=grad)
    theirs_in = torch.tensor(data, requires_grad=grad)
    ours, theirs = call(ours_in, tg), call(theirs_in, torch)
    ours_all = ours if isinstance(ours, tuple) else (ours,)
    theirs_all = theirs if isinstance(theirs, tuple) else (theirs,)
    for mine, expected in zip(ours_all, theirs_all):
        _same(mine, expected, what, exact)
    if grad and is_differentiable(ours_all[0]):
        weighted_sum(ours_all[0], tg).backward()
        weighted_sum(theirs_all[0], torch).backward()
        np.testing.assert_allclose(ours_in.grad.numpy(), theirs_in.grad.numpy(), equal_nan=True, err_msg=what,
                                   **_tolerance(data.dtype))
    return ours


def _tied_rows(rng, shape, dtype, nan_share=0.2):
    data = rng.integers(-2, 3, size=shape).astype(dtype)
    if data.dtype.kind == "f" and data.size:
        holes = rng.random(shape) < nan_share
        data[holes] = rng.choice([NAN, INF, -INF, -0.0], size=int(holes.sum()))
    return data


SHAPES = [(7,), (3, 5), (2, 17, 3), (40,), (4, 33)]  # above 16 elements torch's sort is no longer an insertion sort


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
@pytest.mark.parametrize("shape", SHAPES)
def test_tie_indices_and_gradients_match_torch(shape, dtype):
    rng = np.random.default_rng(sum(shape) + np.dtype(dtype).itemsize)
    for _ in range(4):
        data = _tied_rows(rng, shape, dtype)
        for dim in range(-len(shape), len(shape)):
            for keepdim in (False, True):
                compare(lambda t, lib: t.median(dim, keepdim), data, f"median {dim}")
                compare(lambda t, lib: t.nanmedian(dim, keepdim), data, f"nanmedian {dim}")
                compare(lambda t, lib: t.mode(dim, keepdim), data, f"mode {dim}")
                for k in sorted({1, 2, shape[dim] // 2 + 1, shape[dim]}):
                    compare(lambda t, lib: t.kthvalue(k, dim, keepdim), data, f"kthvalue {k} {dim}")
            compare(lambda t, lib: t.cummax(dim), data, f"cummax {dim}")
            compare(lambda t, lib: t.cummin(dim), data, f"cummin {dim}")
            compare(lambda t, lib: t.nansum(dim), data, f"nansum {dim}", exact=False)
            if data.dtype.kind == "f":
                compare(lambda t, lib: t.logcumsumexp(dim), data.clip(-5, 5), f"logcumsumexp {dim}", exact=False)
                compare(lambda t, lib: t.nanmean(dim), data, f"nanmean {dim}", exact=False)
        compare(lambda t, lib: t.median(), data, "median()")
        compare(lambda t, lib: t.nanmedian(), data, "nanmedian()")
        compare(lambda t, lib: t.nansum(), data, "nansum()", exact=False)


def test_the_median_of_signed_zeros_has_torchs_sign():
    rng = np.random.default_rng(0)
    for _ in range(300):
        data = rng.choice([0.0, -0.0, 1.0, -1.0, NAN], size=int(rng.integers(1, 40)))
        compare(lambda t, lib: t.nanmedian(), data, f"nanmedian {data}")
        compare(lambda t, lib: t.median(), data[~np.isnan(data)] if (~np.isnan(data)).any() else data, "median")


def test_ties_share_the_gradient_of_the_global_median_and_nans_take_it_when_they_win():
    compare(lambda t, lib: t.median(), np.array([3.0, 1.0, 2.0, 1.0, 3.0, 2.0]))
    compare(lambda t, lib: t.median(), np.array([1.0, NAN, 3.0, NAN]))
    compare(lambda t, lib: t.nanmedian(), np.array([NAN, NAN]))
    t = tg.tensor([3.0, 1.0, 2.0, 1.0, 3.0, 2.0], requires_grad=True)
    t.median().backward()
    assert t.grad.numpy().tolist() == [0, 0, 0.5, 0, 0, 0.5]


def test_return_types_carry_torchs_names():
    t = tg.tensor([[3.0, 1.0, 2.0]])
    for name in ("median", "nanmedian", "mode", "cummax", "cummin"):
        result = getattr(t, name)(1)
        assert type(result).__name__ == name and result._fields == ("values", "indices")
    assert type(t.kthvalue(1)).__name__ == "kthvalue"
    assert t.kthvalue(2).values.item() == 2.0 and t.kthvalue(2).indices.item() == 2


def test_functions_under_torchs_names():
    data = np.array([[4.0, NAN, 1.0], [2.0, 2.0, 5.0]])
    t = tg.tensor(data)
    assert tg.median(t, 1).indices.tolist() == [1, 1]
    assert tg.nanmedian(t).item() == 2.0
    assert tg.kthvalue(t, 1, 0).values.numpy()[0] == 2.0
    assert tg.mode(t, 1).values.numpy()[1] == 2.0
    assert tg.cummax(t, 1).indices.tolist() == [[0, 1, 1], [0, 1, 2]]
    assert tg.cummin(t, 1).indices.tolist() == [[0, 1, 1], [0, 1, 1]]
    assert tg.nansum(t).item() == 14.0
    assert tg.nanmean(t, 1).numpy().tolist() == [2.5, 3.0]
    np.testing.assert_allclose(tg.logcumsumexp(tg.tensor([0.0, 0.0]), 0).numpy(), [0.0, np.log(2)])


def test_zero_d_and_empty_inputs():
    for data in (np.array(5.0), np.array(-0.0)):
        compare(lambda t, lib: t.median(0), data)
        compare(lambda t, lib: t.kthvalue(1, 0), data)
        compare(lambda t, lib: t.mode(0), data)
        compare(lambda t, lib: t.cummax(0), data)
        compare(lambda t, lib: t.logcumsumexp(0), data)
        compare(lambda t, lib: t.median(), data)
    compare(lambda t, lib: t.median(), np.zeros(0))
    compare(lambda t, lib: t.nansum(), np.zeros(0))
    compare(lambda t, lib: t.nanmean(), np.zeros(0))
    compare(lambda t, lib: t.median(1), np.zeros((0, 3)))
    compare(lambda t, lib: t.cummax(1), np.zeros((3, 0)))
    compare(lambda t, lib: t.logcumsumexp(0), np.zeros(0))


def test_integer_and_bool_dtypes_follow_torch():
    compare(lambda t, lib: t.nansum(), np.array([1, 2, 3], dtype=np.int8))
    compare(lambda t, lib: t.nansum(), np.array([True, False, True]))
    compare(lambda t, lib: t.mode(0), np.array([True, False, True]))
    compare(lambda t, lib: t.cummax(0), np.array([True, False, True]))
    compare(lambda t, lib: t.nanmean(dtype=lib.float64), np.array([1.0, 2.0], dtype=np.float32))
    compare(lambda t, lib: t.nansum(0, True, dtype=lib.float64), np.array([1.0, 2.0], dtype=np.float32))


@pytest.mark.parametrize("call, data", [
    (lambda t: t.median(), np.array([True, False])),
    (lambda t: t.median(0), np.array([True, False])),
    (lambda t: t.nanmedian(0), np.array([True, False])),
    (lambda t: t.kthvalue(1), np.array([True, False])),
    (lambda t: t.logcumsumexp(0), np.array([1, 2])),
    (lambda t: t.nanmean(), np.array([1, 2])),
    (lambda t: t.nanmean(dtype=t.float().dtype), np.array([1, 2])),
])
def test_dtypes_torch_refuses_raise_a_type_error_that_is_also_torchs(call, data):
    with pytest.raises(Exception) as torch_error:
        call(torch.tensor(data))
    with pytest.raises(DtypeError) as ours:
        call(tg.tensor(data))
    assert isinstance(ours.value, TypeError) and isinstance(ours.value, type(torch_error.value))


@pytest.mark.parametrize("call", [lambda t: t.kthvalue(0), lambda t: t.kthvalue(4), lambda t: t.median(2),
                                  lambda t: t.mode(-3), lambda t: t.cummax(5)])
def test_out_of_range_k_and_dims_raise(call):
    with pytest.raises((IndexError, RuntimeError)):
        call(torch.zeros(2, 3))
    with pytest.raises(IndexError):
        call(tg.zeros(2, 3))


def test_reducing_an_empty_dim_raises_index_error_as_torch():
    for name in ("median", "nanmedian", "mode"):
        with pytest.raises(IndexError):
            getattr(torch.zeros(0, 3), name)(0)
        with pytest.raises(IndexError, match=name):
            getattr(tg.zeros(0, 3), name)(0)


def test_logcumsumexp_gradient_at_infinities_and_nan_matches_torch():
    for data in ([-INF, -INF, -INF, 1.0], [INF, 1.0], [1.0, 1.0, 1.0, NAN], [800.0, -800.0, 3.0]):
        compare(lambda t, lib: t.logcumsumexp(0), np.array(data), exact=False)
