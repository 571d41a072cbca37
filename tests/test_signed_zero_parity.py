"""Signed zeros (and NaN, inf, subnormals) through every path that computes ReLU or a clamp, bit for bit against torch.

PyTorch's CPU rule: max(a, lo) = (lo if a < lo else a) and min(a, hi) = (hi if a > hi else a), NaN a passing.
So relu(-0.0) and clamp(-0.0, min=0) are -0.0, while torch.maximum(a, b), torch.minimum(a, b) and clamp with
tensor bounds give b on a tie of +0.0 and -0.0 in their vectorised loop (a in its scalar tail: README,
"Differences from PyTorch"). NumPy's maximum(p, q) gives q on that tie and np.clip gives the bound, so
maximum(a, 0) and clip(a, 0, None) would turn -0.0 into +0.0. Checked here: the ops (each size the registry
sends to the reference or to the Numba loop), the kernels directly (reference, Numba, first-call twin, CUDA
source run by tests/cuda_emulator.py), Linear + ReLU and BatchNorm + ReLU fused, and the capture's fused replay.
ReLU's backward stays torch's threshold_backward: tests/test_relu_nan_parity.py.
"""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.kernels import batchnorm_reference, cpu, first_call, linear_cpu, linear_reference, reference
from tinygrad_opt.nn import functional as F

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]


def specials(dtype) -> np.ndarray:
    tiny = np.finfo(dtype).smallest_subnormal
    return np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, tiny, -tiny, -2.5, 3.0, 0.5, -0.5, 7.0], dtype)


def values(size, dtype, seed=0) -> np.ndarray:
    """`size` values starting with the specials, the rest normal with a third of them -0.0."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(size).astype(dtype)
    a[::3] = -0.0
    s = specials(dtype)
    a[: min(size, len(s))] = s[:size]
    return a


def same_bits(ours, theirs, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{what}: NaN")
    np.testing.assert_array_equal(ours, theirs, err_msg=what)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs), err_msg=f"{what}: sign of zero")


def test_the_specials_tell_the_rules_apart():
    """The claims this file rests on, so a NumPy or torch that changed them would show here first."""
    z = np.array([-0.0], np.float32)
    assert np.signbit(torch.relu(torch.tensor(z)).numpy()[0])
    assert np.signbit(np.maximum(np.float32(0), z)[0]) and not np.signbit(np.maximum(z, np.float32(0))[0])
    assert np.signbit(np.minimum(np.float32(0), z)[0]) and not np.signbit(np.minimum(z, np.float32(0))[0])
    assert not np.signbit(np.clip(z, 0, None)[0])


# ---- the ops, through the public API --------------------------------------------------------------------

RELU_SIZES = [12, 300, 5000]  # the reference (and the relu_backward reference), its loop, ReLU's loop too


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", RELU_SIZES)
@pytest.mark.parametrize("how", ["method", "tg.relu", "F.relu", "nn.ReLU"])
def test_relu(how, size, dtype):
    a = values(size, dtype, seed=size)
    x = tg.Tensor(a.copy())
    y = {"method": lambda: x.relu(), "tg.relu": lambda: tg.relu(x), "F.relu": lambda: F.relu(x),
         "nn.ReLU": lambda: nn.ReLU()(x)}[how]()
    same_bits(y.numpy(), torch.relu(torch.tensor(a)).numpy(), how)


CLAMPS = [(0.0, None), (None, 0.0), (0.0, 1.0), (-1.0, 0.0), (-0.0, None), (None, -0.0), (-1.0, 1.0), (0.0, 0.0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lo, hi", CLAMPS)
def test_clamp_with_number_bounds(lo, hi, dtype):
    a = values(40, dtype)
    theirs = torch.clamp(torch.tensor(a), min=lo, max=hi).numpy()
    same_bits(tg.Tensor(a.copy()).clamp(lo, hi).numpy(), theirs, "Tensor.clamp")
    same_bits(tg.clamp(tg.Tensor(a.copy()), min=lo, max=hi).numpy(), theirs, "tg.clamp")
    same_bits(tg.clip(tg.Tensor(a.copy()), lo, hi).numpy(), theirs, "tg.clip")


def torch_simd_body(dtype) -> int:
    """Elements per block of torch's vectorised loop for two tensors (2 AVX2 vectors); a tail of fewer runs scalar."""
    return 16 if dtype == np.float32 else 8


