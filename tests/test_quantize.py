"""int8 quantization: exact int32 products on every backend, per-channel weights, QuantizedLinear, quantize_dynamic."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, optim
from tinygrad_opt.compress import (
    QuantizedLinear, int8_matmul, model_size, quantize_activation, quantize_dynamic, quantize_per_channel,
)
from tinygrad_opt.data import load_dataset
from tinygrad_opt.nn.utils import prune

BACKENDS = ["numpy", "numba", "blas", "auto"]


@settings(max_examples=20, deadline=None)
@given(n=st.one_of(st.integers(0, 40), st.integers(64, 130)), k=st.sampled_from([0, 1, 3, 64, 1041, 1500]), m=st.integers(1, 12),
       extreme=st.booleans(), seed=st.integers(0, 2**16))
def test_int8_matmul_is_exact_on_every_backend(n, k, m, extreme, seed):
    rng = np.random.default_rng(seed)
    if extreme:  # every product +-127*127: the largest sums, float32 no longer exact past k = 1040
        x = np.full((n, k), 127, dtype=np.int8)
        w = np.where(rng.random((m, k)) < 0.5, -127, 127).astype(np.int8)
    else:
        x = rng.integers(-127, 128, (n, k)).astype(np.int8)
        w = rng.integers(-127, 128, (m, k)).astype(np.int8)
    expected = x.astype(np.int64) @ w.astype(np.int64).T
    for backend in BACKENDS:
        out = int8_matmul(x, w, backend)
        assert out.dtype == np.int32 and out.shape == (n, m)
        np.testing.assert_array_equal(out, expected, err_msg=backend)


def test_int8_matmul_bad_input():
    a = np.zeros((2, 3), dtype=np.int8)
    with pytest.raises(TypeError, match="must be int8, got float32 and int8"):
        int8_matmul(a.astype(np.float32), a)
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2, 4\) do not fit"):
        int8_matmul(a, np.zeros((2, 4), dtype=np.int8))
    with pytest.raises(ValueError, match="backend must be one of"):
        int8_matmul(a, a, "cuda")


def test_quantize_per_channel():
    w = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [3.0, 2.0, -3.0]], dtype=np.float32)
    q, scale = quantize_per_channel(w)
    assert q.dtype == np.int8 and scale.dtype == np.float32
    np.testing.assert_allclose(scale, [1.0 / 127, 1.0, 3.0 / 127])
    np.testing.assert_array_equal(q[0], [64, -127, 32])  # round(63.5) = 64 (half to even), round(31.75) = 32
    np.testing.assert_array_equal(q[1], [0, 0, 0])
    assert q[2].tolist() == [127, 85, -127]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 30)).astype(np.float32) * rng.uniform(0.01, 10, (20, 1)).astype(np.float32)
    q, scale = quantize_per_channel(w)
    assert np.abs(q.astype(np.float32) * scale[:, None] - w).max(axis=1).max() <= 0.5001 * scale.max()
    assert np.all(np.abs(q).max(axis=1) == 127)  # each row uses its full range


def test_quantize_activation():
    x = np.array([[0.1, -2.54], [1.27, 0.0]], dtype=np.float32)
    q, s = quantize_activation(x)
    assert s == pytest.approx(2.54 / 127) and q.tolist() == [[5, -127], [64, 0]]
    q, s = quantize_activation(np.zeros((2, 2), dtype=np.float32))
    assert s == 1.0 and not q.any()
    with pytest.raises(ValueError, match="inf or NaN"):
        quantize_activation(np.array([[np.inf]], dtype=np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_quantized_linear_is_exact_on_representable_values(backend):
    """Weights and inputs that are exact multiples of their scales: the int8 path is exact."""
    rng = np.random.default_rng(1)
    s_w = np.array([0.5, 0.25, 2.0, 1.0], dtype=np.float32)
    wq = rng.integers(-127, 128, (4, 6)).astype(np.float32)
    wq[:, 0] = 127  # the row maximum fixes the scale exactly
    lin = nn.Linear(6, 4)
    lin.load_state_dict({"weight": wq * s_w[:, None], "bias": np.array([1, 2, 3, 4], dtype=np.float32)})
    x = rng.integers(-126, 127, (5, 6)).astype(np.float32)
    x[0, 0] = 127  # s_x = 1
    q = QuantizedLinear.from_float(lin, backend)
    np.testing.assert_array_equal(q(tg.Tensor(x)).numpy(), lin(tg.Tensor(x)).numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_quantized_linear_close_to_float(backend):
    rng = np.random.default_rng(2)
    lin = nn.Linear(50, 20)
    x = tg.Tensor(rng.standard_normal((3, 7, 50)).astype(np.float32))  # batch axes are kept
    q = QuantizedLinear.from_float(lin, backend)
    y, yq = lin(x).numpy(), q(x).numpy()
    assert yq.shape == (3, 7, 20) and yq.dtype == np.float32
    assert np.abs(yq - y).max() < 0.02 * np.abs(y).max()
    assert q.weight_int8.dtype == np.int8 and q.weight_int8.shape == (20, 50)
    np.testing.assert_allclose(q.dequantized_weight(), lin.weight.numpy(), atol=float(q.weight_scale.numpy().max()) / 2 + 1e-7)
    assert "dtype=int8" in repr(q)
    with pytest.raises(ValueError, match=r"input of shape \(2, 3\) does not end in in_features=50"):
        q(tg.randn(2, 3))


@pytest.fixture(scope="module")
def trained_digits_mlp():
    x, y, xt, yt = load_dataset("digits")
    tg.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(8):
        order = rng.permutation(len(x))
        for i in range(0, len(x) - 63, 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(tg.Tensor(x[idx])), y[idx]).backward()
            opt.step()
    return model.eval(), xt, yt


def test_quantize_dynamic_keeps_accuracy_and_is_4x_smaller(trained_digits_mlp):
    model, xt, yt = trained_digits_mlp
    before = {k: v.copy() for k, v in model.state_dict().items()}
    qmodel = quantize_dynamic(model)
    assert [type(m).__name__ for m in qmodel] == ["Flatten", "QuantizedLinear", "ReLU", "Dropout", "QuantizedLinear"]
    acc = (model(tg.Tensor(xt)).numpy().argmax(1) == yt).mean()
    qacc = (qmodel(tg.Tensor(xt)).numpy().argmax(1) == yt).mean()
    assert acc > 0.9 and abs(acc - qacc) <= 0.01
    agree = (model(tg.Tensor(xt)).numpy().argmax(1) == qmodel(tg.Tensor(xt)).numpy().argmax(1)).mean()
    assert agree > 0.98
    fsize, qsize = model_size(model), model_size(qmodel)
    assert fsize["weights"] == 4 * qsize["weights"] == 4 * (64 * 64 + 64 * 10)
    assert fsize["total"] == 4 * (64 * 64 + 64 + 64 * 10 + 10)
    assert qsize["total"] == (64 * 64 + 64 * 10) + 2 * 4 * (64 + 10)  # int8 weights + float scales and biases
    for k, v in model.state_dict().items():  # the float model is untouched
        np.testing.assert_array_equal(v, before[k])
    assert not qmodel.training


def test_quantize_dynamic_keeps_pruned_zeros(trained_digits_mlp):
    model, xt, _ = trained_digits_mlp
    pruned = quantize_dynamic(model)  # a copy to prune: the fixture stays dense
    dense = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    dense.load_state_dict({k.replace("4.", "3."): v for k, v in model.state_dict().items()})
    prune.global_unstructured([(dense[1], "weight"), (dense[3], "weight")], amount=0.7)
    q = quantize_dynamic(dense)
    mask = dense[1].weight_mask.numpy()
    assert np.all(q[1].weight_int8.numpy()[mask == 0] == 0)
    assert not prune.is_pruned(q) and isinstance(pruned[1], QuantizedLinear)
    assert isinstance(quantize_dynamic(nn.Linear(3, 2)), QuantizedLinear)


def test_quantize_dynamic_names_the_layer_it_cannot_quantize():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"cannot quantize layer '1' \(BatchNorm1d, parameters: weight, bias\).*fold_batchnorm"):
        quantize_dynamic(model)

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(np.ones(4, dtype=np.float32))

        def forward(self, x):
            return x * self.gain

    nested = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), Scale()))
    with pytest.raises(ValueError, match=r"layer '1.1' \(Scale, parameters: gain\)"):
        quantize_dynamic(nested)
    with pytest.raises(ValueError, match="backend must be one of"):
        quantize_dynamic(nn.Linear(2, 2), backend="int4")


def test_the_quantized_product_goes_through_the_kernel_registry(monkeypatch):
    """set_kernels applies to int8 as to every fused kernel: "reference" runs the plain int32 product."""
    from tinygrad_opt import kernels
    from tinygrad_opt.kernels import registry

    calls = []
    real = kernels.reference.int8_matmul
    monkeypatch.setitem(registry._table["int8_matmul"], "reference",
                        lambda x, w: (calls.append(x.shape), real(x, w))[1])
    model = quantize_dynamic(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)))
    x = tg.randn(5, 6)
    mode = kernels.get_mode()
    try:
        tg.set_kernels("reference")  # also forgets the versions resolved before the patch
        out_reference = model(x).numpy()
        assert calls == [(5, 6), (5, 4)]
        tg.set_kernels("auto")
        assert model(x).numpy().tolist() == out_reference.tolist() and len(calls) == 2
        assert kernels.which("int8_matmul", np.zeros((1, 1), np.int8)) == "cpu"
    finally:
        tg.set_kernels(mode)
