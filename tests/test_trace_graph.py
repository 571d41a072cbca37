"""t.to_dot() on a recorded trace: every value with its data and gradient, named, after backward."""
import re
import shutil

import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from tinygrad_opt.trace import render
from tinygrad_opt.trace.graph import brief

RECORD = re.compile(r'^  (v\d+) \[shape=record, style=filled, fillcolor="(#\w+)"(?:, penwidth=2)?, label="(.*)"\];$')


def records(dot: str) -> dict:
    """{first field (the name): [fields]} of every value box."""
    boxes = {}
    for line in dot.splitlines():
        if m := RECORD.match(line):
            fields = [f.strip() for f in re.split(r"(?<!\\)\|", m.group(3).strip("{}"))]
            boxes[fields[0]] = fields
    return boxes


def micrograd_example():
    """a feeds three ops: c = a*b, c*a and a**3, so its gradient is a sum of three parts."""
    a = tg.Tensor([3.0], requires_grad=True)
    b = tg.Tensor([2.0], requires_grad=True)
    with tg.trace() as t:
        c = a * b
        d = c * a + a ** 3
        loss = (d * 2.0).sum()
        loss.backward()
    return t, a, b


def test_to_dot_works_after_backward_and_shows_data_and_grad():
    t, a, b = micrograd_example()
    boxes = records(t.to_dot())
    # a: data 3, grad 2*(c + a*b + 3a^2) = 2*(6 + 6 + 27) = 78, from three ops
    assert boxes["a"] == ["a", "data [3.0]", "grad [78.0] = [12.0] + [12.0] + [54.0]"]
    assert boxes["b"] == ["b", "data [2.0]", "grad [18.0]"]
    assert boxes["c=#1"] == ["c=#1", "data [6.0]", "grad [6.0]"]  # named after the variable
    assert boxes["d=#4"] == ["d=#4", "data [45.0]", "grad [2.0]"]
    assert boxes["loss=#6"] == ["loss=#6", "data 90.0", "grad 1.0"]
    assert boxes["const"][1] in ("data 3.0", "data 2.0") and len(boxes["const"]) == 2  # no grad field
    np.testing.assert_allclose(a.grad.numpy(), [78.0])


def test_table_shows_a_gradient_as_the_sum_of_its_parts():
    t, a, _ = micrograd_example()
    text = str(t)
    assert "gradients that add up" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("a "))
    assert "Mul #2, Mul #1, Pow #3" in row and "[78.0] = [12.0] + [12.0] + [54.0]" in row
    parts = t.gradient_parts("v1")
    np.testing.assert_allclose(sum(g for _, _, g in parts), a.grad.numpy())
    assert t.sum_of_parts("v2") is None  # b feeds one op only


def test_backward_table_has_a_formula_column_with_the_inputs_names():
    t, _, _ = micrograd_example()
    table = t.backward_table(created_at=False)
    assert "created at" not in table and "formula" in table.splitlines()[1]
    assert re.search(r"-> b\s+\(1,\)\s+g \* a\s+\[18\.0\]", table)
    assert re.search(r"-> a\s+\(1,\)\s+g \* 3\.0 \* a\^\(3\.0-1\)\s+\[54\.0\]", table)
    assert "created at" in t.backward_table()


def test_parameters_named_by_module_path_and_big_tensors_abbreviated():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x = tg.randn(16, 4)
    with tg.trace(model=model) as t:
        logits = model(x)
        loss = F.cross_entropy(logits, tg.Tensor(np.arange(16) % 3))
        loss.backward()
    dot = t.to_dot(max_elements=4)
    boxes = records(dot)
    assert {"0.weight", "0.bias", "2.weight", "2.bias", "x", "logits=#3", "loss=#4"} <= set(boxes)
    w = boxes["0.weight"]
    assert w[1].startswith("data (8, 4) [") and "mean" in w[1]
    assert w[2].startswith("grad (8, 4) [")
    grad_mean = float(w[2].rsplit("mean ", 1)[1])
    assert grad_mean == pytest.approx(model[0].weight.grad.numpy().mean(), rel=1e-2)
    assert "Linear #1" in dot and "CrossEntropy #4" in dot
    # the table names the same parameters and shows the Linear formulas of the issue
    table = t.backward_table()
    assert "g @ 2.weight" in table and "g^T @ x" in table and "sum over batch of g" in table


def test_brief_keeps_small_arrays_whole():
    assert brief(np.array([1.0, -0.5])) == "[1.0, -0.5]"
    assert brief(np.zeros((10, 10)), head=2) == "(10, 10) [0.0, 0.0, ...] mean 0.0"
    assert brief(None) == "-"


def test_to_dot_without_a_recorded_forward_pass_says_what_to_do():
    x = tg.Tensor([1.0], requires_grad=True)
    y = (x * 2.0).sum()
    with tg.trace() as t:
        y.backward()
    with pytest.raises(ValueError, match="run the forward pass inside"):
        t.to_dot()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_the_dot_text_renders_with_graphviz(tmp_path):
    t, _, _ = micrograd_example()
    path = render(t.to_dot(title="micrograd's example"), tmp_path / "graph.png")
    data = path.read_bytes()
    assert path.suffix == ".png" and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
