"""The recorded graph of a tg.trace() as a picture with numbers: each value's data and gradient.

    with tg.trace() as t:
        loss = ...
        loss.backward()
    render(t.to_dot(), "graph.png")

Boxes follow micrograd's draw_dot: "name | data ... | grad ...", left to right in the
order the data flows; ops are ovals between them. A value used by several ops adds a
field with its gradient as the sum of what each op sent back.
"""
from __future__ import annotations

import numpy as np

from .format import format_number, format_array

# fill colours: parameters (leaves that require grad), data and constants, the final output
PARAM, DATA, OUTPUT, OP = "#cfe8ff", "#eeeeee", "#fff2b3", "#ffffff"


def brief(a, max_elements: int = 4, head: int = 3) -> str:
    """A short one-line view of an array: every value when small, else shape, first values and the mean."""
    if a is None:
        return "-"
    a = np.asarray(a)
    if a.size <= max_elements:
        return format_array(a, max_elements)
    flat = a.ravel()
    if not np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_:
        return f"{a.shape} [{', '.join(str(v) for v in flat[:3])}, ...]"
    first = ", ".join(format_number(float(v), 3) for v in flat[:head])
    return f"{a.shape} [{first}, ...] mean {format_number(float(flat.astype(np.float64).mean()), 3)}"


def _record_text(text: str) -> str:
    """Escape the characters that structure a Graphviz record label."""
    for c in "\\{}|<>\"":
        text = text.replace(c, "\\" + c)
    return text


def output_key(trace) -> str | None:
    """The value the backward pass started from (the loss), else the last op's output."""
    if trace.steps and trace.steps[0].forward_index is not None:
        return f"#{trace.steps[0].forward_index}"
    return f"#{len(trace.forward_steps)}" if trace.forward_steps else None


def value_fields(trace, key: str, max_elements: int = 4) -> list[str]:
    """The lines of a value's box: name, data, grad and, when several ops used it, the sum of the parts."""
    v = trace.values[key]
    fields = [trace.value_label(key), "data " + brief(v.data, max_elements)]
    if v.requires_grad:
        grad = "grad " + brief(trace.gradient(key), max_elements)
        parts = trace.sum_of_parts(key, max_elements)
        fields.append(grad if parts is None else grad + " = " + parts.split(" = ", 1)[1])
    return fields


def trace_to_dot(trace, title: str | None = None, max_elements: int = 4) -> str:
    """Graphviz DOT text of a trace's recorded forward graph, each value with its data and gradient."""
    if not trace.forward_steps:
        raise ValueError("to_dot: this trace recorded no forward ops; run the forward pass inside the "
                         "`with tg.trace() as t:` block (backward may run inside it too)")
    lines = ["digraph trace {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    if title:
        lines.append('  labelloc=t; label="' + title.replace("\\", "\\\\").replace('"', '\\"') + '";')
    out = output_key(trace)
    ids = {key: f"v{i}" for i, key in enumerate(trace.values)}
    for key, v in trace.values.items():
        fields = " | ".join(_record_text(f) for f in value_fields(trace, key, max_elements))
        # small values read across like micrograd's boxes; abbreviated tensors stack their lines to stay narrow
        label = "{" + fields + "}" if v.data.size <= max_elements else fields
        if key == out:
            fill = OUTPUT
        elif v.kind == "param":
            fill = PARAM
        elif v.kind in ("const", "earlier"):
            fill = DATA
        else:
            fill = OP
        pen = ", penwidth=2" if key == out else ""
        lines.append(f'  {ids[key]} [shape=record, style=filled, fillcolor="{fill}"{pen}, label="{label}"];')
    for s in trace.forward_steps:
        op = f"op{s.index}"
        lines.append(f'  {op} [shape=ellipse, label="{s.op} #{s.index}"];')
        several = len(s.input_keys) > 1
        for i, key in enumerate(s.input_keys):
            lines.append(f"  {ids[key]} -> {op}" + (f' [label="{i}"]' if several else "") + ";")
        lines.append(f"  {op} -> {ids['#' + str(s.index)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
