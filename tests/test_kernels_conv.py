"""The Numba convolution and max-pool kernels against their reference twins (kernels/conv_reference.py)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from tinygrad_opt import kernels
from tinygrad_opt.kernels import conv_reference as reference

cpu = pytest.importorskip("tinygrad_opt.kernels.conv_cpu", reason="Numba is not installed")


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, dh, dw = (draw(st.integers(1, 3)) for _ in range(4))
    oh, ow = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    hp = (oh - 1) * sh + dh * (kh - 1) + 1 + draw(st.integers(0, 2))  # leftover rows that no window reaches
    wp = (ow - 1) * sw + dw * (kw - 1) + 1 + draw(st.integers(0, 2))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return dict(n=n, c=c, hp=hp, wp=wp, geometry=(kh, kw, sh, sw, dh, dw, oh, ow), dtype=dtype,
                seed=draw(st.integers(0, 2**32 - 1)), transposed=draw(st.booleans()))


def plane(case):
    x = np.random.default_rng(case["seed"]).standard_normal((case["c"], case["n"], case["hp"], case["wp"]))
    x = x.astype(case["dtype"])
    # a (C, N, ...) buffer seen as (N, C, ...): the layout a convolution's output has
    return x.transpose(1, 0, 2, 3) if case["transposed"] else np.ascontiguousarray(x.transpose(1, 0, 2, 3))


@settings(max_examples=40, deadline=None)
@given(geometries())
def test_im2col_and_col2im_equal_the_reference(case):
    x, geometry = plane(case), case["geometry"]
    cols = cpu.im2col(x, *geometry)
    expected = reference.im2col(x, *geometry)
    assert cols.dtype == expected.dtype and cols.flags.c_contiguous
    np.testing.assert_array_equal(cols, expected)
    g = np.random.default_rng(case["seed"] + 1).standard_normal(cols.shape).astype(case["dtype"])
    args = (case["n"], case["c"], case["hp"], case["wp"], *geometry)
    tol = 1e-5 if case["dtype"] == np.float32 else 1e-12
    np.testing.assert_allclose(cpu.col2im(g, *args), reference.col2im(g, *args), rtol=tol, atol=tol)


@pytest.mark.parametrize("ow", [5, 14, 28, cpu.FIXED_ROW_MAX, cpu.FIXED_ROW_MAX + 1, 40])
@pytest.mark.parametrize("dilation", [1, 2])
def test_unit_stride_loops_for_every_row_length_equal_the_reference_bitwise(ow, dilation):
    """Rows up to FIXED_ROW_MAX long take the loops compiled for their length, longer ones the general
    loops; both copy and add in the reference's order, so col2im agrees bitwise with the general loop."""
    rng = np.random.default_rng(ow)
    n, c, kh, kw, oh = 3, 2, 3, 2, 4
    hp, wp = oh + dilation * (kh - 1) + 1, ow + dilation * (kw - 1)
    x = rng.standard_normal((c, n, hp, wp)).astype(np.float32).transpose(1, 0, 2, 3)
    geometry = (kh, kw, 1, 1, dilation, dilation, oh, ow)
    np.testing.assert_array_equal(cpu.im2col(x, *geometry), reference.im2col(x, *geometry))
    g = rng.standard_normal((c * kh * kw, n * oh * ow)).astype(np.float32)
    general = np.zeros((n, c, hp, wp), np.float32)
    cpu._col2im_unit_stride(g, kh, kw, dilation, dilation, oh, ow, general)
    np.testing.assert_array_equal(cpu.col2im(g, n, c, hp, wp, *geometry), general)
    np.testing.assert_allclose(general, reference.col2im(g, n, c, hp, wp, *geometry), rtol=1e-6, atol=1e-6)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), G> = <x, col2im(G)> for every x and G: what makes col2im the gradient."""
    rng = np.random.default_rng(0)
    geometry = (3, 2, 2, 1, 1, 2, 3, 3)
    x = rng.standard_normal((2, 3, 7, 6))
    g = rng.standard_normal((3 * 3 * 2, 2 * 9))
    for module in (cpu, reference):
        lhs = (module.im2col(x, *geometry) * g).sum()
        rhs = (x * module.col2im(g, 2, 3, 7, 6, *geometry)).sum()
        assert abs(lhs - rhs) < 1e-10


@settings(max_examples=40, deadline=None)
@given(geometries(), st.booleans())
def test_max_pool_forward_and_backward_equal_the_reference(case, special):
    x, geometry = plane(case), case["geometry"]
    if special:  # -inf padding, ties and NaN take the same branches in both versions
        x = np.round(x).copy()
        x[:, :, 0, :] = -np.inf
        x.reshape(-1)[-1] = np.nan
    out, argmax = cpu.max_pool2d_forward(x, *geometry)
    ref_out, ref_argmax = reference.max_pool2d_forward(x, *geometry)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(argmax, ref_argmax)
    g = np.random.default_rng(case["seed"] + 2).standard_normal(out.shape).astype(case["dtype"])
    tol = 1e-5 if case["dtype"] == np.float32 else 1e-12
    window = geometry[:6]
    np.testing.assert_allclose(cpu.max_pool2d_backward(g, argmax, case["hp"], case["wp"], *window),
                               reference.max_pool2d_backward(g, argmax, case["hp"], case["wp"], *window),
                               rtol=tol, atol=tol)


def test_registry_picks_numba_on_the_cpu_and_the_reference_in_reference_mode():
    x = np.zeros((1, 1, 4, 4), np.float32)
    previous = kernels.get_mode()
    try:
        kernels.set_kernels("auto")
        assert kernels.which("im2col", x) == "cpu" and kernels.which("max_pool2d_forward", x) == "cpu"
        kernels.set_kernels("reference")
        assert kernels.which("col2im", x) == "reference"
    finally:
        kernels.set_kernels(previous)


def test_integer_and_half_inputs_fall_back_to_the_reference():
    x = np.arange(16, dtype=np.float16).reshape(1, 1, 4, 4)
    assert not cpu.max_pool2d_forward.takes(x, 2, 2, 2, 2, 1, 1, 2, 2)
    out, argmax = kernels.get("max_pool2d_forward", x)(x, 2, 2, 2, 2, 1, 1, 2, 2)
    assert out.dtype == np.float16 and out.tolist() == [[[[5, 7], [13, 15]]]]
    ints = tg.nn.functional.max_pool2d(tg.Tensor(np.arange(16).reshape(1, 1, 4, 4)), 2, padding=1)
    assert ints.data.tolist() == [[[[0, 2, 3], [8, 10, 11], [12, 14, 15]]]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True])
def test_the_unrolled_2x2_max_pool_equals_the_reference(dtype, transposed):
    case = dict(n=3, c=2, hp=7, wp=9, dtype=dtype, seed=4, transposed=transposed)
    x = np.round(plane(case))  # ties
    x[0, 0, 1, 1] = np.nan
    out, argmax = cpu.max_pool2d_forward(x, 2, 2, 2, 2, 1, 1, 3, 4)
    ref_out, ref_argmax = reference.max_pool2d_forward(x, 2, 2, 2, 2, 1, 1, 3, 4)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(argmax, ref_argmax)


@pytest.mark.parametrize("ow", [1, 7, 14, cpu.FIXED_ROW_MAX, cpu.FIXED_ROW_MAX + 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_2x2_pool_loops_for_every_row_length_equal_the_reference_bitwise(ow, dtype):
    """Rows up to FIXED_ROW_MAX take the loops compiled for their length, longer ones the general 2x2 loops:
    the same maxima, the same winners (first of equal values, first NaN) and the same routed gradient."""
    rng = np.random.default_rng(ow)
    x = np.round(rng.standard_normal((2, 3, 6, 2 * ow)) * 2).astype(dtype)  # rounding makes ties
    if x.dtype.kind == "f":
        x[0, 0, 0, 1] = x[1, 2, 3, 0] = x[1, 2, 2, 1] = np.nan
        x[0, 1, 2, :] = -0.0
    out, argmax = cpu.max_pool2d_forward(x, 2, 2, 2, 2, 1, 1, 3, ow)
    ref_out, ref_argmax = reference.max_pool2d_forward(x, 2, 2, 2, 2, 1, 1, 3, ow)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(argmax, ref_argmax)
    if x.dtype.kind == "f":
        g = rng.standard_normal(out.shape).astype(dtype)
        np.testing.assert_array_equal(cpu.max_pool2d_backward(g, argmax, 6, 2 * ow, 2, 2, 2, 2, 1, 1),
                                      reference.max_pool2d_backward(g, argmax, 6, 2 * ow, 2, 2, 2, 2, 1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2x2_keeps_a_channel_major_layout_and_tiles_its_gradient(dtype):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (3, 2, 6, 8)).astype(dtype)  # many ties: the first maximum must win
    x[0, 0, 0, 1] = np.nan
    major = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    ref_out, ref_argmax = reference.max_pool2d_forward(x, 2, 2, 2, 2, 1, 1, 3, 4)
    out, argmax = cpu.max_pool2d_forward(major, 2, 2, 2, 2, 1, 1, 3, 4)
    assert out.transpose(1, 0, 2, 3).flags.c_contiguous and argmax.transpose(1, 0, 2, 3).flags.c_contiguous
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(argmax, ref_argmax)
    g = rng.standard_normal(out.shape).astype(dtype)
    gx = cpu.max_pool2d_backward(g, argmax, 6, 8, 2, 2, 2, 2, 1, 1)
    assert gx.transpose(1, 0, 2, 3).flags.c_contiguous
    np.testing.assert_array_equal(gx, reference.max_pool2d_backward(g, ref_argmax, 6, 8, 2, 2, 2, 2, 1, 1))
