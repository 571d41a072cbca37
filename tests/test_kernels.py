"""Every Numba kernel against its reference twin over hypothesis-generated shapes, float32 and float64.

Bitwise equality where the kernel performs the reference's operations in the same
order and precision (ReLU, masks, dropout, every optimizer update); a tight
tolerance where a sum is accumulated in another order (softmax cross-entropy,
gradient norms, the bias gradient of narrow rows).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_opt as tg  # noqa: F401 - loads tinygrad_opt.kernels
from tinygrad_opt import kernels
from tinygrad_opt.kernels import reference

from kernel_table import UPDATES, check_update
from kernel_versions import Guarded

cpu = Guarded(pytest.importorskip("tinygrad_opt.kernels.cpu", reason="Numba is not installed"))

DTYPES = st.sampled_from([np.float32, np.float64])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=6)
SEEDS = st.integers(0, 2**32 - 1)


def same(a, b):
    """Bitwise equal up to the sign of zero (NaN equal to NaN), and the same dtype and shape."""
    a, b = np.asarray(a), np.asarray(b)  # NumPy hands back scalars for 0-d results
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    np.testing.assert_array_equal(a, b)


def data(seed, shape, dtype, scale=1.0, special=False):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    if special and x.size >= 3:  # zeros, NaN and inf go through the same branches in both versions
        flat = x.reshape(-1)
        flat[0], flat[1], flat[-1] = 0.0, np.nan, -np.inf
    return x


# ---- elementwise kernels --------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, special=st.booleans())
def test_relu_forward_and_backward_are_bitwise_equal(shape, dtype, seed, special):
    a = data(seed, shape, dtype, special=special)
    g = data(seed + 1, shape, dtype, special=special)
    y = reference.relu(a)
    if a.ndim:  # the loops themselves, at any size (the registry sends 0-d arrays to the reference)
        same(cpu.relu(a), y)
        same(cpu.relu_backward(g, y), reference.relu_backward(g, y))
    # and whatever the registry picks: NumPy for small arrays, the reference for strided views
    same(kernels.get("relu", a)(a), y)
    if a.ndim >= 2:
        same(kernels.get("relu", a.T)(a.T), reference.relu(a.T))
        same(kernels.get("relu_backward", g.T)(g.T, y.T), reference.relu_backward(g.T, y.T))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_references_zero_of_the_dtype_gives_what_a_python_zero_gives(dtype):
    """reference.relu/relu_backward and tanh_backward spell 0 and 1 as 0-d arrays of the dtype (cheaper to call)."""
    from tinygrad_opt.kernels import activation_reference

    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 2.5, -2.5], dtype)
    rng = np.random.default_rng(0)
    for a in (special, rng.standard_normal((7, 5)).astype(dtype), np.array(-0.0, dtype)):
        g = np.resize(special[::-1], a.shape)
        y = np.maximum(a, 0)
        same(reference.relu(a), y)
        same(reference.relu_backward(g, y), np.where(y <= 0, 0, g).astype(dtype))  # torch's threshold_backward
        assert not np.signbit(reference.relu_backward(g, y)[y <= 0]).any()  # masked entries are +0
        same(activation_reference.tanh_backward(g, np.tanh(a)), g * (1 - np.tanh(a) * np.tanh(a)))
        assert reference.relu(a).dtype == dtype and reference.relu_backward(g, y).dtype == dtype


def test_relu_runs_the_loops_only_from_4096_and_512_elements():
    """Below that NumPy's SIMD maximum (and compare and multiply) are as fast: the registry hands out the reference."""
    assert kernels.get("relu", np.ones(4095, np.float32)) is reference.relu
    assert kernels.which("relu", np.ones(4096, np.float32)) == "cpu"
    assert kernels.which("relu", np.ones((64, 64), np.float64)) == "cpu"
    assert kernels.which("relu_backward", np.ones(4, np.float32)) == "reference"  # two ufuncs cost less there
    assert kernels.which("relu_backward", np.ones(512, np.float32)) == "cpu"


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 40), cols=st.sampled_from([1, 3, 10, 16, 33]), dtype=DTYPES, seed=SEEDS)
def test_bias_grad_is_the_column_sum(rows, cols, dtype, seed):
    """Row after row, as NumPy adds wide rows; NumPy regroups the sum of narrow ones, hence a tolerance."""
    g = data(seed, (rows, cols), dtype, scale=10.0)
    ours, theirs = cpu.bias_grad(g), reference.bias_grad(g)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    bound = np.abs(g).sum(axis=0) * rows * np.finfo(dtype).eps
    assert np.all(np.abs(ours - theirs) <= bound)
    if cols >= 16:
        same(ours, theirs)


