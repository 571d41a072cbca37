"""int8 quantization of CNNs: QuantizedConv2d (per-output-channel weights, im2col + the registry's int8 product),
BatchNorm2d folding, quantize_dynamic on the CNN presets, and quantized checkpoints."""
import copy

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.compress import (QuantizedConv2d, fold_batchnorm, model_size, prune_filters, quantize_dynamic,
                                   shrink_filters)
from tinygrad_opt.compress.quantized_checkpoint import (quantize_model, quantized_from_checkpoint,
                                                        quantized_model_config)
from tinygrad_opt.nn.utils import prune
from tinygrad_opt.train.errors import CheckpointError
from tinygrad_opt.train.models import build_cnn, build_lenet5

BACKENDS = ["numpy", "numba", "blas", "auto"]
GEOMETRIES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(3, 2), stride=2, padding=(1, 2)),
    dict(kernel_size=3, dilation=2, padding="same"),
    dict(kernel_size=1, groups=2),
    dict(kernel_size=3, padding=1, padding_mode="reflect", bias=False),
    dict(kernel_size=3, padding=2, padding_mode="circular", groups=2),
]


def images(n, channels, side, seed=0):
    return np.random.default_rng(seed).standard_normal((n, channels, side, side)).astype(np.float32)


def representable_conv(rng, geometry, channels=4, out=6):
    """A conv whose weights are integers times a per-channel scale, each channel reaching +-127."""
    conv = nn.Conv2d(channels, out, **geometry)
    w = rng.integers(-127, 128, size=conv.weight.shape).astype(np.float64)
    w.reshape(out, -1)[:, 0] = 127
    scale = rng.uniform(0.001, 0.01, size=out)
    conv.weight.data = (w * scale[:, None, None, None]).astype(np.float32)
    return conv, w.astype(np.int8)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_quantized_conv_is_exact_on_representable_values(geometry):
    rng = np.random.default_rng(1)
    conv, integers = representable_conv(rng, geometry)
    q = QuantizedConv2d.from_float(conv)
    np.testing.assert_array_equal(q.weight_int8.numpy(), integers)
    np.testing.assert_allclose(q.dequantized_weight(), conv.weight.numpy(), rtol=1e-6)
    x = rng.integers(-127, 128, size=(3, 4, 7, 7)).astype(np.float32) * np.float32(0.05)
    x.reshape(-1)[0] = 127 * 0.05
    expected = nn.functional.conv2d(tg.Tensor(x.astype(np.float64)), tg.Tensor(conv.weight.numpy().astype(np.float64)),
                                    None if conv.bias is None else tg.Tensor(conv.bias.numpy().astype(np.float64)),
                                    conv.stride, conv.padding, conv.dilation, conv.groups,
                                    padding_mode=conv.padding_mode).numpy()
    got = q(tg.Tensor(x))
    assert got.dtype == tg.float32 and not got.requires_grad and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_quantized_conv_close_to_float_and_identical_on_every_backend(geometry):
    tg.manual_seed(2)
    conv = nn.Conv2d(4, 6, **geometry)
    x = images(2, 4, 9)
    expected = conv(tg.Tensor(x)).numpy()
    outs = [QuantizedConv2d.from_float(conv, backend)(tg.Tensor(x)).numpy() for backend in BACKENDS]
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])  # the same int32 sums, whichever product computed them
    assert np.abs(outs[0] - expected).max() <= 0.02 * np.abs(expected).max()


def test_unbatched_input_and_bad_input():
    conv = nn.Conv2d(3, 2, 3)
    q = QuantizedConv2d.from_float(conv)
    x = images(1, 3, 5)
    np.testing.assert_array_equal(q(tg.Tensor(x[0])).numpy(), q(tg.Tensor(x)).numpy()[0])
    with pytest.raises(ValueError, match=r"QuantizedConv2d\(3, 2, kernel_size=\(3, 3\)\): expected input of shape "
                                         r"\(N, 3, H, W\) or \(3, H, W\), got \(1, 4, 5, 5\)"):
        q(tg.Tensor(images(1, 4, 5)))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        q(tg.Tensor(images(1, 3, 2)))
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"QuantizedConv2d.*inf or NaN"):
        q(tg.Tensor(bad))
    with pytest.raises(TypeError, match="expects an nn.Conv2d"):
        QuantizedConv2d.from_float(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend must be one of"):
        QuantizedConv2d.from_float(conv, backend="int4")


def test_pruned_filters_stay_exactly_zero():
    model = nn.Sequential(nn.Conv2d(2, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 3))
    prune_filters(model, 0.5)
    q = quantize_dynamic(model)
    dead = model[0].weight_mask.numpy().reshape(8, -1).sum(axis=1) == 0
    assert (q[0].weight_int8.numpy()[dead] == 0).all() and (q[0].bias.numpy()[dead] == 0).all()
    out = q[:2](tg.Tensor(images(2, 2, 6))).numpy()
    assert (out[:, dead] == 0).all()


def test_fold_conv_batchnorm_equals_the_eval_model():
    tg.manual_seed(3)
    model = build_cnn(image_size=8, widths=(6, 8))
    model.train()
    model(tg.Tensor(images(8, 1, 8)))
    model.eval()
    prune_filters(model, 0.5)  # pruned BatchNorm weights and biases fold too
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.Conv2d) and m.bias is not None for m in folded.modules()) == 2
    x = tg.Tensor(images(4, 1, 8))
    np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build,x", [
    (lambda: build_cnn(image_size=8, in_features=64), images(16, 1, 8).reshape(16, 64)),
    (lambda: build_lenet5(), images(4, 1, 28)),
])
def test_quantized_cnn_presets_close_to_float_and_4x_smaller(build, x):
    tg.manual_seed(4)
    model = build()
    model.train()
    model(tg.Tensor(x))
    model.eval()
    q = quantize_model(model)
    assert all(not isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)) for m in q.modules())
    expected, got = model(tg.Tensor(x)).numpy(), q(tg.Tensor(x)).numpy()
    assert np.abs(got - expected).max() <= 0.05 * np.abs(expected).max()
    size_f, size_q = model_size(model), model_size(q)
    assert size_f["weights"] == 4 * size_q["weights"]