def same_bits_but_nan_sign(ours, theirs, what):
    """torch's SIMD maximum/minimum return the machine's default NaN (sign set on x86), not the input's."""
    nan = np.isnan(theirs)
    np.testing.assert_array_equal(np.isnan(ours), nan, err_msg=f"{what}: NaN")
    same_bits(np.where(nan, 0, ours), np.where(nan, 0, theirs), what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["maximum", "minimum"])
def test_maximum_and_minimum_give_the_second_argument_on_a_tie_as_torchs_vectorised_loop(fn, dtype):
    """A tie of +0.0 and -0.0: torch's SIMD body gives b, its scalar tail a (README, Differences from PyTorch)."""
    n = 4 * torch_simd_body(dtype)
    a = values(n, dtype)
    for zero in (np.zeros(n, dtype), -np.zeros(n, dtype)):
        for first, second in ((a, zero), (zero, a)):
            ours = getattr(tg, fn)(tg.Tensor(first.copy()), tg.Tensor(second.copy()))
            theirs = getattr(torch, fn)(torch.tensor(first), torch.tensor(second))
            same_bits_but_nan_sign(ours.numpy(), theirs.numpy(), fn)
            tie = (first == 0) & (second == 0)
            assert np.array_equal(np.signbit(ours.numpy()[tie]), np.signbit(second[tie])), fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lo_sign, hi_sign", [(1.0, None), (-1.0, None), (None, 1.0), (None, -1.0), (1.0, -1.0),
                                              (-1.0, 1.0)])
def test_clamp_with_tensor_bounds_follows_torchs_vectorised_loop(lo_sign, hi_sign, dtype):
    n = 4 * torch_simd_body(dtype)
    a = values(n, dtype)
    lo = None if lo_sign is None else np.full(n, lo_sign * 0.0, dtype)
    hi = None if hi_sign is None else np.full(n, hi_sign * 0.0, dtype)
    ours = tg.clamp(tg.Tensor(a.copy()), min=None if lo is None else tg.Tensor(lo),
                    max=None if hi is None else tg.Tensor(hi))
    theirs = torch.clamp(torch.tensor(a), min=None if lo is None else torch.tensor(lo),
                         max=None if hi is None else torch.tensor(hi))
    same_bits_but_nan_sign(ours.numpy(), theirs.numpy(), "clamp with tensor bounds")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (0.0, 1.0), (-1.0, 0.0), (-0.0, 6.0)])
def test_hardtanh_and_relu6(bounds, dtype):
    a = values(40, dtype)
    lo, hi = bounds
    theirs = torch.nn.functional.hardtanh(torch.tensor(a), lo, hi).numpy()
    same_bits(F.hardtanh(tg.Tensor(a.copy()), lo, hi).numpy(), theirs, "F.hardtanh")
    same_bits(nn.Hardtanh(lo, hi)(tg.Tensor(a.copy())).numpy(), theirs, "nn.Hardtanh")
    six = torch.nn.functional.relu6(torch.tensor(a)).numpy()
    same_bits(F.relu6(tg.Tensor(a.copy())).numpy(), six, "F.relu6")
    same_bits(nn.ReLU6()(tg.Tensor(a.copy())).numpy(), six, "nn.ReLU6")


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_of_negative_zero(dtype):
    a = values(5000, dtype)
    same_bits(F.leaky_relu(tg.Tensor(a.copy())).numpy(), torch.nn.functional.leaky_relu(torch.tensor(a)).numpy(),
              "leaky_relu")


