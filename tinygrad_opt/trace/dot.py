"""Drawing the graph: `to_dot(loss, model=model)` gives Graphviz DOT text, `render(dot, "g.svg")` a picture."""
from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import GraphFreedError
from .format import format_array
from .names import lookup, parameter_names

# fill colours: parameters (leaves that require grad), data (leaves without grad), the output
_PARAM, _DATA, _OUTPUT = "#cfe8ff", "#eeeeee", "#fff2b3"


def _quote(text: str) -> str:
    """A DOT string literal; "\\n" in `text` stays a DOT line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dtype(t) -> str:
    return str(t.dtype)


def _host(array):
    return array.get() if hasattr(array, "get") and not hasattr(array, "__array_interface__") else array


def to_dot(tensor, model: Any = None, params: Mapping[str, Any] | Iterable | None = None,
           title: str | None = None) -> str:
    """The graph that produced `tensor` as Graphviz DOT text.

    Ops are boxes, tensors ovals labelled with name, shape and dtype. Leaves that
    require grad (parameters) are blue and named by their module path when `model`
    (an nn.Module) or `params` (e.g. dict(model.named_parameters())) is given; leaves
    without grad (data, targets) are grey, with their value when they hold at most 4
    numbers; the output is yellow. Arrows follow the
    data (forward direction); an op with several inputs numbers its arrows 0, 1, ...
    in argument order. Call it before backward(), which frees the graph.
    """
    names = parameter_names(model, params)
    lines = ["digraph tinygrad_opt {", '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    if title:
        lines.append(f"  labelloc=t; label={_quote(title)};")
    tensor_ids: dict = {}  # id(tensor) -> DOT node name, in discovery order
    op_ids: dict = {}
    keep = []  # tensors seen, kept alive so their ids stay unique while we walk

    def tensor_node(t) -> str:
        key = tensor_ids.get(id(t))
        if key is not None:
            return key
        key = tensor_ids[id(t)] = f"t{len(tensor_ids)}"
        keep.append(t)
        name = lookup(names, t) or t.name or ""
        grad = "  requires_grad" if t.requires_grad else ""
        label = (f"{name}\n" if name else "") + f"{tuple(t.shape)} {_dtype(t)}{grad}"
        if t._ctx is None and not t.requires_grad and t.data.size <= 4:  # a small constant: show its value
            label += "\n= " + format_array(_host(t.data))
        if t is tensor:
            style = f', style=filled, fillcolor="{_OUTPUT}", penwidth=2'
        elif t._ctx is None:
            style = f', style=filled, fillcolor="{_PARAM if t.requires_grad else _DATA}"'
        else:
            style = ""
        lines.append(f"  {key} [shape=ellipse, label={_quote(label)}{style}];")
        return key

    stack = [tensor]
    tensor_node(tensor)
    while stack:
        t = stack.pop()
        node = t._ctx
        if node is None:
            continue
        if node._freed:
            raise GraphFreedError(
                f"to_dot: the graph behind this tensor was freed by backward() (at op {type(node).__name__}); "
                "call to_dot before backward(), or pass retain_graph=True to backward()"
            )
        if id(node) in op_ids:
            continue
        op = op_ids[id(node)] = f"op{len(op_ids)}"
        lines.append(f"  {op} [shape=box, style=rounded, label={_quote(type(node).__name__)}];")
        lines.append(f"  {op} -> {tensor_node(t)};")
        several = len(node.inputs) > 1
        for i, parent in enumerate(node.inputs):
            new = id(parent) not in tensor_ids
            edge = f' [label="{i}"]' if several else ""
            lines.append(f"  {tensor_node(parent)} -> {op}{edge};")
            if new:
                stack.append(parent)
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_executable() -> str | None:
    """Path of Graphviz's `dot` program, or None when Graphviz is not installed."""
    return shutil.which("dot")


def render(dot: str, path, format: str | None = None) -> Path:
    """Write `dot` as a picture at `path` (format from the suffix: .svg, .png, .pdf; or `format=`).

    Needs Graphviz's `dot` executable. Without it, the DOT text is written next to
    `path` with the suffix .dot, a warning says so, and that path is returned.
    A `.dot` or `.gv` path always gets the text. Returns the path written.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".") or "svg").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot)
        return path
    exe = dot_executable()
    if exe is None:
        fallback = path.with_suffix(".dot")
        fallback.write_text(dot)
        warnings.warn(
            f"Graphviz's `dot` program was not found on PATH, so the graph was written as DOT text to "
            f"{fallback} instead of {fmt.upper()} to {path}. Install Graphviz (apt install graphviz, "
            "brew install graphviz or conda install graphviz) to get pictures, or paste the text into "
            "any online Graphviz viewer.",
            stacklevel=2,
        )
        return fallback
    done = subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=dot, text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"render: Graphviz `dot -T{fmt}` failed (exit {done.returncode}): {done.stderr.strip()}")
    return path
