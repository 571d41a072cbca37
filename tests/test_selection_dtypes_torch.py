"""Sorting and selection ops take the dtypes torch takes and refuse the ones it refuses, with its errors."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.errors import DtypeError
from weighted_loss import weighted_sum

torch = pytest.importorskip("torch")

DTYPES = ["bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8"]
OPS = {
    "topk": lambda t: t.topk(2), "topk_smallest": lambda t: t.topk(2, largest=False), "sort": lambda t: t.sort(),
    "sort_descending": lambda t: t.sort(descending=True), "argsort": lambda t: t.argsort(),
    "msort": lambda t: t.msort(),
    "kthvalue": lambda t: t.kthvalue(2), "median": lambda t: t.median(), "median_dim": lambda t: t.median(0),
    "nanmedian": lambda t: t.nanmedian(), "mode": lambda t: t.mode(), "cummax": lambda t: t.cummax(0),
    "cummin": lambda t: t.cummin(0), "max_dim": lambda t: t.max(0), "argmax": lambda t: t.argmax(),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPS))
def test_accepts_and_refuses_the_dtypes_torch_does(name, dtype):
    data = np.array([1, 0, 1, 3, 0]).astype(dtype)
    try:
        expected = OPS[name](torch.tensor(data))
    except (RuntimeError, TypeError) as torch_error:
        with pytest.raises(TypeError) as ours:
            OPS[name](tg.tensor(data))
        assert isinstance(ours.value, type(torch_error)), "the engine's error is also the type torch raises"
        return
    ours = OPS[name](tg.tensor(data))
    pairs = list(zip(ours if isinstance(ours, tuple) else (ours,), expected if isinstance(expected, tuple) else
                     (expected,)))
    for mine, theirs in pairs:
        assert mine.numpy().dtype == theirs.numpy().dtype
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_topk_on_bool_names_the_op_and_the_fix():
    with pytest.raises(DtypeError, match=r"topk\(\).*bool.*\.long\(\)"):
        tg.tensor([True, False]).topk(1)


def test_msort_sorts_along_the_first_dim_with_the_gradient_of_sort():
    data = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -2.0], [1.0, 1.0, 9.0]])
    ours, theirs = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    np.testing.assert_array_equal(tg.msort(ours).numpy(), torch.msort(theirs).detach().numpy())
    weighted_sum(ours.msort(), tg).backward()
    weighted_sum(theirs.msort(), torch).backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_topk_reports_torchs_index_among_ties_and_its_unsorted_order(dtype):
    rng = np.random.default_rng(3)
    for _ in range(150):
        shape = tuple(int(n) for n in rng.integers(1, 8, rng.integers(1, 3))) if rng.random() < 0.7 else (300,)
        data = rng.integers(0, int(rng.integers(1, 6)), shape).astype(dtype)
        if data.dtype.kind == "f" and rng.random() < 0.3:
            data.flat[rng.integers(0, data.size, 2)] = np.nan
        dim = int(rng.integers(-data.ndim, data.ndim))
        k = int(rng.integers(0, shape[dim] + 1))
        largest, ordered = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        theirs = torch.tensor(data).topk(k, dim, largest, ordered)
        ours = tg.tensor(data).topk(k, dim, largest, ordered)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
