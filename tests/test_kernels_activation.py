"""The activation kernels (kernels/activation_*.py): the Numba loops against their reference twins,
special values included, the registry's choice, and the ops against PyTorch in float32."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import kernels
from tinygrad_opt.kernels import activation_reference as reference

cpu = pytest.importorskip("tinygrad_opt.kernels.activation_cpu", reason="Numba is not installed")

SPECIAL = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-30, -1e-30, 1e-3, -1e-3, -0.6931, -0.6932, 88.0, -88.0, -104.0]
# (name, options): SELU's constants as F.selu passes them
CASES = [("leaky_relu", (0.1,)), ("leaky_relu", (-2.5,)), ("silu", ()), ("elu", (1.5, 1.0, 1.0)),
         ("elu", (1.6732632423543772, 1.0507009873554805, 1.0)), ("elu", (0.5, 2.0, 0.25)), ("gelu", ("none",)),
         ("gelu", ("tanh",)), ("softplus", (1.0, 20.0)), ("softplus", (2.0, 6.0)), ("softplus", (0.25, 1.0))]
BITWISE = {"leaky_relu", "tanh"}  # no transcendental function: the same float operations in the same order


def inputs(seed, size, dtype, scale):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(size) * scale).astype(dtype)
    a[: min(size, len(SPECIAL))] = SPECIAL[:size]
    g = rng.standard_normal(size).astype(dtype)
    return a, g


def forward(module, name, a, options):
    """(y, what backward takes besides g and a): GELU's forward also returns Phi(a) or tanh(u)."""
    out = getattr(module, name)(a, *options)
    return (out[0], out[1:]) if name == "gelu" else (out, ())


def agree(name, fast, ref, g_scale=None):
    """Bitwise for LeakyReLU; otherwise within a few float32 ulp of each result, the same NaNs.

    A result can be a small difference of larger terms (SiLU's 1 + a (1 - s) near a = -1.28,
    GELU's 1 + erf for negative a): there the allowance is a few ulp of the terms' size (g_scale).
    """
    assert fast.dtype == ref.dtype and fast.shape == ref.shape
    if name in BITWISE:
        np.testing.assert_array_equal(fast, ref)
        np.testing.assert_array_equal(np.signbit(fast), np.signbit(ref))
        return
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    size = np.abs(ref.astype(np.float64))
    if g_scale is not None:
        size = np.maximum(size, np.nan_to_num(np.abs(g_scale.astype(np.float64)), posinf=np.inf))
    allowed = 8 * np.spacing(size.astype(np.float32)).astype(np.float64)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(fast[~finite], ref[~finite])
    diff = np.abs(fast[finite].astype(np.float64) - ref[finite].astype(np.float64))
    assert np.all(diff <= allowed[finite] + 1e-45), (name, np.max(diff / allowed[finite]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 300), case=st.sampled_from(CASES),
       scale=st.sampled_from([0.5, 3.0, 30.0]))
def test_numba_kernels_match_their_reference_in_float32(seed, size, case, scale):
    name, options = case
    a, g = inputs(seed, size, np.float32, scale)
    forward_scale, backward_scale = None, g
    if name == "gelu":  # 1 + erf and 1 + tanh cancel for negative a, 1 - t^2 for large |a|
        with np.errstate(over="ignore", invalid="ignore"):
            forward_scale, backward_scale = a, g * (1 + np.abs(a) ** 3)
    elif name == "silu":  # 1 + a (1 - s): 1 - s keeps s's rounding (half an ulp of 1), which a multiplies
        with np.errstate(over="ignore", invalid="ignore"):
            backward_scale = g * (1 + np.abs(a))
    fast_y, saved = forward(cpu, name, a, options)
    ref_y, ref_saved = forward(reference, name, a, options)
    agree(name, fast_y, ref_y, g_scale=forward_scale)
    for fast, ref in zip(saved, ref_saved):  # GELU's Phi(a) or tanh(u), within an ulp or two
        agree(name, fast, ref, g_scale=np.ones_like(ref))
    backward = name + "_backward"  # both from the reference's saved values: the kernels alone
    agree(name, getattr(cpu, backward)(g, a, *ref_saved, *options),
          getattr(reference, backward)(g, a, *ref_saved, *options), g_scale=backward_scale)


