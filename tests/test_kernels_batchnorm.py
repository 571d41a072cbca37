"""Batch norm over channel blocks: the Numba kernels against their reference twins, the op's layouts,
the fused BatchNorm2d + ReLU against the unfused pair and torch, and its float64 gradients."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from tinygrad_opt.kernels import batchnorm_reference as reference
from tinygrad_opt.ops.channel_layout import channel_major, from_blocks, to_blocks

cpu = pytest.importorskip("tinygrad_opt.kernels.batchnorm_cpu", reason="Numba is not installed")


@st.composite
def blocks(draw):
    a, c, length = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    offset = draw(st.sampled_from([0.0, 50.0, -1e4]))  # a large mean against the spread: no cancellation
    x3 = (rng.standard_normal((a, c, length)) * rng.uniform(0.1, 3.0, (1, c, 1)) + offset).astype(dtype)
    g3 = rng.standard_normal((a, c, length)).astype(dtype)
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    return x3, g3, w, b, draw(st.booleans()), draw(st.booleans()), draw(st.booleans())


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(blocks())
def test_kernels_equal_the_reference(case):
    x3, g3, w, b, relu, training, want_gx = case
    mean, var = cpu.batch_norm_stats(x3)
    ref_mean, ref_var = reference.batch_norm_stats(x3)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12, atol=1e-12 * (1 + np.abs(ref_mean).max()))
    np.testing.assert_allclose(var, ref_var, rtol=1e-9, atol=1e-12)
    invstd = 1.0 / np.sqrt(ref_var + 1e-5)
    scale, shift = w * invstd, b - ref_mean * w * invstd
    y = cpu.batch_norm_forward(x3, scale, shift, relu)
    assert y.dtype == x3.dtype and y.shape == x3.shape
    np.testing.assert_allclose(y, reference.batch_norm_forward(x3, scale, shift, relu), **tolerance(x3.dtype))
    if relu:
        assert (y >= 0).all()
    got = cpu.batch_norm_backward(g3, x3, ref_mean, invstd, scale, shift, relu, training, want_gx)
    expected = reference.batch_norm_backward(g3, x3, ref_mean, invstd, scale, shift, relu, training, want_gx)
    assert (got[0] is None) == (not want_gx) == (expected[0] is None)
    if want_gx:
        assert got[0].dtype == x3.dtype
        np.testing.assert_allclose(got[0], expected[0], **tolerance(x3.dtype))
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-9, atol=1e-9)


def test_reference_handles_what_the_loops_do_not():
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float16)
    assert not cpu.batch_norm_stats.takes(x)
    assert not cpu.batch_norm_forward.takes(x[:, :, ::2], None, None, False)  # not contiguous
    mean, var = tg.kernels.get("batch_norm_stats", x)(x)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2)), rtol=1e-12)


def test_channel_blocks_are_views_in_both_layouts():
    nchw = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    major = np.ascontiguousarray(nchw.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    for x, is_major in ((nchw, False), (major, True)):
        x3, layout = to_blocks(x)
        assert layout is is_major and channel_major(x) is is_major and np.shares_memory(x3, x)
        np.testing.assert_array_equal(from_blocks(x3, x.shape, layout), x)
        for c in range(3):
            np.testing.assert_array_equal(np.sort(x3[:, c].ravel()), np.sort(x[:, c].ravel()))


@pytest.mark.parametrize("layout", ["nchw", "channel_major"])
@pytest.mark.parametrize("training", [True, False])
def test_fused_batchnorm_relu_equals_the_pair_and_torch(layout, training):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5, 6)) * 2 + 0.5
    if layout == "channel_major":
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    ref = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.ReLU()).double()
    fused = nn.Sequential(nn.BatchNorm2d(3, dtype=np.float64), nn.ReLU())
    pair = [nn.BatchNorm2d(3, dtype=np.float64), nn.ReLU()]
    weight, bias = np.array([1.5, -0.7, 0.2]), np.array([0.1, 0.3, -2.0])
    with torch.no_grad():
        ref[0].weight.copy_(torch.tensor(weight))
        ref[0].bias.copy_(torch.tensor(bias))
    for model in (fused[0], pair[0]):
        model.weight.data[...] = weight
        model.bias.data[...] = bias
    for model in (ref, fused, pair[0], pair[1]):
        model.train(training)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    x_fused, x_pair = tg.Tensor(x, requires_grad=True), tg.Tensor(x, requires_grad=True)
    g = rng.standard_normal(x.shape)
    out_ref, out_fused, out_pair = ref(xt), fused(x_fused), pair[1](pair[0](x_pair))
    assert fused._modules["0"].running_mean is not None
    out_ref.backward(torch.tensor(g))
    (out_fused * tg.Tensor(g)).sum().backward()
    (out_pair * tg.Tensor(g)).sum().backward()
    for out, xin, model in ((out_fused, x_fused, fused[0]), (out_pair, x_pair, pair[0])):
        np.testing.assert_allclose(out.data, out_ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xin.grad.data, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(model.weight.grad.data, ref[0].weight.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(model.bias.grad.data, ref[0].bias.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(model.running_mean.data, ref[0].running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(model.running_var.data, ref[0].running_var.numpy(), rtol=1e-12)


def test_sequential_fuses_batchnorm_relu_into_one_node_and_keeps_the_layout():
    x = np.ascontiguousarray(np.random.default_rng(2).standard_normal((3, 2, 4, 4)).transpose(1, 0, 2, 3))
    x = x.transpose(1, 0, 2, 3)  # channel-major, as a convolution leaves it
    out = nn.Sequential(nn.BatchNorm2d(2, dtype=np.float64), nn.ReLU())(tg.Tensor(x, requires_grad=True))
    assert type(out.grad_fn) is tg.ops.BatchNormChannels and out.grad_fn.relu
    assert channel_major(out.data) and (out.data >= 0).all()


def test_a_hook_on_the_relu_keeps_the_pair_unfused():
    seen = []
    relu = nn.ReLU()
    relu.register_forward_hook(lambda module, args, output: seen.append(output))
    x = tg.Tensor(np.random.default_rng(3).standard_normal((2, 2, 3, 3)))
    out = nn.Sequential(nn.BatchNorm2d(2, dtype=np.float64), relu)(x)
    assert len(seen) == 1 and seen[0] is out and not out.grad_fn.__class__ is tg.ops.BatchNormChannels


@settings(max_examples=10, deadline=None)
@given(training=st.booleans(), affine=st.sampled_from(["both", "weight", "none"]), seed=st.integers(0, 2**16))
def test_fused_batch_norm_relu_gradcheck(training, affine, seed):
    from tinygrad_opt.nn.functional_image import batch_norm_relu

    rng = np.random.default_rng(seed)
    # values kept away from the ReLU's kink: y = 0 exactly has no gradient to check
    x = tg.Tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
    params = [tg.Tensor(rng.standard_normal(2) + 2.0, requires_grad=True) for _ in range({"both": 2, "weight": 1,
                                                                                           "none": 0}[affine])]
    mean, var = tg.Tensor(rng.standard_normal(2)), tg.Tensor(rng.random(2) + 0.5)
    assert tg.gradcheck(lambda *t: batch_norm_relu(t[0], mean, var, *t[1:], training=training, momentum=0.0,
                                                   relu=True), [x, *params])


def test_changing_the_saved_input_in_place_is_caught_before_backward():
    conv = nn.Conv2d(1, 2, 3, bias=False)
    x = tg.Tensor(np.random.default_rng(4).standard_normal((2, 1, 5, 5)).astype(np.float32))
    h = conv(x)  # channel-major: the batch norm saves a view of the GEMM's output
    out = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU())(h)
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|changed in place|in-place|inplace"):
        out.sum().backward()


@pytest.fixture
def blas_policy():
    policy = tg.kernels.get_blas_threads()
    yield
    tg.kernels.set_blas_threads(policy)


def test_kernels_give_the_same_bits_on_one_thread_and_on_several(blas_policy, monkeypatch):
    """Channel ranges (batch norm), plane ranges (pooling) and image chunks (convolution) split
    the work, not the sums: the results do not depend on the thread count."""
    from tinygrad_opt.kernels import parallel

    pools = []
    executor = parallel._executor
    monkeypatch.setattr(parallel, "_executor", lambda threads: pools.append(threads) or executor(threads))
    rng = np.random.default_rng(6)
    x = np.ascontiguousarray(rng.standard_normal((80, 8, 30, 30)).astype(np.float32).transpose(1, 0, 2, 3))
    x = x.transpose(1, 0, 2, 3)
    g3 = rng.standard_normal((1, 8, 80 * 900)).astype(np.float32)
    w = tg.Tensor(rng.standard_normal((8, 8, 3, 3)).astype(np.float32), requires_grad=True)
    results = []
    for threads in (1, 2, 3):
        tg.kernels.set_blas_threads(threads)
        x3, _ = to_blocks(x)
        mean, var = cpu.batch_norm_stats(x3)
        invstd = 1 / np.sqrt(var + 1e-5)
        y = cpu.batch_norm_forward(x3, invstd, -mean * invstd, True)
        back = cpu.batch_norm_backward(g3, x3, mean, invstd, invstd, -mean * invstd, True, True, True)
        pooled, argmax = tg.kernels.get("max_pool2d_forward", x)(x, 2, 2, 2, 2, 1, 1, 15, 15)
        gpool = tg.kernels.get("max_pool2d_backward", pooled)(pooled, argmax, 30, 30, 2, 2, 2, 2, 1, 1)
        xt = tg.Tensor(x, requires_grad=True)
        w.grad = None
        conv = F.conv2d(xt, w, padding=1)
        conv.backward(tg.Tensor(np.ones(conv.shape, np.float32)))
        results.append((mean, var, y, *back, pooled, argmax, gpool, conv.data, xt.grad.data, w.grad.data))
        assert len(pools) >= (7 if threads > 1 else 0)  # 3 batch norm, 2 pooling, 2 convolution passes ran split
        pools.clear()
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
