"""The CuPy kernels against their reference twins (run by `pytest -m cuda` on a GPU machine).

Every test here is marked cuda and skips cleanly where CuPy or a CUDA device is missing.
The elementwise kernels are compiled without fused multiply-add, so they should agree with
the reference (separate CuPy operations) to the last bit; the tolerances below are tight
but allow one rounding step, since that has not been verified on every GPU.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_opt as tg
from tinygrad_opt import kernels
from tinygrad_opt.kernels import reference

from kernel_table import UPDATES, check_update
from kernel_versions import Guarded

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not tg.cuda_is_available(), reason="needs CuPy and a CUDA device")]

DTYPES = st.sampled_from([np.float32, np.float64])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=6)
SEEDS = st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module")
def cp():
    return pytest.importorskip("cupy")


@pytest.fixture(scope="module")
def gpu():
    from tinygrad_opt.kernels import gpu

    return Guarded(gpu)


def host(seed, shape, dtype, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def close(a, b, dtype, exact=False):
    a = a.get() if hasattr(a, "get") else np.asarray(a)
    b = b.get() if hasattr(b, "get") else np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        single = dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6 if single else 1e-14, atol=1e-7 if single else 1e-15)


def test_registry_picks_the_cupy_versions(cp):
    x = cp.ones(3, cp.float32)
    mode = kernels.get_mode()
    try:
        tg.set_kernels("auto")
        for name in ("adam_update", "dropout", "softmax_cross_entropy", "relu_backward", "grad_norm"):
            assert kernels.which(name, x) == "gpu"
        assert kernels.which("relu", x) == "reference"  # cupy.maximum is already one launch
        tg.set_kernels("reference")
        assert kernels.which("adam_update", x) == "reference"
    finally:
        tg.set_kernels(mode)


@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS)
def test_relu_backward(cp, gpu, shape, dtype, seed):
    g, y = cp.asarray(host(seed, shape, dtype)), cp.maximum(cp.asarray(host(seed + 1, shape, dtype)), 0)
    close(gpu.relu_backward(g, y), reference.relu_backward(g, y), dtype, exact=True)


@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, key=st.integers(0, 2**63 - 1), p=st.sampled_from([0.1, 0.5, 0.9]))
def test_dropout_mask_is_the_cpu_mask(cp, gpu, shape, dtype, seed, key, p):
    """The same seed gives the same mask on the GPU as in the reference on the host, bit for bit."""
    x = host(seed, shape, dtype)
    close(gpu.dropout(cp.asarray(x), key, p), reference.dropout(x, key, p), dtype, exact=True)


def test_dropout_of_non_contiguous_arrays_uses_c_order_indices(cp, gpu):
    """Backward hands dropout transposed or broadcast gradients: the mask must still be the host's C-order mask."""
    x = host(0, (6, 5), np.float32)
    close(gpu.dropout(cp.asarray(x).T, 99, 0.5), reference.dropout(np.ascontiguousarray(x.T), 99, 0.5), np.float32,
          exact=True)
    g = host(1, (5,), np.float64)
    close(gpu.dropout(cp.broadcast_to(cp.asarray(g), (4, 5)), 7, 0.3),
          reference.dropout(np.ascontiguousarray(np.broadcast_to(g, (4, 5))), 7, 0.3), np.float64, exact=True)


def test_numpy_scalars_never_reach_the_gpu_kernels(cp):
    """A NumPy scalar (the upstream gradient of a 0-d CPU tensor can be one) is host data: with CuPy
    present the registry must still hand it the host version (CuPy's kernels cannot size a loop from it)."""
    mode = kernels.get_mode()
    try:
        tg.set_kernels("auto")
        x = np.float32(1.5)
        assert kernels.which("dropout", x) != "gpu"
        assert kernels.get("dropout", x)(x, 3, 0.5) == reference.dropout(x, 3, 0.5)
        grads = [np.float32(3.0), np.float32(-4.0)]
        assert kernels.which("grad_norm", grads[0]) != "gpu"
        assert float(kernels.get("grad_norm", grads[0])(grads, 2.0)) == 5.0
    finally:
        tg.set_kernels(mode)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), c=st.sampled_from([1, 3, 10, 33, 100]), dtype=DTYPES, seed=SEEDS,
       eps=st.sampled_from([0.0, 0.1]), scale=st.sampled_from([1.0, 1e3]))