def test_leaky_relu_loops_take_float64_and_stay_bitwise():
    a, g = inputs(0, 500, np.float64, 2.0)
    agree("leaky_relu", cpu.leaky_relu(a, 0.2), reference.leaky_relu(a, 0.2))
    agree("leaky_relu", cpu.leaky_relu_backward(g, a, 0.2), reference.leaky_relu_backward(g, a, 0.2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_backward_loop_is_bitwise_equal_to_its_reference(dtype):
    a, g = inputs(3, 3000, dtype, 3.0)
    y = np.tanh(a)
    agree("tanh", cpu.tanh_backward(g, y), reference.tanh_backward(g, y))
    broadcast = np.broadcast_to(dtype(0.5), y.shape)  # the gradient of a sum
    agree("tanh", cpu.tanh_backward(broadcast, y), reference.tanh_backward(broadcast, y))


def test_tanh_backward_runs_the_loop_from_512_elements():
    """Below that the three NumPy calls cost no more, and the registry hands out the reference directly."""
    assert kernels.get("tanh_backward", np.ones(511, np.float32)) is reference.tanh_backward
    assert kernels.which("tanh_backward", np.ones((64, 64), np.float32)) == "cpu"
    strided = np.ones((64, 64), np.float32).T
    np.testing.assert_array_equal(kernels.get("tanh_backward", strided)(strided, strided), np.zeros((64, 64)))


def test_expm1_polynomial_is_accurate_on_both_sides_of_its_switch():
    t = -np.geomspace(1e-30, 20, 20001).astype(np.float32)
    t = np.concatenate([t, np.nextafter(np.float32(-0.6931472), np.float32(0)) + np.zeros(1, np.float32)])
    got = cpu.elu(t, 1.0, 1.0, 1.0)  # alpha = scale = 1: elu(t) = expm1(t) for t <= 0
    exact = np.array([math.expm1(v) for v in t.astype(np.float64)])
    ulps = np.abs(got - exact) / np.spacing(np.abs(exact).astype(np.float32))
    assert ulps.max() <= 2.0, ulps.max()


@pytest.mark.parametrize("name, options", [("silu", ()), ("elu", (1.0, 1.0, 1.0)), ("gelu", ("none",)),
                                           ("softplus", (1.0, 20.0))])
def test_float64_and_odd_layouts_run_the_reference(name, options):
    a = np.linspace(-3, 3, 12).reshape(3, 4)
    for data in (a, a.astype(np.float32)[:, ::2]):
        got = kernels.get(name, data)(data, *options)
        expected = getattr(reference, name)(data, *options)
        for x, y in zip(*((got, expected) if name == "gelu" else ((got,), (expected,)))):
            assert x.tobytes() == y.tobytes()


def test_softplus_with_beta_zero_runs_the_reference():
    a = np.linspace(-3, 3, 12).astype(np.float32)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(kernels.get("softplus", a)(a, 0.0, 20.0), reference.softplus(a, 0.0, 20.0))


def test_a_negative_input_scale_runs_the_reference():
    a = np.linspace(-3, 3, 12).astype(np.float32)
    out = kernels.get("elu", a)(a, 1.0, 1.0, -0.5)
    np.testing.assert_array_equal(out, reference.elu(a, 1.0, 1.0, -0.5))


def test_the_registry_serves_the_numba_versions_for_float32():
    a = np.zeros((2, 3), np.float32)
    for name in ("leaky_relu", "leaky_relu_backward", "silu", "silu_backward", "elu", "elu_backward"):
        assert kernels.which(name, a) == "cpu", name


@pytest.mark.parametrize("call, torch_call, amplified", [
    (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), False),
    (F.silu, TF.silu, False),
    (lambda x: F.elu(x, 1.3), lambda x: TF.elu(x, 1.3), False),
    (F.selu, TF.selu, False),
    (F.gelu, TF.gelu, True),
    (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), True),
    (F.softplus, TF.softplus, False),
    (lambda x: F.softplus(x, beta=2.0, threshold=6.0), lambda x: TF.softplus(x, beta=2.0, threshold=6.0), False),
])
@pytest.mark.parametrize("mode", ["auto", "reference"])
def test_the_ops_match_torch_in_float32_on_a_large_batch(call, torch_call, amplified, mode):
    """amplified: GELU's gradient multiplies 1 - t^2 (an ulp of 1 where tanh or erf saturates) by up to
    |a|^3, so there the allowance grows with |a|^3 (torch's own float32 result has the same error)."""
    rng = np.random.default_rng(1)
    data = (rng.standard_normal((257, 64)) * 4).astype(np.float32)
    upstream = rng.standard_normal(data.shape).astype(np.float32)
    previous = kernels.get_mode()
    tg.set_kernels(mode)
    try:
        x = tg.Tensor(data, requires_grad=True)
        y = call(x)
        y.backward(tg.Tensor(upstream))
    finally:
        tg.set_kernels(previous)
    tx = torch.tensor(data, requires_grad=True)
    ty = torch_call(tx)
    ty.backward(torch.from_numpy(upstream))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    expected = ty.detach().numpy()
    assert np.all(np.abs(y.numpy() - expected) <= 2e-6 * np.abs(expected) + 1e-6 * (1 + np.abs(data) * amplified))
    allowed = 2e-5 * np.abs(tx.grad.numpy()) + 2e-6 * (1 + np.abs(upstream) * np.abs(data) ** 3 * amplified)
    assert np.all(np.abs(x.grad.numpy() - tx.grad.numpy()) <= allowed)