@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, as_bool=st.booleans())
def test_apply_mask_is_bitwise_equal(shape, dtype, seed, as_bool):
    w = data(seed, shape, dtype, special=True)
    mask = np.random.default_rng(seed).random(shape) < 0.5
    mask = np.asarray(mask if as_bool else mask.astype(dtype))
    same(cpu.apply_mask(w, mask), reference.apply_mask(w, mask))


@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, key=st.integers(0, 2**63 - 1),
       p=st.sampled_from([0.1, 0.5, 0.9, 1e-9, 1 - 1e-9]))
def test_dropout_makes_the_reference_mask_bitwise(shape, dtype, seed, key, p):
    x = data(seed, shape, dtype, special=True)
    same(cpu.dropout(x, key, p), reference.dropout(x, key, p))


def test_dropout_hash_is_splitmix64():
    """The vectorised hash equals a plain-Python splitmix64 of the element counter."""
    mask64 = 2**64 - 1

    def splitmix(seed, i):
        z = (seed + (i + 1) * reference.GOLDEN) & mask64
        z = ((z ^ (z >> 30)) * reference.MIX1) & mask64
        z = ((z ^ (z >> 27)) * reference.MIX2) & mask64
        return z ^ (z >> 31)

    seed = 0x1234_5678_9ABC_DEF0
    hashed = reference.dropout_hash(seed, 50)
    assert [int(h) for h in hashed] == [splitmix(seed, i) for i in range(50)]


def test_dropout_statistics_seeds_and_layout():
    x = np.ones((300, 400), np.float32)
    for p in (0.1, 0.5, 0.8):
        y = cpu.dropout(x, 7, p)
        assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - p))}
        assert abs((y == 0).mean() - p) < 0.01
    assert not np.array_equal(cpu.dropout(x, 1, 0.5), cpu.dropout(x, 2, 0.5))
    # a non-contiguous input is masked by its logical (C-order) element index
    t = np.arange(12, dtype=np.float64).reshape(3, 4)
    same(cpu.dropout(t.T, 99, 0.5), reference.dropout(np.ascontiguousarray(t.T), 99, 0.5))