# ---- the kernels themselves ------------------------------------------------------------------------------

def torch_bias_relu(h, b):
    return torch.relu(torch.tensor(h) + torch.tensor(b)).numpy()


def bias_inputs(dtype, rows=6):
    """(h, b): a (rows, 12) product holding the specials and a bias of -0.0, +0.0 and the specials."""
    h = np.stack([np.roll(specials(dtype), r) for r in range(rows)])
    b = specials(dtype)
    b[2], b[5:7] = -0.0, [-0.0, 0.0]  # -0.0 + -0.0 is the one sum that stays -0.0
    return h, b


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kernels(dtype):
    a = values(5000, dtype).reshape(50, 100)
    want = torch.relu(torch.tensor(a)).numpy()
    same_bits(reference.relu(a), want, "reference.relu")
    same_bits(cpu.relu(a), want, "cpu.relu (Numba)")
    same_bits(first_call.relu(a), want, "first_call.relu")
    same_bits(reference.relu_into(a, np.empty_like(a)), want, "reference.relu_into")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("module", [linear_reference, linear_cpu, first_call])
def test_bias_relu_kernels(module, dtype):
    h, b = bias_inputs(dtype)
    nan_free = module is not first_call
    if module is first_call:  # the twin declines NaN inputs (the loop runs there): give it none
        h, b = np.nan_to_num(h, nan=1.0), np.nan_to_num(b, nan=1.0)
        nan_free = True
    assert nan_free
    want = torch_bias_relu(h, b)
    same_bits(module.bias_relu(h.copy(), b), want, f"{module.__name__}.bias_relu")
    h_t = np.ascontiguousarray(h.T)
    same_bits(module.bias_relu_transposed(h_t, b, np.empty_like(h)), want, f"{module.__name__}.bias_relu_transposed")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [True, False])
def test_batch_norm_forward_kernels(relu, dtype):
    from tinygrad_opt.kernels import batchnorm_cpu

    x3 = np.stack([specials(dtype), -specials(dtype), np.roll(specials(dtype), 3)])[None]  # (1, 3, 12)
    scale, shift = np.array([1.0, 2.0, 1.0]), np.array([-0.0, -0.0, 0.0])
    y = torch.tensor(x3.astype(np.float64)) * torch.tensor(scale)[None, :, None] + torch.tensor(shift)[None, :, None]
    want = (torch.relu(y) if relu else y).numpy().astype(dtype)
    assert np.signbit(want[0, 0, 0]) and (want[0, 0, 0] == 0)  # a -0.0 output that a max(., 0) would lose
    same_bits(batchnorm_reference.batch_norm_forward(x3, scale, shift, relu), want, "batchnorm_reference")
    same_bits(batchnorm_cpu.batch_norm_forward(x3, scale, shift, relu), want, "batchnorm_cpu")


@pytest.mark.parametrize("mode", ["reference", "numba"])
def test_either_kernel_mode_keeps_negative_zero(mode):
    """TINYGRAD_OPT_KERNELS=reference runs the array expressions everywhere, numba the loops: the same bits."""
    from tinygrad_opt.kernels import registry

    before = registry.get_mode()
    registry.set_kernels(mode)
    try:
        for size in RELU_SIZES:
            a = values(size, np.float32, seed=size)
            same_bits(tg.relu(tg.Tensor(a.copy())).numpy(), torch.relu(torch.tensor(a)).numpy(), f"relu, {mode}")
        h, b = bias_inputs(np.float32, rows=300)
        for name, args in (("bias_relu", (h.copy(), b)),
                           ("bias_relu_transposed", (np.ascontiguousarray(h.T), b, np.empty_like(h)))):
            same_bits(registry.get(name, h)(*args), torch_bias_relu(h, b), f"{name}, {mode}")
    finally:
        registry.set_kernels(before)