@pytest.mark.parametrize("name, options", [("leaky_relu", (0.1,)), ("silu", ()), ("elu", (1.0, 1.0, 1.0)),
                                           ("gelu", ("tanh",)), ("softplus", (1.0, 20.0)), ("softplus", (2.0, 6.0)), ("softplus", (0.25, 1.0))])
def test_backward_loops_take_a_broadcast_gradient(name, options):
    a = np.linspace(-3, 3, 24).astype(np.float32).reshape(4, 6)
    g = np.broadcast_to(np.float32(0.5), a.shape)  # what the gradient of a.sum() looks like
    _, saved = forward(reference, name, a, options)
    fast = kernels.get(name + "_backward", g)
    assert getattr(fast, "fast", None) is not None and fast.fast.takes(g, a, *saved, *options)
    agree(name, fast(g, a, *saved, *options), getattr(reference, name + "_backward")(g, a, *saved, *options),
          g_scale=g * (1 + np.abs(a) ** 3))


def test_the_vectorised_erf_and_tanh_are_within_one_ulp_of_the_exact_values():
    numba = pytest.importorskip("numba")

    def apply(fn, x, out):  # compiled as the loops use them: plain, and with fused multiply-adds (GELU's)
        for fastmath in (False, {"contract"}):
            numba.njit(fastmath=fastmath)(_apply)(fn, x, out)
            yield out

    def _apply(fn, x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    x = np.concatenate([np.linspace(-6, 6, 40001), np.geomspace(1e-30, 10, 20001),
                        -np.geomspace(1e-30, 10, 2001), [0.3, -0.3, 4.0, -4.0]]).astype(np.float32)
    x = np.concatenate([x, np.nextafter(x[-4:], np.float32(0))])  # both sides of tanh's switch and erf's clamp
    out = np.empty_like(x)
    for fn, exact in ((cpu._erf_float32, math.erf), (cpu._tanh_float32, math.tanh)):
        rounded = np.array([exact(v) for v in x.astype(np.float64)]).astype(np.float32)
        for got in apply(fn, x, out):
            assert np.all(np.abs(got.astype(np.float64) - rounded) <= np.spacing(np.abs(rounded))), fn
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], np.float32)
    for fn in (cpu._erf_float32, cpu._tanh_float32):
        for got in apply(fn, special, out[:5]):
            np.testing.assert_array_equal(got, [np.nan, 1, -1, -0.0, 0.0])
            np.testing.assert_array_equal(np.signbit(got), [False, False, True, True, False])


@pytest.mark.parametrize("call, torch_call", [
    (F.elu, TF.elu), (F.selu, TF.selu), (F.leaky_relu, TF.leaky_relu), (F.silu, TF.silu), (F.gelu, TF.gelu),
    (F.softplus, TF.softplus),
])
def test_changing_the_input_in_place_before_backward_is_an_error_as_in_torch(call, torch_call):
    """Backward reads the saved input (torch saves it too, for these ops): a change is caught, not used."""
    data = np.linspace(-2, 2, 6).astype(np.float32)
    x = tg.Tensor(data, requires_grad=True) * 1.0
    y = call(x)
    x.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    tx = torch.tensor(data, requires_grad=True) * 1.0
    ty = torch_call(tx)
    tx.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


@pytest.mark.parametrize("name, options", [("leaky_relu", (0.1,)), ("silu", ()), ("tanh", ())])
@pytest.mark.parametrize("layout", ["broadcast", "row_broadcast", "transposed", "one_element"])
def test_backward_loops_take_every_gradient_layout(name, options, layout):
    """One broadcast value (the gradient of a sum) is read once; other layouts are copied to C order first."""
    a = np.linspace(-3, 3, 48).astype(np.float32).reshape(6, 8)
    rng = np.random.default_rng(1)
    g = {"broadcast": np.broadcast_to(np.float32(-0.75), a.shape),
         "row_broadcast": np.broadcast_to(rng.standard_normal(8).astype(np.float32), a.shape),
         "transposed": rng.standard_normal((8, 6)).astype(np.float32).T,
         "one_element": np.full((1, 1), -0.75, np.float32)}[layout]
    if layout == "one_element":
        a = a[:1, :1].copy()
    saved = np.tanh(a) if name == "tanh" else a  # tanh's backward takes its forward's output
    got = getattr(cpu, name + "_backward")(g, saved, *options)
    expected = getattr(reference, name + "_backward")(g, saved, *options)
    assert got.flags.c_contiguous
    agree(name, got, expected, g_scale=g * (1 + np.abs(a)))  # bitwise for LeakyReLU and Tanh