# ---- softmax cross-entropy --------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 20), c=st.integers(1, 12), dtype=DTYPES, seed=SEEDS,
       eps=st.sampled_from([0.0, 0.1, 0.5, 1.0]), scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_softmax_cross_entropy_matches_reference(n, c, dtype, seed, eps, scale):
    z = data(seed, (n, c), dtype, scale=scale)
    target = np.random.default_rng(seed).integers(0, c, n)
    loss, dz = cpu.softmax_cross_entropy(z, target, eps)
    ref_loss, ref_dz = reference.softmax_cross_entropy(z.copy(), target, eps)
    assert loss.dtype == dtype and dz.dtype == dtype and loss.shape == (n,) and dz.shape == (n, c)
    tol = dict(rtol=2e-6, atol=2e-6 * scale) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(loss, ref_loss, **tol)
    np.testing.assert_allclose(dz, ref_dz, rtol=tol["rtol"], atol=2e-6 if dtype == np.float32 else 1e-13)
    # the gradient of each row sums to 0 (softmax and q both sum to 1)
    np.testing.assert_allclose(dz.sum(axis=1), 0.0, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_softmax_cross_entropy_propagates_nan_and_refuses_bad_targets():
    z = np.array([[0.0, np.nan, 1.0], [1.0, 2.0, 3.0]], np.float32)
    loss, dz = cpu.softmax_cross_entropy(z, np.array([0, 2]), 0.0)
    ref_loss, ref_dz = reference.softmax_cross_entropy(z.copy(), np.array([0, 2]), 0.0)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)  # NaN in the same row, the other row finite
    assert np.isnan(loss[0]) and np.isfinite(loss[1])
    with pytest.raises(IndexError, match="outside"):
        cpu.softmax_cross_entropy(z, np.array([0, 3]), 0.0)
    with pytest.raises(IndexError):
        reference.softmax_cross_entropy(z.copy(), np.array([0, 3]), 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_softmax_cross_entropy_special_logits_follow_the_reference(dtype, eps):
    """+-inf, NaN, huge and tiny logits: the float32 loop (flat SIMD exp, select-based row max) and the
    float64 loop put NaN and inf where the reference does and agree with it elsewhere."""
    inf, nan = np.inf, np.nan
    z = np.array([[0.0, -inf, 1.0, 2.0], [inf, 0.0, 1.0, 2.0], [nan, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, nan],
                  [-inf, -inf, -inf, 5.0], [1e30, -1e30, 0.0, 3.0], [-80.0, -90.0, -100.0, -110.0],
                  [-0.0, 0.0, -0.0, 0.0], [3.0, 3.0, 3.0, 3.0]], dtype)
    target = np.array([2, 1, 1, 0, 3, 0, 0, 1, 2])
    with np.errstate(all="ignore"):
        loss, dz = cpu.softmax_cross_entropy(z, target, eps)
        ref_loss, ref_dz = reference.softmax_cross_entropy(z.copy(), target, eps)
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(ref_loss))
    np.testing.assert_array_equal(np.isnan(dz), np.isnan(ref_dz))
    # atol: the reference sums exp in z's dtype, so its float32 log(s) near s = 1 is off by up to 6e-8
    # (row 6: the loops' float64 sum gives 4.540096e-05, the exact value's rounding; the reference 4.541771e-05)
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(dz, ref_dz, rtol=2e-6, atol=2e-7)
    exact = np.log1p(np.exp(-10.0) + np.exp(-20.0) + np.exp(-30.0))
    if dtype == np.float32 and not eps:
        assert abs(loss[6] - exact) <= 2 * np.spacing(np.float32(exact))


# ---- log-softmax --------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9), dtype=DTYPES, seed=SEEDS,
       scale=st.sampled_from([1.0, 30.0, 1e4]), special=st.booleans(), last=st.booleans())
def test_log_softmax_matches_reference(shape, dtype, seed, scale, special, last):
    """Row sums run in another order (float64, vectorised), so the two agree to rounding, not bitwise."""
    a = data(seed, shape, dtype, scale=scale, special=special)
    g = data(seed + 1, shape, dtype)
    axis = -1 if last else 0  # axis 0 of a 2-D+ array is not the last one: the reference must take it
    with np.errstate(all="ignore"):
        y, p = cpu.log_softmax(a, axis)
        ry, rp = reference.log_softmax(a, axis)
        dy = cpu.log_softmax_backward(g, p, axis)
        rdy = reference.log_softmax_backward(g, rp, axis)
    assert y.shape == a.shape and y.dtype == dtype and dy.shape == a.shape and dy.dtype == dtype
    assert p.shape == a.shape and p.dtype == dtype
    eps = np.finfo(dtype).eps
    cols = a.shape[axis]
    # y is a - m - log(s): rounding of the shifted value plus a few ulp of log(s) <= log(cols)
    np.testing.assert_allclose(y, ry, rtol=8 * eps, atol=8 * eps * (1 + np.log(cols)))
    # p = exp(a - m) / s: float32's exp here is cpu.exp_nonpositive_float32 (within 1.2 ulp, NumPy's within 2.6)
    np.testing.assert_allclose(p, rp, rtol=8 * eps, atol=8 * eps)
    np.testing.assert_allclose(dy, rdy, rtol=8 * eps * cols, atol=8 * eps * cols * (1 + np.abs(g).max()))