# ---- fused layers through nn.Sequential ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [4, 300])  # the product as h (bias_relu) and as h_t (bias_relu_transposed)
def test_sequential_linear_relu(rows, dtype):
    """A zero weight and the specials as bias, through the fused op against torch's ReLU of torch's product.

    BLAS sums a zero product to +0.0, so +0.0 + -0.0 gives +0.0 here: the -0.0 that bias_relu keeps is
    checked on the kernels themselves (test_bias_relu_kernels, test_either_kernel_mode_keeps_negative_zero).
    """
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 5)).astype(dtype)
    model = nn.Sequential(nn.Linear(5, 12), nn.ReLU())
    model[0].weight.data[...] = 0.0
    bias = specials(dtype)
    model[0].bias.data[...] = np.where(np.isnan(bias), 1.0, bias)
    model[0].to(tg.float64) if dtype == np.float64 else None
    tl = torch.nn.Linear(5, 12).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        tl.weight.zero_()
        tl.bias.copy_(torch.tensor(model[0].bias.numpy()))
    ours = model(tg.Tensor(x)).numpy()
    theirs = torch.relu(tl(torch.tensor(x))).detach().numpy()
    # the product's own zeros may differ in sign between BLAS libraries: compare through that product
    h = tl(torch.tensor(x)).detach().numpy()
    same_bits(ours, torch.relu(torch.tensor(h)).numpy(), "Linear + ReLU fused")
    same_bits(ours[np.isfinite(ours) & (ours != 0)], theirs[np.isfinite(ours) & (ours != 0)], "against torch")


@pytest.mark.parametrize("training", [True, False])
def test_sequential_batch_norm_relu_keeps_negative_zero(training):
    x = np.zeros((2, 3, 4, 4), np.float32)
    x[:, 1] = -0.0
    model = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
    model[0].bias.data[...] = -0.0
    model.train(training)
    tbn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        tbn.bias.fill_(-0.0)
    tbn.train(training)
    ours = model(tg.Tensor(x)).numpy()
    theirs = torch.relu(tbn(torch.tensor(x))).detach().numpy()
    same_bits(ours, theirs, "BatchNorm2d + ReLU fused")


# ---- the capture's fused replay ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_the_fused_replays_relu_keeps_negative_zero(dtype):
    from test_capture_fusion import compare, fused_step

    a = values(24, dtype).reshape(2, 12)
    x = tg.Tensor(a.copy(), requires_grad=True)
    s = tg.Tensor(np.ones((2, 12), dtype), requires_grad=True)

    def body(x, s):
        y = (x + x).relu()  # Add and ReLU: one fused forward run
        return (y * s).sum(), y

    with np.errstate(all="ignore"):
        step, compiled = fused_step(body, [x, s], x, s)
        replayed = compare(step, compiled, [x, s], x, s)
    same_bits(replayed[1].numpy(), torch.relu(torch.tensor(a) + torch.tensor(a)).numpy(), "fused replay's ReLU")


# ---- the CUDA kernels' source, run by the emulator -------------------------------------------------------

@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    import shutil

    if shutil.which("g++") is None:
        pytest.skip("the CUDA emulator compiles the kernels' source with g++")
    from cuda_emulator import Emulator

    return Emulator(tmp_path_factory.mktemp("cuda_emulator")).load_gpu_module()


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_relu_kernels(gpu, dtype):
    a = values(300, dtype).reshape(3, 100)
    same_bits(gpu.relu(a), torch.relu(torch.tensor(a)).numpy(), "gpu.relu")
    h, b = bias_inputs(dtype)
    want = torch_bias_relu(h, b)
    same_bits(gpu.bias_relu(h.copy(), b), want, "gpu.bias_relu")
    same_bits(gpu.bias_relu_transposed(np.ascontiguousarray(h.T), b, np.empty_like(h)), want,
              "gpu.bias_relu_transposed")
