"""Watching backprop: tg.trace() records each forward op and each backward step."""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import autograd

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _host(array) -> np.ndarray | None:
    if array is None:
        return None
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def _user_frame() -> str:
    """file:line of the innermost caller outside the package: where the user created the op."""
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(_PACKAGE_DIR):
            return f"{Path(frame.filename).name}:{frame.lineno}"
    return "?"


@dataclass
class ForwardStep:
    op: str
    input_shapes: list
    output_shape: tuple
    output: np.ndarray
    created_at: str


@dataclass
class BackwardStep:
    op: str
    input_shapes: list
    upstream: np.ndarray
    input_grads: list  # one array (or None) per input, before un-broadcasting
    created_at: str = "?"


def format_array(a: np.ndarray | None, max_elements: int = 8) -> str:
    """Small arrays in full, big ones abbreviated with shape and a few statistics."""
    if a is None:
        return "-"
    a = np.asarray(a)
    if a.size <= max_elements:
        return np.array2string(a, precision=4, separator=", ", suppress_small=True).replace("\n", "")
    flat = a.ravel()
    head = ", ".join(f"{v:.4g}" for v in flat[:3])
    return f"[{head}, ...] shape {a.shape} mean {flat.mean():.4g} max|.| {np.abs(flat).max():.4g}"


@dataclass
class Trace:
    """Collects steps while active: `with tg.trace() as t: loss.backward(); print(t)`."""

    steps: list = field(default_factory=list)
    forward_steps: list = field(default_factory=list)
    _origins: dict = field(default_factory=dict, repr=False)

    def __enter__(self) -> "Trace":
        autograd.register_tracer(self)
        return self

    def __exit__(self, *exc) -> bool:
        autograd.unregister_tracer(self)
        return False

    def on_forward(self, node, inputs, result) -> None:
        origin = _user_frame()
        self._origins[id(node)] = origin
        self.forward_steps.append(
            ForwardStep(type(node).__name__, [tuple(t.shape) for t in inputs], tuple(result.shape),
                        _host(result.data), origin)
        )

    def on_backward(self, node, upstream, input_grads: Any) -> None:
        self.steps.append(
            BackwardStep(
                op=type(node).__name__,
                input_shapes=[tuple(t.shape) for t in node.inputs],
                upstream=_host(upstream),
                input_grads=[_host(g) for g in input_grads],
                created_at=self._origins.get(id(node), "?"),
            )
        )

    def __str__(self) -> str:
        lines = []
        if self.forward_steps:
            lines.append("forward pass")
            for i, s in enumerate(self.forward_steps, 1):
                shapes = ", ".join(str(sh) for sh in s.input_shapes)
                lines.append(f"  {i:>3}  {s.op:<12} in {shapes:<24} -> out {s.output_shape}  {format_array(s.output)}  [{s.created_at}]")
        lines.append("backward pass" if self.steps else "backward pass: no steps recorded")
        for i, s in enumerate(self.steps, 1):
            shapes = ", ".join(str(sh) for sh in s.input_shapes)
            lines.append(f"  {i:>3}  {s.op:<12} inputs {shapes}  [{s.created_at}]")
            lines.append(f"         upstream grad    {format_array(s.upstream)}")
            for k, g in enumerate(s.input_grads):
                lines.append(f"         grad to input {k}  {format_array(g)}")
        return "\n".join(lines)


def trace() -> Trace:
    """A context manager that records the forward ops and backward steps run inside it."""
    return Trace()


def to_dot(tensor, names: dict | None = None) -> str:
    """The graph that produced `tensor` as Graphviz DOT text (ops as boxes, tensors as ovals).

    `names` maps id(tensor) -> label, e.g. {id(p): n for n, p in model.named_parameters()}.
    """
    names = names or {}
    lines = ["digraph tinygrad_opt {", "  rankdir=BT;", '  node [fontname="Helvetica"];']
    seen: set = set()
    stack = [tensor]

    def tensor_node(t) -> str:
        label = names.get(id(t)) or t.name or ""
        grad = " requires_grad" if t.requires_grad else ""
        text = f"{label}\\n{tuple(t.shape)} {t.dtype}{grad}".strip("\\n")
        style = ', style=filled, fillcolor="#cfe8ff"' if t.is_leaf and t.requires_grad else ""
        lines.append(f'  t{id(t)} [shape=ellipse, label="{text}"{style}];')
        return f"t{id(t)}"

    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        tid = tensor_node(t)
        node = t._ctx
        if node is None or node._freed:
            continue
        lines.append(f'  op{id(node)} [shape=box, label="{type(node).__name__}"];')
        lines.append(f"  op{id(node)} -> {tid};")
        for parent in node.inputs:
            lines.append(f"  t{id(parent)} -> op{id(node)};")
            stack.append(parent)
    lines.append("}")
    return "\n".join(lines)