def test_log_softmax_takes_the_loops_where_it_should(monkeypatch):
    """The Numba path serves the last axis of float arrays (2-D of any layout, N-D contiguous);
    the rest goes to the reference."""
    to_reference = []
    real = reference.log_softmax
    monkeypatch.setattr(reference, "log_softmax", lambda a, axis=-1: (to_reference.append(a.shape), real(a, axis))[1])
    a = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for array, axis in [(a, -1), (a[0], 1), (a[0].T, 1), (a[0, :, ::2], -1), (a.astype(np.float64), 2)]:
        y, p = cpu.log_softmax(array, axis)  # N-D last axis, 2-D, transposed, strided, float64
        np.testing.assert_allclose(y, real(array, axis)[0], rtol=1e-6, atol=1e-6)
    assert to_reference == []
    cpu.log_softmax(a, 1)                         # not the last axis
    cpu.log_softmax(a.transpose(1, 0, 2))         # N-D and not contiguous
    cpu.log_softmax(a.astype(np.float16))
    with pytest.raises(ValueError, match="zero-size"):  # empty rows: the reference says what is wrong
        cpu.log_softmax(np.zeros((3, 0), np.float32))
    assert to_reference == [(2, 3, 4), (3, 2, 4), (2, 3, 4), (3, 0)]


def test_log_softmax_is_finite_and_exact_for_huge_logits():
    a = np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]], np.float32)
    y, p = cpu.log_softmax(a)
    np.testing.assert_array_equal(y[0], [0.0, -1e4, -2e4])
    np.testing.assert_allclose(y[1], -np.log(3.0), rtol=1e-7)
    np.testing.assert_array_equal(p[0], [1.0, 0.0, 0.0])
    dy = cpu.log_softmax_backward(np.ones_like(a), p)
    np.testing.assert_allclose(dy, 1 - 3 * np.exp(y), atol=1e-6)


# ---- optimizer updates --------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(UPDATES))
@settings(max_examples=30, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, data=st.data())
def test_optimizer_updates_are_bitwise_the_reference(name, shape, dtype, seed, data):
    check_update(cpu, name, shape, dtype, seed, data.draw(UPDATES[name].knobs), compare=_same)


def _same(a, b, what):
    same(a, b)


def test_updates_fall_back_to_the_reference_on_unusual_layouts():
    """A transposed (non-contiguous) parameter or a gradient of another dtype: same result as the reference."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 3))
    param, ref = np.asfortranarray(base.T), base.T.copy()  # param is not C-contiguous
    assert not param.flags.c_contiguous
    grad = rng.standard_normal(param.shape).astype(np.float32)  # float32 gradient of a float64 parameter
    m, v = np.zeros(param.shape), np.zeros(param.shape)
    m2, v2 = m.copy(), v.copy()
    options = dict(step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
    cpu.adam_update(param, grad, m, v, None, **options)
    reference.adam_update(ref, grad, m2, v2, None, **options)
    np.testing.assert_array_equal(param, ref)


# ---- gradient norm --------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(shapes=st.lists(SHAPES, min_size=1, max_size=4), dtype=DTYPES, seed=SEEDS,
       norm_type=st.sampled_from([2.0, 1.0, math.inf, 3.0, 0.5]))
def test_grad_norm_matches_reference(shapes, dtype, seed, norm_type):
    grads = [data(seed + i, s, dtype, scale=3.0) for i, s in enumerate(shapes)]
    ours, theirs = cpu.grad_norm(grads, norm_type), reference.grad_norm(grads, norm_type)
    assert ours.shape == () and ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_grad_norm_propagates_nan_and_inf(norm_type, bad):
    grads = [np.ones(5, np.float32), np.array([1.0, bad, 2.0], np.float32)]
    ours, theirs = cpu.grad_norm(grads, norm_type), reference.grad_norm(grads, norm_type)
    np.testing.assert_array_equal(ours, theirs)


def test_float16_goes_to_the_reference():
    """Numba's float16 support is partial: half-precision arrays take the reference versions."""
    x = np.linspace(-2, 2, 4096).astype(np.float16)
    same(cpu.relu(x), reference.relu(x))
    same(cpu.dropout(x, 3, 0.5), reference.dropout(x, 3, 0.5))
    p, p2 = x.copy(), x.copy()
    options = dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
                   first_step=True)
    cpu.sgd_update(p, x, None, **options)
    reference.sgd_update(p2, x, None, **options)
    same(p, p2)

