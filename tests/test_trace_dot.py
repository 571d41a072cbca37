"""tg.to_dot(): the graph as Graphviz DOT text, and render() to a picture (or the text without Graphviz)."""
import os
import re
import stat
import sys

import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from tinygrad_opt.trace import dot as dot_module
from tinygrad_opt.trace import render

NODE = re.compile(r'^  (\w+) \[shape=(\w+), (?:style=rounded, )?label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r'^  (\w+) -> (\w+)(?: \[label="(\d+)"\])?;$')


def parse(dot: str):
    """Nodes {name: (shape, label, style)} and edges [(src, dst, label)]; fails on any other line."""
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph tinygrad_opt {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line.startswith(("  node [", "  edge [", "  labelloc")):
            continue
        if m := NODE.match(line):
            assert m.group(1) not in nodes, f"node {m.group(1)} defined twice"
            nodes[m.group(1)] = (m.group(2), m.group(3), m.group(4))
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3)))
        else:
            raise AssertionError(f"unexpected DOT line: {line!r}")
    for src, dst, _ in edges:
        assert src in nodes and dst in nodes, f"edge {src} -> {dst} to an undefined node"
    return nodes, edges


def by_label(nodes, text):
    found = [k for k, (_, label, _) in nodes.items() if label == text]
    assert len(found) == 1, f"{text!r}: {found} in {[v[1] for v in nodes.values()]}"
    return found[0]


def test_ops_tensors_and_edges_follow_the_data():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    x.name = "x"
    y = (x.exp() * 2.0).sum()
    nodes, edges = parse(tg.to_dot(y))
    ops = sorted(label for shape, label, _ in nodes.values() if shape == "box")
    assert ops == ["Exp", "Mul", "Sum"]
    xs = by_label(nodes, "x\\n(2,) float32  requires_grad")
    exp = by_label(nodes, "Exp")
    assert (xs, exp, None) in edges  # a one-input op has unnumbered arrows
    mul = by_label(nodes, "Mul")
    into_mul = sorted(label for src, dst, label in edges if dst == mul)
    assert into_mul == ["0", "1"]  # operands numbered in argument order
    out = by_label(nodes, "() float32  requires_grad")
    assert "#fff2b3" in nodes[out][2]  # the output is highlighted
    const = by_label(nodes, "() float32\\n= 2.0")  # a small leaf without grad shows its value
    assert "#eeeeee" in nodes[const][2]


def test_a_tensor_used_twice_is_one_node_with_two_arrows():
    a = tg.Tensor([3.0], requires_grad=True)
    a.name = "a"
    nodes, edges = parse(tg.to_dot((a * a).sum()))
    leaf = by_label(nodes, "a\\n(1,) float32  requires_grad")
    mul = by_label(nodes, "Mul")
    assert sorted(e for e in edges if e[0] == leaf) == [(leaf, mul, "0"), (leaf, mul, "1")]


@pytest.mark.parametrize("how", ["model", "params", "pairs"])
def test_parameters_are_named_by_module_path(how):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    loss = F.cross_entropy(model(tg.randn(5, 4)), np.arange(5) % 2)
    kwargs = {"model": dict(model=model), "params": dict(params=dict(model.named_parameters())),
              "pairs": dict(params=model.named_parameters())}[how]
    nodes, edges = parse(tg.to_dot(loss, **kwargs))
    for name, shape in [("0.weight", (3, 4)), ("0.bias", (3,)), ("2.weight", (2, 3)), ("2.bias", (2,))]:
        key = by_label(nodes, f"{name}\\n{shape} float32  requires_grad")
        assert "#cfe8ff" in nodes[key][2]  # parameters are blue
    # nn.Sequential runs Linear then ReLU as one fused node (ops.LinearReLU)
    assert sorted(label for shape, label, _ in nodes.values() if shape == "box") == \
        ["CrossEntropy", "Linear", "LinearReLU"]
    assert len(edges) == 3 + 3 + 3 + 2  # op->output for 3 ops, inputs 3 + 3 + 2


