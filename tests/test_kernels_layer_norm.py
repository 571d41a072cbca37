"""The layer-norm kernels (kernels/layer_norm_*.py): the Numba loops against their reference twins,
the fallback for layouts they do not take, and the op's bookkeeping (saved input, needed gradients)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import kernels
from tinygrad_opt.kernels import layer_norm_reference as reference

cpu = pytest.importorskip("tinygrad_opt.kernels.layer_norm_cpu", reason="Numba is not installed")


def close(fast, ref, dtype):
    """float32 results are float64 sums rounded once: equal but for the rare last-bit tie; float64 to rounding."""
    if fast is None or ref is None:
        assert fast is None and ref is None
        return
    assert fast.dtype == ref.dtype and fast.shape == ref.shape
    if dtype == np.float32:
        np.testing.assert_array_max_ulp(fast, ref, maxulp=1)
    else:
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(ref).max()))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 30), m=st.integers(1, 70),
       dtype=st.sampled_from([np.float32, np.float64]), affine=st.sampled_from(["none", "weight", "both"]),
       offset=st.sampled_from([0.0, 1e3]), eps=st.sampled_from([1e-5, 1e-2]))
def test_numba_kernels_match_their_reference(seed, rows, m, dtype, affine, offset, eps):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, m)) + offset).astype(dtype)
    w = rng.standard_normal(m).astype(dtype) if affine != "none" else None
    b = rng.standard_normal(m).astype(dtype) if affine == "both" else None
    g = rng.standard_normal((rows, m)).astype(dtype)
    y, mean, invstd = cpu.layer_norm(x, w, b, eps)
    y_ref, mean_ref, invstd_ref = reference.layer_norm(x, w, b, eps)
    close(y, y_ref, dtype)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(invstd, invstd_ref, rtol=1e-12)
    for fast, ref in zip(cpu.layer_norm_backward(g, x, mean, invstd, w),
                         reference.layer_norm_backward(g, x, mean_ref, invstd_ref, w)):
        close(fast, ref, dtype)


def test_the_registry_serves_numba_and_falls_back_on_other_layouts():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8)).astype(np.float32)
    assert kernels.which("layer_norm", x) == "cpu" and kernels.which("layer_norm_backward", x) == "cpu"
    strided = x[:, ::2]
    y, _, _ = kernels.get("layer_norm", strided)(strided, None, None, 1e-5)
    np.testing.assert_array_equal(y, reference.layer_norm(strided, None, None, 1e-5)[0])
    w64 = np.ones(8)  # a float64 weight next to float32 rows: the reference's promotion
    y, _, _ = kernels.get("layer_norm", x)(x, w64, None, 1e-5)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, reference.layer_norm(x, w64, None, 1e-5)[0])


def test_the_op_computes_only_the_gradients_asked_for_and_sees_in_place_changes():
    rng = np.random.default_rng(1)
    x = tg.Tensor(rng.standard_normal((3, 2, 5)).astype(np.float32), requires_grad=True)
    w = tg.Tensor(np.ones((2, 5), np.float32))  # no grad
    b = tg.Tensor(np.zeros((2, 5), np.float32), requires_grad=True)
    F.layer_norm(x, (2, 5), w, b).sum().backward()
    assert w.grad is None and b.grad.shape == (2, 5) and x.grad.shape == (3, 2, 5)
    np.testing.assert_array_equal(b.grad.numpy(), np.full((2, 5), 3, np.float32))
    h = x * 1.0
    y = F.layer_norm(h, (5,))
    h.mul_(2.0)  # backward reads the saved input: the change must be caught, not used
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_the_backward_loop_takes_a_broadcast_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 9)).astype(np.float32)
    w = rng.standard_normal(9).astype(np.float32)
    g = np.broadcast_to(np.float32(1.5), x.shape)  # the gradient of a sum
    _, mean, invstd = reference.layer_norm(x, w, None, 1e-5)
    fast = kernels.get("layer_norm_backward", g)
    assert fast.fast.takes(g, x, mean, invstd, w)
    for got, ref in zip(fast(g, x, mean, invstd, w), reference.layer_norm_backward(g, x, mean, invstd, w)):
        close(got, ref, np.float32)


def test_an_empty_batch_keeps_its_shapes():
    x = tg.Tensor(np.zeros((2, 0, 5), np.float32), requires_grad=True)
    w = tg.Tensor(np.ones(5, np.float32), requires_grad=True)
    y = F.layer_norm(x, (5,), w)
    y.sum().backward()
    assert y.shape == (2, 0, 5) and x.grad.shape == (2, 0, 5)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(5, np.float32))