def test_softmax_cross_entropy(cp, gpu, n, c, dtype, seed, eps, scale):
    z = host(seed, (n, c), dtype, scale)
    t = np.random.default_rng(seed).integers(0, c, n)
    loss, dz = gpu.softmax_cross_entropy(cp.asarray(z), cp.asarray(t), eps)
    ref_loss, ref_dz = reference.softmax_cross_entropy(z.copy(), t, eps)
    tol = dict(rtol=2e-6, atol=2e-6 * scale) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(loss.get(), ref_loss, **tol)
    np.testing.assert_allclose(dz.get(), ref_dz, rtol=tol["rtol"], atol=2e-6 if dtype == np.float32 else 1e-13)
    assert loss.dtype == dtype and dz.dtype == dtype


def test_softmax_cross_entropy_bad_target_gives_nan_not_a_crash(cp, gpu):
    loss, _ = gpu.softmax_cross_entropy(cp.zeros((2, 3), cp.float32), cp.asarray([0, 7]), 0.0)
    values = loss.get()
    assert np.isfinite(values[0]) and np.isnan(values[1])


@pytest.mark.parametrize("name", sorted(UPDATES))
@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS, data=st.data())
def test_optimizer_updates(cp, gpu, name, shape, dtype, seed, data):
    check_update(gpu, name, shape, dtype, seed, data.draw(UPDATES[name].knobs), to_device=cp.asarray,
                 compare=lambda a, b, what: close(a, b, dtype))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_norm(cp, gpu, norm_type, dtype):
    grads = [host(i, s, dtype, 3.0) for i, s in enumerate([(7, 5), (5,), (), (300, 11)])]
    ours = gpu.grad_norm([cp.asarray(g) for g in grads], norm_type)
    assert isinstance(ours, cp.ndarray) and ours.shape == () and ours.dtype == dtype
    np.testing.assert_allclose(ours.get(), reference.grad_norm(grads, norm_type),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)
    with_nan = [cp.asarray(grads[0]), cp.asarray([1.0, np.nan], dtype)]
    assert np.isnan(float(gpu.grad_norm(with_nan, norm_type)))


def test_training_step_runs_without_host_round_trips(cp):
    """Forward, backward and the Adam step on "cuda" never synchronise with the host."""
    cupyx = pytest.importorskip("cupyx")
    allow_synchronize = getattr(cupyx, "allow_synchronize", None)
    if allow_synchronize is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    from tinygrad_opt import nn, ops, optim

    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 5)).to("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((16, 20)).astype(np.float32), device="cuda")
    y = tg.Tensor(np.random.default_rng(1).integers(0, 5, 16), device="cuda")
    for _ in range(2):  # the first step compiles kernels and creates optimizer state
        with allow_synchronize(False):
            loss = ops.CrossEntropy.apply(model(x), y, reduction="mean", label_smoothing=0.1)
            loss.backward()
            opt.step()
            opt.zero_grad()
    assert math.isfinite(loss.item())  # asking for the number is where the host waits


def test_cuda_training_matches_cpu_in_both_modes(cp):
    from tinygrad_opt import nn, optim
    import tinygrad_opt.nn.functional as F

    def train(device, mode):
        tg.set_kernels(mode)
        tg.manual_seed(1)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 3)).to(device)
        opt = optim.AdamW(model.parameters(), lr=0.01, amsgrad=True)
        rng = np.random.default_rng(0)
        for _ in range(3):
            x = tg.Tensor(rng.standard_normal((8, 6)).astype(np.float32), device=device)
            y = tg.Tensor(rng.integers(0, 3, 8), device=device)
            F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
            optim.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
        return [p.numpy() for p in model.parameters()]

    mode = kernels.get_mode()
    try:
        expected = train("cpu", "reference")
        for device, kernel_mode in (("cuda", "auto"), ("cuda", "reference"), ("cpu", "auto")):
            for a, b in zip(train(device, kernel_mode), expected):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=f"{device} {kernel_mode}")
    finally:
        tg.set_kernels(mode)