def test_labels_are_escaped_and_a_title_can_be_given():
    x = tg.Tensor([1.0], requires_grad=True)
    x.name = 'say "hi" \\ bye'
    dot = tg.to_dot(x * 2.0, title="my graph")
    assert 'label="say \\"hi\\" \\\\ bye\\n(1,) float32  requires_grad"' in dot
    assert 'labelloc=t; label="my graph";' in dot
    parse(dot)


def test_a_freed_graph_is_a_clear_error():
    x = tg.Tensor([1.0], requires_grad=True)
    loss = (x * 2.0).sum()
    loss.backward()
    with pytest.raises(tg.GraphFreedError, match="to_dot.*before backward"):
        tg.to_dot(loss)
    kept = (x * 2.0).sum()
    kept.backward(retain_graph=True)
    assert "Mul" in tg.to_dot(kept)


def test_a_leaf_is_a_graph_of_one_node():
    nodes, edges = parse(tg.to_dot(tg.Tensor([1.0, 2.0])))
    assert len(nodes) == 1 and edges == []


def test_only_small_constants_show_their_values():
    w = tg.Tensor(np.ones((2, 5), dtype=np.float32), requires_grad=True)
    w.name = "w"
    dot = tg.to_dot((w * tg.Tensor(np.arange(5.0))).sum() * tg.Tensor([[1.0], [2.0]]))
    assert "(2, 1) float32\\n= [[1.0], [2.0]]" in dot
    assert "(5,) float64\"" in dot  # five numbers: shape only
    assert 'w\\n(2, 5) float32  requires_grad"' in dot  # parameters never show values


def test_render_without_graphviz_writes_the_text_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(dot_module, "dot_executable", lambda: None)
    dot = tg.to_dot(tg.Tensor([1.0], requires_grad=True) * 2.0)
    with pytest.warns(UserWarning, match="`dot` program was not found.*graph.dot"):
        written = render(dot, tmp_path / "graph.svg")
    assert written == tmp_path / "graph.dot" and written.read_text() == dot
    assert not (tmp_path / "graph.svg").exists()


def test_render_a_dot_path_writes_text_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(dot_module, "dot_executable", lambda: pytest.fail("must not look for graphviz"))
    written = render("digraph g {}\n", tmp_path / "g.gv")
    assert written.read_text() == "digraph g {}\n"


@pytest.mark.skipif(sys.platform == "win32", reason="uses a shell script as a stand-in for Graphviz")
def test_render_calls_graphviz_with_the_format_and_reports_failures(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\n[ "$1" = "-Tbad" ] && { echo "Format: bad not recognized" >&2; exit 1; }\n'
                    'echo "$1" > "$3"; cat >> "$3"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(dot_module, "dot_executable", lambda: str(fake))
    out = render("digraph g {}", tmp_path / "g.png")
    assert out == tmp_path / "g.png" and out.read_text() == "-Tpng\ndigraph g {}"
    render("digraph g {}", tmp_path / "g.out", format="SVG")
    assert (tmp_path / "g.out").read_text().startswith("-Tsvg")
    with pytest.raises(RuntimeError, match="dot -Tbad.*not recognized"):
        render("digraph g {}", tmp_path / "g.bad")


@pytest.mark.skipif(dot_module.dot_executable() is None, reason="Graphviz's dot executable is not installed")
def test_graphviz_accepts_the_text_and_draws_svg(tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    x = tg.randn(1, 4)
    x.name = 'x "input"'
    loss = F.cross_entropy(model(x), np.array([1]))
    out = render(tg.to_dot(loss, model=model, title="4-3-2"), tmp_path / "g.svg")
    svg = out.read_text()
    assert "<svg" in svg and "0.weight" in svg and "CrossEntropy" in svg
    assert os.path.getsize(out) > 1000
