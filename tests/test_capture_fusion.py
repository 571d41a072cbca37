"""Fused runs of element-wise ops in the replay (tinygrad_opt/capture/fusion.py): the same bits as eager.

Each step runs eagerly (plain call) and through tg.compile once the fused loops are compiled and
switched in; the loss, the returned values and every gradient must agree byte for byte, inf and -0.0
included (a*b + c too: no fused multiply-add), NaN where eager has NaN.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import ops
from tinygrad_opt.capture import CaptureWarning, fusion

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -3.5]


def values(shape, dtype, seed, zeros_too=False):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1)
    specials = np.array(SPECIALS[: flat.size], dtype)
    flat[: len(specials)] = specials if zeros_too else np.abs(specials)
    return a


def same_bits(a, b, what):
    """Equal bytes everywhere but at NaNs, where both are NaN: which NaN an operation returns when both of
    its operands are NaN (its sign, its payload) IEEE-754 leaves open, and LLVM may swap the operands."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b), err_msg=f"{what}: NaN in one only")
    assert np.where(nan, 0, a).tobytes() == np.where(nan, 0, b).tobytes(), f"{what}: {a!r} != {b!r}"


def fused_step(body, params, *args):
    """tg.compile of a step calling body(*args) -> loss (and maybe more), with its fused replay switched in."""
    holder = tg.optim.SGD(params, lr=0.0)  # zero_grad is an effect the replay repeats; lr 0 keeps the values

    def step(*xs):
        holder.zero_grad()
        out = body(*xs)
        loss = out[0] if isinstance(out, tuple) else out
        loss.backward()
        return out

    compiled = tg.compile(step)
    compiled(*args)
    compiled(*args)
    assert compiled.replaying, compiled.eager_reason
    assert compiled.plan.fusion is not None, "no run was fused"
    assert fusion.wait_compiled(compiled.plan, 120), compiled.plan.fusion.error
    compiled(*args)  # switches to the fused replay
    assert compiled.plan.fusion.active
    return step, compiled


def compare(step, compiled, params, *args):
    with np.errstate(all="ignore"):
        eager = step(*args)
        eager_grads = [p.grad.numpy().copy() for p in params]
        replayed = compiled(*args)
        replay_grads = [p.grad.numpy().copy() for p in params]
    eager = eager if isinstance(eager, tuple) else (eager,)
    replayed = replayed if isinstance(replayed, tuple) else (replayed,)
    for i, (e, r) in enumerate(zip(eager, replayed)):
        same_bits(r.numpy(), e.numpy(), f"result {i}")
    for i, (e, r) in enumerate(zip(eager_grads, replay_grads)):
        same_bits(r, e, f"gradient of parameter {i}")
    return replayed


def arithmetic(x, w, b):
    """Every fused forward op, and a*b + c where a fused multiply-add would round differently."""
    y = x * w + b
    y = (y - x) / w
    y = (-y).relu() * w + x
    return (y * b).sum()


def transcendental_backward(x, w, b):
    """tanh and exp run as NumPy's; their arithmetic backward joins the runs of the others."""
    y = x
    for _ in range(3):
        y = (y * w + b).tanh()
        y = (-y).exp() - b
    return y.sum()


MASK = np.random.default_rng(19).random((5, 7)) < 0.5
CONDITIONS = (tg.Tensor(MASK), tg.Tensor(~MASK))  # made once: a step's constants are the same arrays each step


def selected(x, w, b):
    """Where with a boolean condition joins the runs, forward and backward."""
    y = tg.where(CONDITIONS[0], x * w, b - x)
    return (tg.where(CONDITIONS[1], y + w, y * b) * x).sum()


def with_scalars(x, w, b):
    """Python numbers and a 0-d step value (a mean) as operands: read once per element, no broadcast array."""
    y = (x * 0.5 + 1.0) / 3.0 - w
    y = (y - x.mean()) * w + 2.0  # Sub's gradient of the mean is un-broadcast: that backward stays unfused
    return (y * b).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("body", [arithmetic, transcendental_backward, selected, with_scalars])
def test_fused_replay_equals_eager_bit_for_bit(body, dtype):
    shape = (5, 7)  # a*b + c with a fused multiply-add would differ in many of these 35 random entries
    w = tg.Tensor(values(shape, dtype, 1, zeros_too=True), requires_grad=True)
    b = tg.Tensor(values(shape, dtype, 2, zeros_too=True), requires_grad=True)
    x = tg.Tensor(values(shape, dtype, 3, zeros_too=True), requires_grad=True)
    with np.errstate(all="ignore"):
        step, compiled = fused_step(body, [w, b, x], x, w, b)
    compare(step, compiled, [w, b, x], x, w, b)
    assert compiled.plan.fusion.runs.backward
    if body is selected:
        assert "Where" in compiled.plan.ops and compiled.plan.fusion.runs.forward
    elif body is with_scalars:
        assert sum(len(run.events) for run in compiled.plan.fusion.runs.forward.values()) >= 7
    elif body is arithmetic:
        assert compiled.plan.fusion.runs.forward
    else:  # tanh, exp and neg between runs: their ufuncs called directly
        assert {f.__name__ for f in compiled.plan.fusion.runs.direct.values()} == {"tanh", "exp", "negative"}


