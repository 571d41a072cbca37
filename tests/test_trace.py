"""tg.trace(): the forward and backward pass recorded step by step, and printed as tables."""
import gc
import importlib
import inspect
import weakref

import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from tinygrad_opt.trace.format import format_array, format_table

trace_module = importlib.import_module("tinygrad_opt.trace.record")  # the recorder (tg.trace is its function)


def _line_of(marker: str) -> int:
    """Line number in this file of the line holding `marker` (so tests survive edits above them)."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


def test_trace_records_both_passes_in_order_with_values():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    w = tg.Tensor([3.0, 4.0], requires_grad=True)
    with tg.trace() as t:
        loss = (x * w).sum()  # MARK-simple
        loss.backward()
    assert [s.op for s in t.forward_steps] == ["Mul", "Sum"]
    assert [s.op for s in t.steps] == ["Sum", "Mul"]
    mul_fwd = t.forward_steps[0]
    np.testing.assert_allclose(mul_fwd.output, [3.0, 8.0])
    assert mul_fwd.input_shapes == [(2,), (2,)] and mul_fwd.output_shape == (2,)
    assert t.forward_steps[1].input_labels == ["#1"]  # Sum consumes forward step 1's output
    mul = t.steps[1]
    assert mul.forward_index == 1 and t.steps[0].forward_index == 2
    np.testing.assert_allclose(mul.upstream, [1.0, 1.0])
    np.testing.assert_allclose(mul.input_grads[0], [3.0, 4.0])
    np.testing.assert_allclose(mul.input_grads[1], [1.0, 2.0])
    assert mul.created_at == f"test_trace.py:{_line_of('MARK-simple')}"
    text = str(t)
    assert text.index("forward pass: 2 ops") < text.index("backward pass: 2 steps")
    assert "Mul (of #1)" in text and "upstream" in text and "[3.0, 4.0]" in text


def test_gradients_sent_to_inputs_are_unbroadcast_and_add_up_to_grad():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([[3.0], [4.0]], requires_grad=True)
    with tg.trace() as t:
        ((a * b).sum() + (a * a).sum()).backward()
    mul_ab = next(s for s in t.steps if s.op == "Mul" and s.input_shapes == [(2,), (2, 1)])
    # (a * b) broadcasts to (2, 2); each input receives its own shape, summed over the copies
    np.testing.assert_allclose(mul_ab.input_grads[0], [7.0, 7.0])
    np.testing.assert_allclose(mul_ab.input_grads[1], [[3.0], [3.0]])
    # every gradient that reached `a` in the trace, summed, is a.grad
    to_a = [g for s in t.steps for lab, g, sh in zip(s.input_labels, s.input_grads, s.input_shapes)
            if lab == "a" and sh == (2,)]  # named after the test's variable
    assert len(to_a) == 3  # a in a*b, and both inputs of a*a
    np.testing.assert_allclose(sum(to_a), a.grad.numpy())


def test_parameters_are_named_by_module_path_and_ops_by_module():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    x = tg.randn(1, 4)
    x.name = "x"
    with tg.trace(model=model) as t:
        loss = F.cross_entropy(model(x), np.array([1]))  # MARK-model
        loss.backward()
    assert [s.op for s in t.forward_steps] == ["Linear", "Tanh", "Linear", "CrossEntropy"]
    first = t.forward_steps[0]
    assert first.input_labels == ["x", "0.weight", "0.bias"]
    assert first.module == "0 (Linear)" and t.forward_steps[2].module == "2 (Linear)"
    assert t.forward_steps[3].module is None  # the loss is no module's
    assert first.created_at == f"test_trace.py:{_line_of('MARK-model')}"
    last = t.steps[-1]
    assert last.op == "Linear" and last.input_labels == ["x", "0.weight", "0.bias"]
    assert last.input_grads[0] is None  # x needs no gradient: nothing is sent
    np.testing.assert_allclose(last.input_grads[1], model[0].weight.grad.numpy(), rtol=1e-6)
    text = str(t)
    assert "-> 0.weight" in text and "in 0 (Linear)" in text and "- (needs no gradient)" in text


@pytest.mark.parametrize("as_dict", [True, False])
def test_params_mapping_names_leaves(as_dict):
    w = tg.Tensor([[1.0, 2.0]], requires_grad=True)
    params = {"w": w} if as_dict else [("w", w)]
    with tg.trace(params=params) as t:
        (w * 3.0).sum().backward()
    assert t.forward_steps[0].input_labels == ["w", "const"]


def test_bad_names_are_clear_errors():
    with pytest.raises(TypeError, match="params="):
        tg.trace(params=[1, 2])
    with pytest.raises(TypeError, match="not a Tensor"):
        tg.trace(params={"w": np.zeros(2)})
    with pytest.raises(TypeError, match="model= must be an nn.Module"):
        tg.trace(model=object())


def test_a_graph_built_before_the_trace_still_shows_its_backward_steps():
    w = tg.Tensor([2.0], requires_grad=True)
    loss = (w * w).sum()
    with tg.trace(params={"w": w}) as t:
        loss.backward()
    assert t.forward_steps == []
    assert [s.op for s in t.steps] == ["Sum", "Mul"]
    assert t.steps[1].created_at == "(before the trace)" and t.steps[1].forward_index is None
    assert t.steps[1].input_labels == ["w", "w"]
    assert t.steps[0].input_labels == ["Mul output"]
    np.testing.assert_allclose(t.steps[1].input_grads[0], [2.0])


def test_trace_is_inactive_outside_the_block_and_after_an_error():
    x = tg.Tensor([1.0], requires_grad=True)
    with tg.trace() as t:
        pass
    (x * 2.0).sum().backward()
    assert t.steps == [] and t.forward_steps == []
    assert "nothing recorded" in str(t)
    with pytest.raises(ZeroDivisionError):
        with tg.trace() as t2:
            1 / 0
    (x * 2.0).sum().backward()
    assert t2.steps == []


def test_creation_site_is_only_computed_inside_a_trace(monkeypatch):
    calls = []
    real = trace_module.creation_site
    monkeypatch.setattr(trace_module, "creation_site", lambda *a: calls.append(1) or real(*a))
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x.exp() * 2.0).sum().backward()
    assert calls == []
    with tg.trace():
        (x.exp() * 2.0).sum().backward()
    assert len(calls) == 3


def test_recorded_values_are_copies():
    w = tg.Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    with tg.trace() as t:
        y = w.reshape(2, 2)  # a view of w's data in NumPy
        y.sum().backward()
    w.data -= 10.0  # an optimizer updates parameters in place
    np.testing.assert_allclose(t.forward_steps[0].output, [[1.0, 2.0], [3.0, 4.0]])


def test_a_trace_around_a_loop_does_not_keep_graphs_alive():
    w = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    refs = []
    with tg.trace() as t:
        for _ in range(3):
            h = w * 2.0
            refs.append(weakref.ref(h))
            h.sum().backward()
            del h
    gc.collect()
    assert all(r() is None for r in refs)
    assert len(t.forward_steps) == 6 and len(t.steps) == 6


def test_nested_traces_both_record():
    x = tg.Tensor([1.0], requires_grad=True)
    with tg.trace() as outer:
        with tg.trace() as inner:
            (x * 3.0).sum().backward()
    assert [s.op for s in inner.steps] == [s.op for s in outer.steps] == ["Sum", "Mul"]


def test_float32_gradients_keep_their_dtype():
    x = tg.randn(3, 2, requires_grad=True)
    with tg.trace() as t:
        (x * tg.Tensor(np.ones(2))).sum().backward()  # float64 constant: x is cast up, as torch promotes
    assert [s.op for s in t.steps] == ["Sum", "Mul", "Cast"]
    assert t.steps[1].input_grads[0].dtype == np.float64  # the product's gradient, in the product's dtype
    assert t.steps[-1].input_grads[0].dtype == np.float32  # the cast hands it back in x's dtype
    assert x.grad.dtype == np.float32


def test_small_values_in_full_big_ones_abbreviated():
    small = tg.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    big = tg.Tensor(np.linspace(-1, 1, 200, dtype=np.float32).reshape(20, 10), requires_grad=True)
    with tg.trace() as t:
        (small * 2.0).sum().backward()
        (big * 2.0).sum().backward()
    text = str(t)
    assert "[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]" in text
    assert "shape (20, 10)  mean " in text
    assert "min -2.0  max 2.0" in text
    with tg.trace(max_elements=1000) as t_full:
        (big * 2.0).sum().backward()
    assert "shape (20, 10)" not in str(t_full)


def test_format_array_and_table():
    assert format_array(np.array([1.0, -0.5])) == "[1.0, -0.5]"
    assert format_array(np.float64(2.0)) == "2.0"
    assert format_array(np.array([1, 2])) == "[1, 2]"
    assert format_array(None) == "-"
    text = format_array(np.arange(100.0))
    assert text.startswith("[0.0, 1.0, 2.0, 3.0, ...] shape (100,)") and "max 99" in text
    table = format_table(["a", "bb"], [["long cell", "x"], ["y", "a long last column"]])
    assert table.splitlines() == ["  a          bb", "  long cell  x", "  y          a long last column"]


def test_jupyter_cells_are_named_as_cells():
    assert trace_module._site("/tmp/ipykernel_1234/987654.py", 7) == "cell line 7"
    assert trace_module._site("/home/me/train.py", 12) == "train.py:12"


def test_trace_and_to_dot_on_every_device(device):
    """On the GPU the recorded values come back to the host as NumPy arrays, as on the CPU."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    x = tg.Tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), device=device)
    y = tg.Tensor(np.array([0, 1]), device=device)
    with tg.trace(model=model) as t:
        loss = F.cross_entropy(model(x), y)
        dot = tg.to_dot(loss, model=model)
        loss.backward()
    assert all(type(s.output) is np.ndarray for s in t.forward_steps)
    assert all(type(g) is np.ndarray for s in t.steps for g in [s.upstream, *s.input_grads] if g is not None)
    np.testing.assert_allclose(t.steps[-1].input_grads[1], model[0].weight.grad.numpy(), rtol=1e-6)
    assert "0.weight\\n(4, 3) float32  requires_grad" in dot
    assert "in 2 (Linear)" in str(t)
