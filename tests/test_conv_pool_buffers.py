"""Conv2d (and max pooling) write into a captured step's buffers (out=): the same bits and ctx as eager, and a
captured CNN step with every output in a buffer replays bit for bit (tinygrad_opt/capture/into.py)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn, ops
from tinygrad_opt.capture import CaptureWarning, into
from tinygrad_opt.capture.into import writer
from tinygrad_opt.train.models import build_cnn

RNG = np.random.default_rng(0)


def f(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def channel_major(a):
    return np.ascontiguousarray(a.swapaxes(0, 1)).swapaxes(0, 1)


CONV_CASES = [  # inputs, options
    ((f(4, 3, 9, 9), f(5, 3, 3, 3), f(5)), {"padding": (1, 1, 1, 1)}),
    ((f(4, 3, 9, 9), f(5, 3, 3, 3)), {"stride": (2, 1), "padding": (0, 1, 2, 0), "dilation": (1, 2)}),
    ((channel_major(f(3, 4, 8, 7)), f(6, 2, 3, 2), f(6)), {"groups": 2}),  # a pooled conv output comes in
    ((f(1, 2, 6, 6), f(3, 2, 3, 3)), {}),  # one image: the output is NCHW and channel-major at once
    ((f(2, 2, 7, 7, dtype=np.float64), f(4, 2, 3, 3, dtype=np.float64), f(4, dtype=np.float64)), {}),
]


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_into_a_buffer_gives_its_forward_bit_for_bit_and_the_same_ctx(case):
    inputs, options = CONV_CASES[case]
    assert writer(ops.Conv2d) is not None
    eager_ctx, into_ctx = object.__new__(ops.Conv2d), object.__new__(ops.Conv2d)
    expected = ops.Conv2d.forward(eager_ctx, *inputs, **options)
    out = np.full_like(expected, np.nan, order="K")
    got = writer(ops.Conv2d)(into_ctx, out, *inputs, **options)
    assert got is out and (got.strides == expected.strides or got.shape[0] == 1)  # one image: either layout
    assert same(np.ascontiguousarray(got), np.ascontiguousarray(expected))
    assert eager_ctx.__dict__.keys() == into_ctx.__dict__.keys()
    for key, value in eager_ctx.__dict__.items():
        assert same(value, into_ctx.__dict__[key]), key
    # the backward from either ctx is the same
    g = f(*expected.shape, dtype=expected.dtype)
    for ctx in (eager_ctx, into_ctx):
        ctx.needs_input_grad = (True,) * len(inputs)
    assert same(ops.Conv2d.backward(into_ctx, g), ops.Conv2d.backward(eager_ctx, g))


def test_conv2d_into_an_nchw_buffer_copies_into_it():
    inputs, options = CONV_CASES[0]
    expected = ops.Conv2d.forward(object.__new__(ops.Conv2d), *inputs, **options)
    out = np.empty(expected.shape, expected.dtype)  # NCHW where the convolution leaves channel-major
    got = writer(ops.Conv2d)(object.__new__(ops.Conv2d), out, *inputs, **options)
    assert got is out and got.tobytes() == np.ascontiguousarray(expected).tobytes()


def image_batches(n: int, batch: int = 6, size: int = 8):
    rng = np.random.default_rng(2)
    return [(tg.Tensor(rng.standard_normal((batch, 1, size, size)).astype(np.float32)),
             tg.Tensor(rng.integers(0, 10, batch))) for _ in range(n)]


def trained(compiled: bool, data, batchnorm: bool):
    tg.manual_seed(0)
    model = build_cnn(1, 10, image_size=8, widths=(4, 6), hidden=16, dropout=0.3, batchnorm=batchnorm)
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = tg.compile(step) if compiled else step
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        losses = [run(x, y).data.tobytes() for x, y in data]
    return model, run, losses


@pytest.mark.parametrize("batchnorm", [False, True])
def test_a_cnn_replays_bit_for_bit_with_every_output_in_a_buffer(monkeypatch, batchnorm):
    """Without BatchNorm each convolution writes into its buffer. With it, the convolution's output is also
    an argument of the batch statistics (a step effect), which plan.py gives no buffer: fresh arrays there."""
    monkeypatch.setattr(into, "MIN_BYTES", 0)
    data = image_batches(6)
    eager_model, _, eager_losses = trained(False, data, batchnorm)
    model, compiled, losses = trained(True, data, batchnorm)
    assert compiled.replaying, compiled.eager_reason
    assert compiled.plan.buffered.count("Conv2d") == (0 if batchnorm else 2)
    assert compiled.plan.buffered.count("MaxPool2d") == 2
    assert losses == eager_losses
    for (name, p), q in zip(eager_model.named_parameters(), model.parameters()):
        assert p.data.tobytes() == q.data.tobytes(), name


POOL_CASES = [  # input, options
    (channel_major(f(4, 3, 8, 8)), {"kernel_size": (2, 2), "stride": (2, 2), "output_size": (4, 4)}),  # after a conv
    (f(4, 3, 8, 8), {"kernel_size": (2, 2), "stride": (2, 2), "output_size": (4, 4)}),
    (f(2, 3, 9, 7), {"kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1), "output_size": (5, 4)}),
    (f(2, 3, 9, 7), {"kernel_size": (2, 3), "stride": (2, 2), "dilation": (2, 1), "output_size": (4, 3)}),  # ceil
    (f(1, 2, 6, 6, dtype=np.float64), {"kernel_size": (2, 2), "stride": (2, 2), "output_size": (3, 3)}),
    (RNG.integers(-9, 9, (2, 3, 6, 6)), {"kernel_size": (2, 2), "stride": (2, 2), "output_size": (3, 3)}),
]


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_max_pool_into_a_buffer_gives_its_forward_bit_for_bit_and_the_same_ctx(case):
    x, options = POOL_CASES[case]
    assert writer(ops.MaxPool2d) is not None
    eager_ctx, into_ctx = object.__new__(ops.MaxPool2d), object.__new__(ops.MaxPool2d)
    expected = ops.MaxPool2d.forward(eager_ctx, x, **options)
    for out in (np.zeros_like(expected, order="K"), np.zeros(expected.shape, expected.dtype)):  # its layout, NCHW
        got = writer(ops.MaxPool2d)(into_ctx, out, x, **options)
        assert got is out
        assert same(np.ascontiguousarray(got), np.ascontiguousarray(expected))
        assert eager_ctx.__dict__.keys() == into_ctx.__dict__.keys()
        for key, value in eager_ctx.__dict__.items():
            assert same(value, into_ctx.__dict__[key]), key


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_max_pool_kernels_write_into_out_as_the_reference_does(case):
    from tinygrad_opt.kernels import conv_cpu, conv_reference

    x, options = POOL_CASES[case]
    (kh, kw), (sh, sw), (oh, ow) = options["kernel_size"], options["stride"], options["output_size"]
    dh, dw = options.get("dilation", (1, 1))
    xpad = x if "padding" not in options and "dilation" not in options else None
    if xpad is None:
        return  # the op pads first; the unpadded cases cover the kernels' out=
    want, want_arg = conv_reference.max_pool2d_forward(xpad, kh, kw, sh, sw, dh, dw, oh, ow)
    for version in (conv_reference, conv_cpu):
        out = np.full(want.shape, 7, want.dtype)
        got, arg = version.max_pool2d_forward(xpad, kh, kw, sh, sw, dh, dw, oh, ow, out=out)
        assert got is out and same(np.ascontiguousarray(got), np.ascontiguousarray(want))
        assert same(np.ascontiguousarray(arg), np.ascontiguousarray(want_arg))


def test_arrays_malloc_recycles_from_cache_get_no_buffer(monkeypatch):
    """Once the heap keeps freed memory, mid-sized outputs (a CNN's activations) are allocated afresh: malloc
    hands back memory the step just freed, still in cache; small ones and ones malloc maps afresh get buffers."""
    from tinygrad_opt.kernels import heap

    mid, small, huge = (np.empty(n, np.uint8) for n in (2 << 20, 512 << 10, heap.MMAP_THRESHOLD))
    monkeypatch.setattr(heap, "_applied", True)
    assert not into._gets_buffer(mid) and into._gets_buffer(small) and into._gets_buffer(huge)
    monkeypatch.setattr(heap, "_applied", False)  # TINYGRAD_OPT_MALLOC=system, or no convolution ran yet
    assert into._gets_buffer(mid) and into._gets_buffer(small) and into._gets_buffer(huge)
    monkeypatch.setattr(into, "MIN_BYTES", 0)
    assert into._gets_buffer(np.empty(0, np.uint8))