def test_special_values_through_relu_match_torchs_threshold_backward():
    """ReLU's fused backward is +0 where y <= 0 (g inf or NaN there too) and passes g where y is NaN."""
    a = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -2.5]], np.float32)
    g = np.array([[np.inf, np.nan, -np.inf, -1.0, np.nan, -0.0, np.inf]], np.float32)
    x = tg.Tensor(a.copy(), requires_grad=True)
    s = tg.Tensor(g.copy(), requires_grad=True)

    def body(x, s):
        return ((x + x).relu() * s).sum()  # backward: Mul, ReLU, Add in one run

    with np.errstate(all="ignore"):
        step, compiled = fused_step(body, [x, s], x, s)
    compare(step, compiled, [x, s], x, s)
    torch = pytest.importorskip("torch")
    tx, ts = torch.tensor(a, requires_grad=True), torch.tensor(g)
    (torch.relu(tx + tx) * ts).sum().backward()
    same_bits(x.grad.numpy(), tx.grad.numpy(), "x.grad against torch")
    assert not np.signbit(x.grad.numpy()[0, 2]) and not np.signbit(x.grad.numpy()[0, 3])  # masked: +0


def test_a_fused_forward_leaves_the_ctx_an_unfused_backward_reads(monkeypatch):
    """Where Mul's and Div's backward stay unfused, the fused forward still saves what their backward reads."""
    monkeypatch.delitem(fusion.BACKWARD, ops.Mul)
    monkeypatch.delitem(fusion.BACKWARD, ops.Div)
    w = tg.Tensor(values((3, 4), np.float32, 4), requires_grad=True)
    x = tg.Tensor(values((3, 4), np.float32, 5), requires_grad=True)
    step, compiled = fused_step(lambda x, w: ((x * w) / (w + x)).relu().sum(), [w, x], x, w)
    assert compiled.plan.fusion.runs.forward and not compiled.plan.fusion.runs.backward
    compare(step, compiled, [w, x], x, w)


def test_new_inputs_each_step_and_a_returned_intermediate_keeps_its_values():
    w = tg.Tensor(values((4, 4), np.float32, 6), requires_grad=True)

    def body(x, w):
        h = x * w + w  # returned: it leaves the step and keeps its own array
        return (h * w - x).sum(), h

    x0 = tg.Tensor(values((4, 4), np.float32, 7))
    step, compiled = fused_step(body, [w], x0, w)
    first = compare(step, compiled, [w], x0, w)
    kept = first[1].numpy().copy()
    for seed in (8, 9):
        compare(step, compiled, [w], tg.Tensor(values((4, 4), np.float32, seed)), w)
    same_bits(first[1].numpy(), kept, "a result of an earlier replay")


def test_a_hook_on_a_parameter_sees_the_fused_gradient():
    seen = []
    w = tg.Tensor(values((3, 3), np.float32, 10), requires_grad=True)
    w.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 0.5)
    step, compiled = fused_step(lambda w: ((w * w + w) * w).sum(), [w], w)
    seen.clear()
    compare(step, compiled, [w], w)
    assert len(seen) == 2
    same_bits(seen[1], seen[0], "the hook's argument")


