"""kernels/conv_gpu.py run on the CPU through tests/cuda_emulator.py (its CUDA C compiled as C++ by g++).

im2col, col2im and the max-pool forward must equal kernels/conv_reference.py bit for bit;
the max-pool backward sums in another order than the reference's np.bincount, so it gets
a rounding tolerance. Sizes stay small: the emulator runs every GPU thread as a host thread.
"""
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cuda_emulator import Emulator
from tinygrad_opt.kernels import conv_reference as reference

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to compile the kernels for the host")


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    return Emulator(tmp_path_factory.mktemp("cuda_emulator_conv")).load_gpu_module("conv_gpu.py")


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, dh, dw = (draw(st.integers(1, 2)) for _ in range(4))
    oh, ow = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    hp = (oh - 1) * sh + dh * (kh - 1) + 1 + draw(st.integers(0, 1))
    wp = (ow - 1) * sw + dw * (kw - 1) + 1 + draw(st.integers(0, 1))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 2)), hp, wp), geometry=(kh, kw, sh, sw, dh, dw, oh, ow),
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**32 - 1)))


def bitwise(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes(), np.max(np.abs(actual - expected))


@settings(max_examples=12, deadline=None)
@given(geometries())
def test_im2col_and_col2im(gpu, case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["shape"]).astype(case["dtype"])
    geometry = case["geometry"]
    bitwise(gpu.im2col(x, *geometry), reference.im2col(x, *geometry))
    cols = rng.standard_normal(reference.im2col(x, *geometry).shape).astype(case["dtype"])
    bitwise(gpu.col2im(cols, *case["shape"], *geometry), reference.col2im(cols, *case["shape"], *geometry))


@settings(max_examples=12, deadline=None)
@given(geometries(), st.booleans())
def test_max_pool_forward_and_backward(gpu, case, ties):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["shape"]).astype(case["dtype"])
    if ties:
        x = np.round(x)
        x.reshape(-1)[0] = np.nan
    geometry = case["geometry"]
    out, argmax = gpu.max_pool2d_forward(x, *geometry)
    ref_out, ref_argmax = reference.max_pool2d_forward(x, *geometry)
    bitwise(out, ref_out)
    bitwise(argmax, ref_argmax)
    g = rng.standard_normal(out.shape).astype(case["dtype"])
    hp, wp = case["shape"][2:]
    np.testing.assert_allclose(gpu.max_pool2d_backward(g, argmax, hp, wp, *geometry[:6]),
                               reference.max_pool2d_backward(g, argmax, hp, wp, *geometry[:6]), rtol=1e-6, atol=1e-6)


def test_wrappers_pass_every_scalar_with_its_c_type(gpu):
    """The emulator rejects a Python int where the kernel takes int or long long (CuPy would misread it)."""
    x = np.arange(2 * 3 * 6 * 5, dtype=np.float32).reshape(2, 3, 6, 5)
    cols = gpu.im2col(x, 3, 2, 2, 1, 1, 2, 2, 3)
    assert cols.shape == (3 * 3 * 2, 2 * 2 * 3)
