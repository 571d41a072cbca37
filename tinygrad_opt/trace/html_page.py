"""One self-contained HTML page that steps through a recorded trace: the forward pass, then the backward pass.

`trace_to_html(t)` returns the page as text (Trace.to_html writes it to a file). The graph
is drawn as inline SVG, laid out here in Python (no Graphviz needed); a few lines of inline
JavaScript move through the steps with Next/Back (or the arrow keys). Each step highlights
the op being computed, shows its formula and the numbers going in and out, and fills in
the values' data (forward) and gradients (backward) as they become known; a gradient that
collects parts from several ops grows by `+=` before the reader's eyes. Nothing is loaded
from the network.
"""
from __future__ import annotations

import html
import json

import numpy as np

from .formulas import backward_formula, forward_formula
from .graph import brief, output_key

BOX_H = 58  # a value box's height in SVG units; its width fits the longest line shown
CHAR_W = 6.2  # width of one character of the boxes' 11px font
OP_RX, OP_RY = 44, 20  # the widest op oval
GAP, ROW_H, MARGIN = 22, 78, 20


def _columns(trace) -> dict:
    """Column of every value key and op index: ops one column right of their latest input, leaves just
    left of their first consumer, so the data flows left to right as in the DOT picture."""
    col: dict = {}
    for s in trace.forward_steps:
        inputs = [col.get(k, -1) for k in s.input_keys if k.startswith("#")]
        col[("op", s.index)] = max(inputs, default=0) + 1
        col[f"#{s.index}"] = col[("op", s.index)] + 1
    for s in trace.forward_steps:  # leaves: next to the first op that reads them
        for k in s.input_keys:
            if not k.startswith("#") and k not in col:
                col[k] = col[("op", s.index)] - 1
    return col