def test_batchnorm2d_not_after_a_conv_is_named():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2))
    with pytest.raises(ValueError, match=r"layer '2' \(BatchNorm2d.*Linear or Conv2d.*fold_batchnorm"):
        quantize_model(model)


def test_the_conv_product_goes_through_the_kernel_registry(monkeypatch):
    from tinygrad_opt import kernels
    from tinygrad_opt.kernels import registry

    calls = []
    real = kernels.reference.int8_matmul
    monkeypatch.setitem(registry._table["int8_matmul"], "reference",
                        lambda x, w: (calls.append((x.shape, w.shape)), real(x, w))[1])
    q = QuantizedConv2d.from_float(nn.Conv2d(3, 5, 3))
    x = tg.Tensor(images(2, 3, 6))
    mode = kernels.get_mode()
    try:
        tg.set_kernels("reference")
        reference = q(x).numpy()
        assert calls == [((2 * 4 * 4, 27), (5, 27))]
        tg.set_kernels("auto")
        np.testing.assert_array_equal(q(x).numpy(), reference)
    finally:
        tg.set_kernels(mode)


def test_quantized_checkpoint_round_trip_and_damage():
    tg.manual_seed(5)
    float_config = {"type": "cnn", "in_features": 64, "in_channels": 1, "num_classes": 10, "image_size": 8,
                    "conv_channels": [16, 32]}
    from tinygrad_opt.train.models import build_model

    model = build_model(float_config).eval()
    q = quantize_model(model)
    ckpt = {"path": "q.ckpt", "model_config": quantized_model_config(float_config), "model": q.state_dict()}
    loaded = quantized_from_checkpoint(ckpt)
    x = tg.Tensor(images(3, 1, 8).reshape(3, 64))
    np.testing.assert_array_equal(loaded(x).numpy(), q(x).numpy())
    assert loaded[1].weight_int8.dtype == tg.int8
    wrong = dict(ckpt, model_config=quantized_model_config(dict(float_config, conv_channels=[8, 32])))
    with pytest.raises(CheckpointError, match="different architecture"):
        quantized_from_checkpoint(wrong)
    with pytest.raises(CheckpointError, match="holds no quantized model"):
        quantized_from_checkpoint(dict(ckpt, model_config=float_config))


def test_shrunk_then_quantized():
    tg.manual_seed(6)
    model = build_cnn(image_size=8)
    model.eval()
    prune_filters(model, 0.5)
    small = shrink_filters(model)
    q = quantize_model(small)
    x = tg.Tensor(images(8, 1, 8))
    expected = model(x).numpy()
    assert np.abs(q(x).numpy() - expected).max() <= 0.05 * np.abs(expected).max()
    assert not prune.is_pruned(q)


def test_prune_shrink_and_quantize_on_each_device(device):
    """The same filter pruning, shrinking and int8 forward on the device as on the host (CuPy on cuda)."""
    tg.manual_seed(7)
    host = build_cnn(image_size=8, widths=(6, 8))
    host.train()
    host(tg.Tensor(images(8, 1, 8)))
    host.eval()
    on_device = copy.deepcopy(host).to(device)
    for model in (host, on_device):
        prune_filters(model, 0.5)
    x = images(4, 1, 8)
    small, small_device = shrink_filters(host), shrink_filters(on_device)
    np.testing.assert_allclose(small_device(tg.Tensor(x).to(device)).numpy(), small(tg.Tensor(x)).numpy(),
                               rtol=1e-5, atol=1e-6)
    q, q_device = quantize_model(small), quantize_model(small_device)
    np.testing.assert_allclose(q_device(tg.Tensor(x).to(device)).numpy(), q(tg.Tensor(x)).numpy(),
                               rtol=1e-5, atol=1e-5)
