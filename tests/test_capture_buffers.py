"""Replay into buffers allocated once (tinygrad_opt/capture/into.py): each writer computes its op's forward
bit for bit and leaves the same ctx; values that leave the step (results, gradients) never share a buffer."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn, ops
from tinygrad_opt.autograd import Function
from tinygrad_opt.capture import CaptureWarning
from tinygrad_opt.capture import into
from tinygrad_opt.capture.into import BACKWARD_INTO, INTO, backward_writer, writer

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def buffers_for_small_arrays(monkeypatch):
    """The steps here are tiny: give every array a buffer, whatever its size."""
    monkeypatch.setattr(into, "MIN_BYTES", 0)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def channel_major(shape):
    """An (N, C, H, W) array laid out as (C, N, H, W), as a convolution leaves it."""
    n, c = shape[:2]
    return np.ascontiguousarray(f32(*shape).swapaxes(0, 1)).swapaxes(0, 1)


CASES = [
    (ops.Linear, (f32(5, 7), f32(3, 7), f32(3)), {}),
    (ops.Linear, (f32(5, 7), f32(3, 7)), {}),
    (ops.Linear, (f32(2, 5, 7), f32(3, 7), f32(3)), {}),
    (ops.LinearReLU, (f32(5, 7), f32(3, 7), f32(3)), {}),
    (ops.LinearReLU, (f32(2, 5, 7), f32(3, 7), f32(3)), {}),
    (ops.MatMul, (f32(4, 6), f32(6, 3)), {}),
    (ops.MatMul, (f32(6), f32(2, 6, 3)), {}),
    (ops.MatMul, (f32(2, 4, 6), f32(6)), {}),
    (ops.Add, (f32(4, 1), f32(1, 5)), {}),
    (ops.Add, (f32(4, 5), np.array(0.5, np.float32)), {}),
    (ops.Sub, (f32(4, 5), f32(5)), {}),
    (ops.Mul, (f32(5, 4).T, f32(5, 4).T), {}),  # F-ordered: the output keeps that layout
    (ops.Mul, (f32(3, 4), np.arange(4)), {}),
    (ops.Neg, (f32(3, 4),), {}),
    (ops.Exp, (f32(3, 4),), {}),
    (ops.Tanh, (f32(3, 4),), {}),
    (ops.BatchNormChannels, (f32(4, 3, 5, 5), f32(3), f32(3)),
     {"mean": RNG.standard_normal(3), "var": RNG.uniform(0.5, 2, 3), "training": True, "relu": True}),
    (ops.BatchNormChannels, (channel_major((4, 3, 5, 5)), f32(3)),
     {"mean": RNG.standard_normal(3), "var": RNG.uniform(0.5, 2, 3), "training": False, "relu": False}),
    (ops.BatchNormChannels, (channel_major((4, 3, 5, 5)),),
     {"mean": RNG.standard_normal(3), "var": RNG.uniform(0.5, 2, 3), "eps": 1e-3}),
]


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_every_writer_is_listed():
    forward_writers = {ops.Linear, ops.LinearReLU, ops.MatMul, ops.Add, ops.Sub, ops.Mul, ops.Neg, ops.Exp, ops.Tanh}
    assert all(writer(cls) is not None for cls in forward_writers)
    assert all(backward_writer(cls) is not None
               for cls in (ops.Linear, ops.LinearReLU, ops.Mul, ops.Neg, ops.Exp, ops.Tanh))
    assert {cls for cls, _, _ in CASES} >= forward_writers | set(INTO) | set(BACKWARD_INTO) | {ops.BatchNormChannels}
    assert writer(ops.BatchNormChannels) is not None and writer(ops.CrossEntropy) is None
    assert backward_writer(ops.BatchNormChannels) is not None and backward_writer(ops.Add) is None


@pytest.mark.parametrize("case", range(len(CASES)))
def test_a_writer_gives_its_ops_forward_bit_for_bit_and_the_same_ctx(case):
    cls, inputs, options = CASES[case]
    eager_ctx, into_ctx = object.__new__(cls), object.__new__(cls)
    expected = cls.forward(eager_ctx, *inputs, **options)
    out = np.empty_like(expected, order="K")
    got = writer(cls)(into_ctx, out, *inputs, **options)
    assert same(np.ascontiguousarray(got), np.ascontiguousarray(expected))
    assert got.strides == expected.strides
    assert np.shares_memory(got, out)  # written into the buffer, not a fresh array
    assert eager_ctx.__dict__.keys() == into_ctx.__dict__.keys()
    for key, value in eager_ctx.__dict__.items():
        assert same(value, into_ctx.__dict__[key]), key
    # run again into the same buffer: the previous contents do not leak in
    out[...] = np.nan
    again = writer(cls)(object.__new__(cls), out, *inputs, **options)
    assert same(np.ascontiguousarray(again), np.ascontiguousarray(expected))


@pytest.mark.parametrize("case", [i for i, (cls, _, _) in enumerate(CASES) if backward_writer(cls) is not None])
def test_a_backward_writer_gives_its_ops_gradients_bit_for_bit(case):
    cls, inputs, options = CASES[case]
    contexts = []
    for _ in range(2):
        ctx = object.__new__(cls)
        y = cls.forward(ctx, *inputs, **options)
        ctx.needs_input_grad = (True,) * len(inputs)
        contexts.append(ctx)
    g = np.random.default_rng(case).standard_normal(y.shape).astype(y.dtype)
    expected = cls.backward(contexts[0], g)
    expected = expected if isinstance(expected, tuple) else (expected,)
    outs = tuple(np.empty_like(e, order="K") if isinstance(e, np.ndarray) and e.ndim else None for e in expected)
    assert any(out is not None for out in outs)
    got = backward_writer(cls)(contexts[1], g, outs)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for e, r in zip(expected, got):
        assert same(np.ascontiguousarray(r), np.ascontiguousarray(e)) and r.strides == e.strides
    assert np.shares_memory(got[0], outs[0])  # dL/dx, the gradient handed on to another op, in its buffer


def test_batch_norm_into_an_output_of_another_layout_writes_a_fresh_array():
    x = channel_major((4, 3, 5, 5))
    options = {"mean": np.zeros(3), "var": np.ones(3)}
    expected = ops.BatchNormChannels.forward(object.__new__(ops.BatchNormChannels), x, **options)
    out = np.empty((4, 3, 5, 5), np.float32)  # NCHW, the input is channel-major
    got = writer(ops.BatchNormChannels)(object.__new__(ops.BatchNormChannels), out, x, **options)
    assert not np.shares_memory(got, out) and got.strides == expected.strides
    assert got.tobytes() == expected.tobytes()


def mlp_step(model, optimizer, returns_hidden=False):
    def step(x, y):
        optimizer.zero_grad()
        if returns_hidden:
            hidden = out = model[0](x)
            for layer in list(model)[1:]:
                out = layer(out)
        else:
            out = model(x)
        loss = nn.functional.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        return (loss, hidden) if returns_hidden else loss
    return step


def batches(n=6):
    rng = np.random.default_rng(3)
    return [(tg.Tensor(rng.standard_normal((8, 12)).astype(np.float32)), tg.Tensor(rng.integers(0, 4, 8)))
            for _ in range(n)]


def test_the_mlp_step_replays_into_buffers():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))
    step = tg.compile(mlp_step(model, tg.optim.Adam(model.parameters(), lr=1e-2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        for x, y in batches():
            step(x, y)
    assert step.replaying
    assert step.plan.buffered == ["LinearReLULinear", "Tanh", "Linear"]  # the first three layers as one node
    # gradients handed on to another op: the last layer's dL/dx and Tanh's (the first node's dL/dx is not needed)
    assert step.plan.grad_buffered == ["Tanh", "Linear"]


def test_a_returned_activation_gets_no_buffer_and_survives_the_next_replay():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4))
    step = tg.compile(mlp_step(model, tg.optim.SGD(model.parameters(), lr=0.1), returns_hidden=True))
    data = batches()
    kept = [step(x, y)[1] for x, y in data]
    assert step.replaying and step.plan.buffered == ["Tanh", "Linear"]  # the first Linear's output is returned
    tg.manual_seed(0)
    eager_model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4))
    eager = mlp_step(eager_model, tg.optim.SGD(eager_model.parameters(), lr=0.1), returns_hidden=True)
    for held, (x, y) in zip(kept, data):
        assert held.data.tobytes() == eager(x, y)[1].data.tobytes()


class GradientIsInput(Function):
    """y = sum(a ** 2) / 2, whose gradient a * g is returned as the saved input itself when g == 1."""

    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return (a * a).sum() / 2

    @staticmethod
    def backward(ctx, g):
        return ctx.a if g == 1 else ctx.a * g


def test_a_forward_value_that_becomes_a_gradient_gets_no_buffer():
    results = []
    for capture in (False, True):
        p = tg.Tensor(np.linspace(-1, 1, 6, dtype=np.float32), requires_grad=True)
        q = tg.Tensor(np.linspace(2, 0, 6, dtype=np.float32), requires_grad=True)
        optimizer = tg.optim.SGD([p, q], lr=0.1)

        def step():
            optimizer.zero_grad()
            loss = GradientIsInput.apply(p + q)  # Add's output comes back as the gradient Add passes to p and q
            loss.backward()
            optimizer.step()
            return loss

        step = tg.compile(step) if capture else step
        grads = []
        for _ in range(5):
            step()
            grads.append(p.grad)  # held across the next step, as a user logging gradients would
        if capture:
            assert step.replaying and "Add" not in step.plan.buffered
        results.append([g.data.tobytes() for g in grads])
    assert results[0] == results[1]


def test_a_gradient_passed_through_to_a_parameter_gets_no_buffer():
    """Tanh's dL/d(p + q) goes to Add, whose backward hands the same array to p and q: it becomes their .grad."""
    results = []
    for capture in (False, True):
        p = tg.Tensor(np.linspace(-1, 1, 6, dtype=np.float32), requires_grad=True)
        q = tg.Tensor(np.linspace(2, 0, 6, dtype=np.float32), requires_grad=True)
        w = tg.Tensor(np.linspace(0.5, 1.5, 6, dtype=np.float32), requires_grad=True)
        optimizer = tg.optim.SGD([p, q, w], lr=0.1)

        def step():
            optimizer.zero_grad()
            loss = ((p + q).tanh() * w).sum()
            loss.backward()
            optimizer.step()
            return loss

        step = tg.compile(step) if capture else step
        grads = []
        for _ in range(5):
            step()
            grads.append((p.grad, q.grad))
        if capture:
            assert step.replaying and "Tanh" not in step.plan.grad_buffered and "Mul" in step.plan.grad_buffered
        results.append([(a.data.tobytes(), b.data.tobytes()) for a, b in grads])
    assert results[0] == results[1]


