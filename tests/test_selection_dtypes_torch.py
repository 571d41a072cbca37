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
    if name.startswith("topk"):  # which of several equal values topk reports differs from torch (README)
        np.testing.assert_array_equal(data[ours.indices.numpy()], ours.values.numpy())
        pairs = pairs[:1]
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
