"""kernels/activation_gpu.py run on the CPU through tests/cuda_emulator.py (its CUDA C compiled by g++).

No GPU has run these kernels: this checks their wrappers (argument order, scalar dtypes,
the saved outputs of GELU) and the arithmetic of their bodies against the reference.
LeakyReLU has no math function and must be bitwise equal; the others call exp, expm1,
erf, tanh or log1p, which differ by ulps between math libraries, so they get a tolerance.
"""
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cuda_emulator import Emulator
from tinygrad_opt.kernels import activation_reference as reference

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to compile the kernels for the host")

CASES = [("leaky_relu", (0.1,)), ("silu", ()), ("elu", (1.5, 1.0, 1.0)), ("elu", (0.5, 2.0, 0.25)),
         ("gelu", ("none",)), ("gelu", ("tanh",)), ("softplus", (1.0, 20.0)), ("softplus", (2.0, 3.0))]


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    return Emulator(tmp_path_factory.mktemp("cuda_emulator")).load_gpu_module("activation_gpu.py")


def outputs(result):
    return result if isinstance(result, tuple) else (result,)


def close(name, actual, expected, scale):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, name
    if name == "leaky_relu":
        assert actual.tobytes() == expected.tobytes()
        return
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    ulp = np.finfo(expected.dtype).eps
    allowed = 8 * ulp * np.maximum(np.abs(expected), scale)
    assert np.all(np.abs(actual - expected)[~np.isnan(expected)] <= allowed[~np.isnan(expected)]), name


@settings(max_examples=30, deadline=None)
@given(case=st.sampled_from(CASES), dtype=st.sampled_from([np.float32, np.float64]),
       shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6), seed=st.integers(0, 2**32 - 1))
def test_kernels_match_the_reference(gpu, case, dtype, shape, seed):
    name, options = case
    assert getattr(gpu, name).takes  # every input here is one the kernels take (the stand-in's arrays are NumPy's)
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(shape) * 3).astype(dtype)
    a.reshape(-1)[0] = np.nan
    g = rng.standard_normal(shape).astype(dtype)
    forward, expected = outputs(getattr(gpu, name)(a, *options)), outputs(getattr(reference, name)(a, *options))
    assert len(forward) == len(expected)
    for actual, wanted in zip(forward, expected):
        close(name, actual, wanted, np.abs(a) if name == "gelu" else 0.0)
    saved = expected[1:]  # GELU's Phi(a) or tanh(u): both backward versions start from the same values
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.abs(g) * (1 + np.nan_to_num(np.abs(a)) ** 3)  # ELU's gradient at a NaN input is a number
    close(name, getattr(gpu, name + "_backward")(g, a, *saved, *options),
          getattr(reference, name + "_backward")(g, a, *saved, *options), scale)


def test_backward_takes_a_broadcast_gradient(gpu):
    a = np.linspace(-3, 3, 12).astype(np.float32).reshape(3, 4)
    g = np.broadcast_to(np.float32(0.5), a.shape)
    close("silu", gpu.silu_backward(g, a), reference.silu_backward(g, a), np.abs(g) * (1 + np.abs(a)))
