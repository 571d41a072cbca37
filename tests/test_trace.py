"""tg.trace() and tg.to_dot(): watching the graph and the backward pass."""
import numpy as np

import tinygrad_opt as tg


def test_trace_records_backward_steps_in_order():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    w = tg.Tensor([3.0, 4.0], requires_grad=True)
    with tg.trace() as t:
        loss = (x * w).sum()
        loss.backward()
    assert [s.op for s in t.steps] == ["Sum", "Mul"]
    assert [s.op for s in t.forward_steps] == ["Mul", "Sum"]
    mul = t.steps[1]
    assert mul.input_shapes == [(2,), (2,)]
    np.testing.assert_allclose(mul.upstream, [1.0, 1.0])
    np.testing.assert_allclose(mul.input_grads[0], [3.0, 4.0])
    np.testing.assert_allclose(mul.input_grads[1], [1.0, 2.0])
    assert "test_trace.py" in mul.created_at
    text = str(t)
    assert "Mul" in text and "upstream grad" in text and "grad to input 1" in text


def test_trace_is_inactive_outside_the_block():
    x = tg.Tensor([1.0], requires_grad=True)
    with tg.trace() as t:
        pass
    (x * 2.0).sum().backward()
    assert t.steps == [] and t.forward_steps == []


def test_to_dot_lists_ops_and_tensors():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    x.name = "x"
    y = (x.exp() * 2.0).sum()
    dot = tg.to_dot(y)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for op in ("Exp", "Mul", "Sum"):
        assert f'label="{op}"' in dot
    assert "x\\n(2,) float32 requires_grad" in dot