def layout(trace, box_w: float) -> tuple[dict, int, int]:
    """(positions {node: (x, y)} of box/circle centres, width, height) for the SVG."""
    col = _columns(trace)
    rows: dict = {}
    pos = {}
    for node in col:
        c = col[node]
        r = rows.get(c, 0)
        rows[c] = r + 1
        x = MARGIN + (c // 2) * (box_w + 2 * OP_RX + 2 * GAP)  # even columns hold values, odd ones ops
        x += box_w + GAP + OP_RX if c % 2 else box_w / 2
        pos[node] = (x, MARGIN + BOX_H / 2 + r * ROW_H)
    width = int(max(x for x, _ in pos.values()) + box_w / 2 + MARGIN)
    height = int(max(y for _, y in pos.values()) + BOX_H / 2 + MARGIN)
    return pos, width, height


def _op_rx(op: str) -> float:
    return min(OP_RX, max(24, 3.4 * len(op) + 8))


def _edge(x1: float, y1: float, x2: float, y2: float, span: float) -> str:
    """A curved arrow from (x1, y1) to (x2, y2), leaving and arriving horizontally.

    An arrow that skips over columns (longer than `span`) swings down between the rows
    instead of running straight through the boxes in between.
    """
    if x2 - x1 > span:
        low = max(y1, y2) + 0.65 * ROW_H  # a Bezier reaches 3/4 of the way: half-way between two rows
        d = f"M {x1:.0f} {y1:.0f} C {x1 + span / 2:.0f} {low:.0f}, {x2 - span / 2:.0f} {low:.0f}, {x2:.0f} {y2:.0f}"
    else:
        mid = (x1 + x2) / 2
        d = f"M {x1:.0f} {y1:.0f} C {mid:.0f} {y1:.0f}, {mid:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
    return f'<path class="edge" d="{d}" marker-end="url(#arrow)"/>'



def _svg(trace, pos, width, height, box_w: float) -> str:
    out_key = output_key(trace)
    e = html.escape
    parts = [f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>']
    for key, v in trace.values.items():
        x, y = pos[key]
        kind = "loss" if key == out_key else v.kind
        parts.append(f'<g class="value {kind}" id="val-{e(key)}">'
                     f'<rect x="{x - box_w / 2}" y="{y - BOX_H / 2}" width="{box_w}" height="{BOX_H}" rx="4"/>'
                     f'<text x="{x - box_w / 2 + 6}" y="{y - BOX_H / 2 + 15}" class="name">{e(trace.value_label(key))}'
                     f'</text><text x="{x - box_w / 2 + 6}" y="{y - BOX_H / 2 + 32}" id="data-{e(key)}"></text>'
                     f'<text x="{x - box_w / 2 + 6}" y="{y - BOX_H / 2 + 49}" id="grad-{e(key)}"></text></g>')
    for s in trace.forward_steps:
        x, y = pos[("op", s.index)]
        parts.append(f'<g class="op" id="op-{s.index}"><ellipse cx="{x}" cy="{y}" rx="{_op_rx(s.op)}" ry="{OP_RY}"/>'
                     f'<text x="{x}" y="{y + 4}" text-anchor="middle">{e(s.op)}</text></g>')
    span = 2 * (OP_RX + GAP)  # the gap between a value column and the next value column
    for s in trace.forward_steps:  # edges last, over the boxes, so a long one is not hidden behind them
        ox, oy = pos[("op", s.index)]
        rx = _op_rx(s.op)
        for key in s.input_keys:
            x, y = pos[key]
            parts.append(_edge(x + box_w / 2, y, ox - rx, oy, span))
        x, y = pos[f"#{s.index}"]
        parts.append(_edge(ox + rx, oy, x - box_w / 2, y, span))
    parts.append("</svg>")
    return "".join(parts)


def _names(trace, step) -> list[str]:
    return trace.formula_names(step)


def _short(trace, key: str) -> str:
    """A value's name for formulas: "h", "#3" or "const"."""
    return trace.values[key].name or (key if key.startswith("#") else trace.value_label(key))


def _d(name: str) -> str:
    """dL/dx for a one-letter name, dL/d(name) otherwise (dL/dd would read oddly)."""
    return f"dL/d{name}" if len(name) == 1 and name != "d" else f"dL/d({name})"


def _steps(trace) -> list[dict]:
    """Everything the page shows at each step: the panel's text and every box's data/grad line."""
    data_known: dict = {k: v.data for k, v in trace.values.items() if v.kind != "output"}
    grad_known: dict = {}
    n_fwd = len(trace.forward_steps)
    backward = [s for s in trace.steps if s.forward_index is not None]
    backward = [s for i, s in enumerate(backward) if s.forward_index not in {b.forward_index for b in backward[:i]}]
    n_bwd = len(backward)

    def boxes() -> dict:
        shown = {}
        for key, v in trace.values.items():
            data = "data " + brief(data_known[key], head=2) if key in data_known else "data ?"
            if not v.requires_grad:
                grad = ""
            elif key in grad_known:
                total, terms = grad_known[key]
                grad = "grad " + brief(total, head=2)
                grad += " = " + " + ".join(brief(t, head=2) for t in terms) if len(terms) > 1 else ""
            else:
                grad = "grad ?" if backward else ""
            shown[key] = [data, grad]
        return shown

    def row(label: str, array) -> list[str]:
        return [label, brief(array, 12)]

    steps = [{"phase": "start", "title": f"Before the forward pass: {n_fwd} ops to run, then {n_bwd} backward steps",
              "formula": "Inputs and parameters hold their values; every other value is still unknown (?).",
              "ins": [row(trace.value_label(k), d) for k, d in data_known.items()], "outs": [],
              "op": None, "inputs": [], "outputs": [], "boxes": boxes()}]
    for s in trace.forward_steps:
        key = f"#{s.index}"
        data_known[key] = s.output
        names = _names(trace, s)
        steps.append({
            "phase": "forward", "title": f"Forward {s.index}/{n_fwd}: {s.op} computes {trace.value_label(key)}",
            "formula": forward_formula(s.op, names),
            "ins": [row(trace.value_label(k), trace.values[k].data) for k in s.input_keys],
            "outs": [row(trace.value_label(key), s.output)],
            "op": f"op-{s.index}", "inputs": [f"val-{k}" for k in s.input_keys], "outputs": [f"val-{key}"],
            "boxes": boxes()})
    root = output_key(trace)
    for i, s in enumerate(backward, 1):
        key = f"#{s.forward_index}"
        if i == 1:
            grad_known[key] = (s.upstream, [s.upstream])  # the seed: dL/dL = 1
        names = _names(trace, s)
        formulas, outs, targets = [], [], []
        for position, (k, g) in enumerate(zip(s.input_keys, s.input_grads)):
            if g is None:
                continue
            formula = backward_formula(s.op, position, names)
            label = _short(trace, k)
            formulas.append(f"{_d(label)} = {formula}")
            outs.append(row(f"to {label}", g))
            targets.append(f"val-{k}")
            total, terms = grad_known.get(k, (None, []))
            grad_known[k] = (g if total is None else total + g, terms + [g])
        seed = " (the start: dL/dL = 1)" if i == 1 and key == root else ""
        steps.append({
            "phase": "backward",
            "title": f"Backward {i}/{n_bwd}: {s.op} (of forward {s.forward_index}) sends gradients to its inputs",
            "formula": "; ".join(formulas) or "no input needs a gradient",
            "ins": [row(f"g = {_d(_short(trace, key))}{seed}", s.upstream)],
            "outs": outs, "op": f"op-{s.forward_index}", "inputs": [f"val-{key}"], "outputs": targets,
            "boxes": boxes()})
    return steps


_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 16px; color: #222; }
#controls { margin: 8px 0; } button { font-size: 15px; padding: 4px 14px; margin-right: 6px; }
#panel { border: 1px solid #bbb; border-radius: 6px; padding: 8px 12px; background: #fafafa; max-width: 1000px; }
#title { font-weight: bold; font-size: 16px; } #formula { font-family: monospace; font-size: 14px; margin: 6px 0; }
table.nums td { font-family: monospace; font-size: 13px; padding: 1px 10px 1px 0; vertical-align: top; }
#graphbox { overflow: auto; border: 1px solid #ddd; margin-top: 10px; }
svg text { font-family: Helvetica, Arial, sans-serif; font-size: 11px; }
svg .name { font-weight: bold; }
.value rect { fill: #fff; stroke: #555; stroke-width: 1; }
.value.param rect { fill: #cfe8ff; } .value.const rect, .value.earlier rect { fill: #eeeeee; }
.value.loss rect { fill: #fff2b3; stroke-width: 2; }
.op ellipse { fill: #fff; stroke: #555; }
.edge { stroke: #555; stroke-opacity: 0.55; stroke-width: 1.3; fill: none; }
.current ellipse { fill: #ff9f43; stroke: #c0392b; stroke-width: 3; }
.input rect { stroke: #2e86de; stroke-width: 3; } .output-now rect { stroke: #c0392b; stroke-width: 3; }
.check-caption { font-weight: bold; margin: 16px 0 4px 0; }
table.check { border-collapse: collapse; font-family: monospace; font-size: 13px; }
table.check th, table.check td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
"""

_SCRIPT = """
const STEPS = JSON.parse(document.getElementById('steps').textContent);
let at = 0;
function cells(rows) {
  return rows.map(r => '<tr><td>' + r.map(escapeHtml).join('</td><td>') + '</td></tr>').join('');
}
function escapeHtml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function show(i) {
  at = Math.max(0, Math.min(STEPS.length - 1, i));
  const s = STEPS[at];
  document.getElementById('counter').textContent = 'step ' + at + ' / ' + (STEPS.length - 1) + ' (' + s.phase + ')';
  document.getElementById('title').textContent = s.title;
  document.getElementById('formula').textContent = s.formula;
  document.getElementById('ins').innerHTML = cells(s.ins);
  document.getElementById('outs').innerHTML = cells(s.outs);
  for (const [key, texts] of Object.entries(s.boxes)) {
    document.getElementById('data-' + key).textContent = texts[0];
    document.getElementById('grad-' + key).textContent = texts[1];
  }
  document.querySelectorAll('.current, .input, .output-now').forEach(
    el => el.classList.remove('current', 'input', 'output-now'));
  if (s.op) {
    const op = document.getElementById(s.op);
    op.classList.add('current');
    op.scrollIntoView({block: 'nearest', inline: 'center'});
  }
  s.inputs.forEach(id => document.getElementById(id).classList.add('input'));
  s.outputs.forEach(id => document.getElementById(id).classList.add('output-now'));
  document.getElementById('back').disabled = at === 0;
  document.getElementById('next').disabled = at === STEPS.length - 1;
}
document.getElementById('next').onclick = () => show(at + 1);
document.getElementById('back').onclick = () => show(at - 1);
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowRight') show(at + 1);
  if (e.key === 'ArrowLeft') show(at - 1);
});
show(0);
"""


def _tables(tables) -> str:
    """(caption, headers, rows) tables as HTML below the graph: each gradient by hand, engine, finite differences."""
    e = html.escape
    parts = []
    for caption, headers, rows in tables:
        head = "".join(f"<th>{e(str(h))}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        parts.append(f'<p class="check-caption">{e(caption)}</p>'
                     f'<table class="check"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    return f'<div id="checks">{"".join(parts)}</div>' if parts else ""


def trace_to_html(trace, title: str | None = None, tables=()) -> str:
    """The whole page as one string: inline CSS, SVG, the steps as JSON and the script that shows them.

    `tables` are (caption, headers, rows) shown below the graph, each cell as text."""
    if not trace.forward_steps:
        raise ValueError("to_html: this trace recorded no forward ops; run the forward pass inside the "
                         "`with tg.trace() as t:` block (and backward() too, to step through it)")
    steps = _steps(trace)
    longest = max(len(line) for step in steps for texts in step["boxes"].values() for line in texts)
    longest = max([longest] + [len(trace.value_label(k)) for k in trace.values])
    box_w = min(340, max(110, longest * CHAR_W + 14))
    pos, width, height = layout(trace, box_w)
    svg = _svg(trace, pos, width, height, box_w)
    steps = json.dumps(steps, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
    steps = steps.replace("</", "<\\/")  # a "</script>" inside the data must not end the script element
    heading = html.escape(title or "Backprop, step by step")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{heading}</title><style>{_STYLE}</style></head>
<body>
<h2>{heading}</h2>
<p>Blue: parameters (leaves that need a gradient); grey: constants; yellow: the output. Next/Back or the arrow
keys step through the forward pass, then the backward pass; the op being computed is orange, its inputs
outlined in blue and what it writes in red.</p>
<div id="controls"><button id="back">Back</button><button id="next">Next</button> <span id="counter"></span></div>
<div id="panel"><div id="title"></div><div id="formula"></div>
<table class="nums"><tbody id="ins"></tbody></table><div>&darr;</div>
<table class="nums"><tbody id="outs"></tbody></table>
</div>
<div id="graphbox">{svg}</div>
{_tables(tables)}
<script type="application/json" id="steps">{steps}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