def test_another_shape_runs_eagerly_and_the_fused_replay_resumes():
    w = tg.Tensor(values((2, 3), np.float32, 11), requires_grad=True)
    step, compiled = fused_step(lambda x: ((x * w - w) * x).sum(), [w], tg.Tensor(values((2, 3), np.float32, 12)))
    with pytest.warns(CaptureWarning, match="shape"):
        compiled(tg.Tensor(values((1, 3), np.float32, 13)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        compare(step, compiled, [w], tg.Tensor(values((2, 3), np.float32, 14)))
    assert compiled.plan.fusion.active


def test_large_arrays_and_a_disabled_fusion_are_left_alone(monkeypatch):
    def captured(w):
        holder = tg.optim.SGD([w], lr=0.0)

        def step():
            holder.zero_grad()
            (w * w + w).sum().backward()

        compiled = tg.compile(step)
        compiled(), compiled()
        assert compiled.replaying, compiled.eager_reason
        return compiled

    assert captured(tg.Tensor(values((40, 40), np.float32, 15), requires_grad=True)).plan.fusion is None
    assert captured(tg.Tensor(values((3, 3), np.float32, 16), requires_grad=True)).plan.fusion is not None
    monkeypatch.setattr(fusion, "enabled", False)
    assert captured(tg.Tensor(values((3, 3), np.float32, 16), requires_grad=True)).plan.fusion is None


def test_without_the_background_worker_the_loops_compile_when_the_plan_is_built():
    from tinygrad_opt.kernels import background

    was = background.enabled()
    background.set_enabled(False)
    try:
        w = tg.Tensor(values((2, 2), np.float32, 17), requires_grad=True)
        holder = tg.optim.SGD([w], lr=0.0)

        def step():
            holder.zero_grad()
            loss = ((w * w - w) * w).sum()
            loss.backward()
            return loss

        compiled = tg.compile(step)
        compiled(), compiled()
        assert compiled.plan.fusion.compiled is True
        eager = step().numpy()
        eager_grad = w.grad.numpy().copy()
        same_bits(compiled().numpy(), eager, "loss")
        assert compiled.plan.fusion.active
        same_bits(w.grad.numpy(), eager_grad, "gradient")
    finally:
        background.set_enabled(was)


def test_a_second_step_with_the_same_runs_reuses_the_compiled_loops():
    """Two shapes, one graph: the loops' source is the same, compiled once; both replays switch to them."""
    for shape in [(2, 3), (4, 5), (2, 3)]:
        w = tg.Tensor(values(shape, np.float32, 18), requires_grad=True)
        step, compiled = fused_step(lambda w: ((w + w) * w - w).relu().sum(), [w], w)
        compare(step, compiled, [w], w)


def test_the_replay_runs_unfused_until_the_loops_are_compiled_then_switches(monkeypatch):
    from tinygrad_opt.kernels import background

    queued = []
    monkeypatch.setattr(background, "compile_later", lambda fn, args, kwargs: queued.append((fn, args)) or object())
    w = tg.Tensor(values((3, 2), np.float32, 20), requires_grad=True)
    holder = tg.optim.SGD([w], lr=0.0)

    def step():
        holder.zero_grad()
        loss = ((w - w * w) / w).sum()
        loss.backward()
        return loss

    compiled = tg.compile(step)
    compiled(), compiled()
    fused = compiled.plan.fusion
    assert len(queued) == 1 and fused.compiled is None
    eager, eager_grad = step().numpy(), w.grad.numpy().copy()
    same_bits(compiled().numpy(), eager, "loss before the loops are compiled")
    assert not fused.active
    same_bits(w.grad.numpy(), eager_grad, "gradient before the loops are compiled")
    fn, args = queued[0]
    fn(*args)  # what the worker does
    same_bits(compiled().numpy(), eager, "loss once they are")
    assert fused.active and fused.compiled
    same_bits(w.grad.numpy(), eager_grad, "gradient once they are")


def test_a_loop_that_fails_to_compile_leaves_the_replay_unfused(monkeypatch):
    from tinygrad_opt.kernels import background

    class Broken:
        overloads: dict = {}

        def compile(self, signature):
            raise RuntimeError("no")

    monkeypatch.setattr(background, "compile_later", lambda fn, args, kwargs: object())
    w = tg.Tensor(values((2, 2), np.float32, 21), requires_grad=True)
    holder = tg.optim.SGD([w], lr=0.0)

    def step():
        holder.zero_grad()
        loss = (w * w + w).sum()
        loss.backward()
        return loss

    compiled = tg.compile(step)
    compiled(), compiled()
    fused = compiled.plan.fusion
    fused.runs.kernels[0] = (Broken(), (), "")
    fused.compile_all()
    assert fused.compiled is False and isinstance(fused.error, RuntimeError)
    eager = step().numpy()
    same_bits(compiled().numpy(), eager, "loss")
    assert not fused.active and compiled.plan.replay is fused.unfused


def test_the_fused_replay_shares_the_unfused_replays_buffers():
    """A step with large values (buffers allocated once, into.py) and a fused run: one set of buffers, not two."""
    big = tg.Tensor(values((256, 256), np.float32, 20) / 16, requires_grad=True)
    small = tg.Tensor(values((3, 3), np.float32, 21), requires_grad=True)

    def body(big, small):
        return (big @ big).relu().sum() * 0.5 + (small * small + small).sum()

    step, compiled = fused_step(body, [big, small], big, small)
    compare(step, compiled, [big, small], big, small)
    unfused, fused = compiled.plan.fusion.unfused.__globals__, compiled.plan.fusion.fused.__globals__
    buffer_names = [name for name in unfused if re.fullmatch(r"BG?\d+", name)]
    assert buffer_names, "the step has no buffered value: the test no longer tests anything"
    for name in buffer_names:
        if name in fused:
            assert fused[name] is unfused[name], f"{name}: the fused replay allocated its own buffer"
