"""kernels/gpu.py run on the CPU through tests/cuda_emulator.py: its CUDA C compiled as C++ by g++.

No GPU has run this code yet, so this is where its Python wrappers (argument order, scalar
dtypes, fallbacks) and the arithmetic of its kernel bodies are checked on every CI run. The
elementwise kernels avoid fused multiply-add, as the reference's separate operations do, so
they must equal kernels/reference.py bit for bit; softmax cross-entropy uses exp and log,
which differ by ulps between math libraries, so it gets a tolerance. nvcc, where installed,
compiles every kernel body that ran for sm_90. What stays for a real GPU: CUDA's exp/log,
flush-to-zero of float32 subnormals, CuPy's own code generation (tests/test_kernels_gpu.py).
"""
import math
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cuda_emulator import Emulator, nvcc_check
from kernel_table import UPDATES, check_update
from kernel_versions import Guarded
from tinygrad_opt.kernels import reference

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to compile the kernels for the host")

DTYPES = st.sampled_from([np.float32, np.float64])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=6)
SEEDS = st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    return Emulator(tmp_path_factory.mktemp("cuda_emulator"))


@pytest.fixture(scope="module")
def gpu(emulator):
    return Guarded(emulator.load_gpu_module())


def values(seed, shape, dtype, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def assert_bitwise(actual, expected, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    assert actual.tobytes() == expected.tobytes(), f"{what}: largest difference {np.max(np.abs(actual - expected))}"


def test_the_copy_runs_on_the_stand_in_and_the_package_is_untouched(gpu):
    import sys

    assert gpu.cp.__name__ == "cupy_stand_in" and sys.modules.get("cupy") is not gpu.cp
    assert "tinygrad_opt.kernels.gpu" not in sys.modules or sys.modules["tinygrad_opt.kernels.gpu"] is not gpu


@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS)
def test_relu_backward(gpu, shape, dtype, seed):
    g, y = values(seed, shape, dtype), np.maximum(values(seed + 1, shape, dtype), 0)
    assert_bitwise(gpu.relu_backward(g, y), reference.relu_backward(g, y))


@settings(max_examples=20, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, key=st.integers(0, 2**64 - 1), p=st.sampled_from([0.1, 0.5, 0.9]))
def test_dropout_is_the_reference_mask_bit_for_bit(gpu, shape, dtype, seed, key, p):
    x = values(seed, shape, dtype)
    assert_bitwise(gpu.dropout(x, key, p), reference.dropout(x, key, p))


def test_dropout_indexes_non_contiguous_and_broadcast_inputs_in_c_order(gpu):
    """Backward may hand dropout a transposed or broadcast gradient: element i is still the C-order index."""
    x = values(0, (6, 5), np.float32).T
    assert_bitwise(gpu.dropout(x, 99, 0.5), reference.dropout(np.ascontiguousarray(x), 99, 0.5))
    g = np.broadcast_to(values(1, (5,), np.float64), (4, 5))
    assert_bitwise(gpu.dropout(g, 7, 0.3), reference.dropout(np.ascontiguousarray(g), 7, 0.3))


@pytest.mark.parametrize("name", sorted(UPDATES))
@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, data=st.data())
def test_optimizer_updates(gpu, name, shape, dtype, seed, data):
    check_update(gpu, name, shape, dtype, seed, data.draw(UPDATES[name].knobs), compare=assert_bitwise)


def test_optional_state_may_be_none(gpu):
    """The optimizers pass None for the buffers an option does not use (no amsgrad, no momentum, not centered)."""
    p, g = values(0, (3,), np.float32), values(1, (3,), np.float32)
    q = p.copy()
    state = [np.zeros(3, np.float32) for _ in range(4)]
    gpu.adam_update(p, g, state[0], state[1], None, step=1, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8,
                    weight_decay=0.0, amsgrad=False, maximize=False)
    reference.adam_update(q, g, state[2], state[3], None, step=1, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8,
                          weight_decay=0.0, amsgrad=False, maximize=False)
    assert_bitwise(p, q)
    gpu.rmsprop_update(p, g, state[0], None, None, lr=0.1, alpha=0.9, eps=1e-8, weight_decay=0.0, momentum=0.0,
                       centered=False, maximize=False)
    gpu.sgd_update(p, g, None, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                   maximize=False, first_step=False)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_norm(gpu, norm_type, dtype):
    grads = [values(i, s, dtype, 3.0) for i, s in enumerate([(7, 5), (5,), (), (300, 11), (0,)])]
    ours = np.asarray(gpu.grad_norm(grads, norm_type))  # NumPy's sum/max give scalars where CuPy gives 0-d arrays
    assert ours.shape == () and ours.dtype == dtype
    np.testing.assert_allclose(ours, reference.grad_norm(grads, norm_type), rtol=1e-6 if dtype == np.float32 else 1e-13)
    for with_nan in ([grads[0], np.asarray([1.0, np.nan], dtype)], [np.asarray([np.nan, 1.0], dtype), grads[0]]):
        assert np.isnan(gpu.grad_norm(with_nan, norm_type))  # NaN wins wherever it sits


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 20), c=st.sampled_from([1, 3, 10, 33, 100]), dtype=DTYPES, seed=SEEDS,
       eps=st.sampled_from([0.0, 0.1]), scale=st.sampled_from([1.0, 1e3]))