def test_small_arrays_are_allocated_afresh(monkeypatch):
    monkeypatch.setattr(into, "MIN_BYTES", 16 * 4 * 8)  # the 8 x 16 float32 activations, not the 8 x 4 logits
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4))
    step = tg.compile(mlp_step(model, tg.optim.SGD(model.parameters(), lr=0.1)))
    for x, y in batches():
        step(x, y)
    assert step.plan.buffered == ["Linear", "Tanh"] and step.plan.grad_buffered == ["Tanh", "Linear"]


def test_an_mlp_with_dropout_replays_into_buffers_bit_for_bit():
    def make():
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 16), nn.Tanh(),
                              nn.Linear(16, 4))
        optimizer = tg.optim.Adam(model.parameters(), lr=1e-2)
        return model, optimizer, mlp_step(model, optimizer)

    data = batches(8)
    model_e, opt_e, step_e = make()
    losses_e = [step_e(x, y).data.tobytes() for x, y in data]
    model_c, opt_c, step_c = make()
    compiled = tg.compile(step_c)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        losses_c = [compiled(x, y).data.tobytes() for x, y in data]
    assert compiled.replaying and "LinearReLU" in compiled.plan.buffered and compiled.plan.grad_buffered
    assert losses_e == losses_c
    for p, q in zip(model_e.parameters(), model_c.parameters()):
        assert p.data.tobytes() == q.data.tobytes() and p.grad.data.tobytes() == q.grad.data.tobytes()
        for key, value in opt_e.state[p].items():
            assert np.asarray(value).tobytes() == np.asarray(opt_c.state[q][key]).tobytes()


@pytest.mark.parametrize("setting, expected", [("0", False), ("1", True), (" 1 ", True)])
def test_the_environment_variable_turns_buffers_off(monkeypatch, setting, expected):
    monkeypatch.setenv(into.ENV_VAR, setting)
    assert into._enabled_by_environment() is expected


def test_a_bad_environment_setting_is_named(monkeypatch):
    monkeypatch.setenv(into.ENV_VAR, "yes")
    with pytest.raises(ValueError, match="TINYGRAD_OPT_CAPTURE_BUFFERS must be 0 or 1, got 'yes'"):
        into._enabled_by_environment()