def test_softmax_cross_entropy(gpu, n, c, dtype, seed, eps, scale):
    z = values(seed, (n, c), dtype, scale)
    t = np.random.default_rng(seed).integers(0, c, n)
    loss, dz = gpu.softmax_cross_entropy(z, t, eps)
    ref_loss, ref_dz = reference.softmax_cross_entropy(z.copy(), t, eps)
    assert loss.dtype == dtype and dz.dtype == dtype and loss.shape == (n,) and dz.shape == (n, c)
    tol = dict(rtol=2e-6, atol=2e-6 * scale) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(loss, ref_loss, **tol)
    np.testing.assert_allclose(dz, ref_dz, rtol=tol["rtol"], atol=2e-6 if dtype == np.float32 else 1e-13)


def test_softmax_cross_entropy_edges(gpu):
    # a target out of range gives NaN for that row and reads nothing out of bounds
    loss, _ = gpu.softmax_cross_entropy(np.zeros((2, 3), np.float32), np.asarray([0, 7]), 0.0)
    assert np.isfinite(loss[0]) and np.isnan(loss[1])
    # non-contiguous logits and int32 targets are made contiguous / int64 first
    z = values(0, (8, 10), np.float32).T
    loss, dz = gpu.softmax_cross_entropy(z, np.arange(10, dtype=np.int32) % 8, 0.1)
    ref_loss, ref_dz = reference.softmax_cross_entropy(np.array(z), np.arange(10) % 8, 0.1)
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(dz, ref_dz, rtol=2e-6, atol=2e-6)
    # a NaN logit makes its row NaN, as in the reference; other rows are untouched
    z = values(1, (3, 4), np.float64)
    z[1, 2] = np.nan
    loss, dz = gpu.softmax_cross_entropy(z, np.array([0, 1, 2]), 0.1)
    ref_loss, ref_dz = reference.softmax_cross_entropy(z.copy(), np.array([0, 1, 2]), 0.1)
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(ref_loss))
    np.testing.assert_array_equal(np.isnan(dz), np.isnan(ref_dz))
    np.testing.assert_allclose(loss[[0, 2]], ref_loss[[0, 2]], rtol=1e-12)


def test_every_kernel_that_ran_compiles_with_nvcc(gpu, emulator, tmp_path):
    """The CUDA form of each kernel body (plain pointers instead of CuPy's CArray) through nvcc for sm_90."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed")
    x32, x64 = values(0, (4, 3), np.float32), values(0, (4, 3), np.float64)
    for x in (x32, x64):  # every kernel at least once in each dtype, whichever tests ran before
        gpu.relu_backward(x, x)
        gpu.dropout(x, 1, 0.5)
        gpu.softmax_cross_entropy(x, np.zeros(4, np.int64), 0.1)
        for norm_type in (2.0, 1.0, math.inf):
            gpu.grad_norm([x], norm_type)
        for momentum in (0.0, 0.9):
            gpu.sgd_update(x.copy(), x, x.copy(), lr=0.1, momentum=momentum, dampening=0.0, weight_decay=0.1,
                           nesterov=False, maximize=False, first_step=False)
        for amsgrad in (False, True):
            gpu.adam_update(x.copy(), x, x.copy(), x * x, x * x, step=2, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8,
                            weight_decay=0.0, amsgrad=amsgrad, maximize=False)
        for centered in (False, True):
            for momentum in (0.0, 0.5):
                gpu.rmsprop_update(x.copy(), x, x * x, x.copy(), x.copy(), lr=0.1, alpha=0.9, eps=1e-8,
                                   weight_decay=0.0, momentum=momentum, centered=centered, maximize=False)
        gpu.adagrad_update(x.copy(), x, x * x, step=1, lr=0.1, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                           maximize=False)
    source = emulator.cuda_sources()
    assert source.count("__global__") >= 2 * 13
    nvcc_check(source, tmp_path)
