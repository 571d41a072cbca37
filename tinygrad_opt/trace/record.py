"""The recorder behind `tg.trace()`: each forward op and each backward step, with its numbers.

The engine calls `on_forward` / `on_backward` only while a trace is active
(autograd keeps a list of active tracers and checks it with one `if`), so the
cost of finding where each op was created is paid inside a trace and nowhere else.
"""
from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .. import autograd
from ..autograd import unbroadcast
from .format import SMALL, format_array, format_table
from .formulas import backward_formula
from .graph import trace_to_dot
from .html_page import trace_to_html
from .names import lookup, module_paths, parameter_names

_HERE = Path(__file__).parent.parent  # the package root: tinygrad_opt/
# the engine's own folders, as imported and with symlinks resolved; creation sites skip them
_ENGINE_DIRS = tuple({str(p) + os.sep for d in (_HERE, _HERE.parent / "kernels") for p in (d, d.resolve())})
# Code in these folders uses the engine the way a user would (demonstrations, the CLI):
# a creation site there is the interesting one, so it is not skipped as engine code.
_USER_CODE_DIRS = tuple({str(p / d) + os.sep for p in (_HERE, _HERE.resolve()) for d in ("teach", "cli")})


def _host_copy(array) -> np.ndarray | None:
    """A NumPy copy (cupy arrays come to the host): later in-place updates must not change the record."""
    if array is None:
        return None
    if hasattr(array, "get") and not isinstance(array, np.ndarray):
        return array.get()
    return np.array(array, copy=True)


def _is_engine_file(filename: str) -> bool:
    return filename.startswith(_ENGINE_DIRS) and not filename.startswith(_USER_CODE_DIRS)


def _site(filename: str, lineno: int) -> str:
    if "ipykernel_" in filename or filename.startswith("<ipython-input"):
        return f"cell line {lineno}"  # a Jupyter cell: its temporary file name means nothing to a reader
    return f"{Path(filename).name}:{lineno}"


def creation_site(modules: dict | None = None) -> tuple[str, str | None]:
    """("file:line" of the innermost caller outside the engine, innermost known module path or None).

    Walks the interpreter's frames (cheap: no source lines are read). Called only
    inside an active trace.
    """
    frame = sys._getframe(1)
    module = None
    while frame is not None:
        code = frame.f_code
        if _is_engine_file(code.co_filename):
            if modules and module is None and code.co_name in ("forward", "__call__"):
                owner = frame.f_locals.get("self")
                module = lookup(modules, owner) if owner is not None else None
            frame = frame.f_back
            continue
        if modules and module is None and code.co_name == "forward":  # a user-defined Module's forward
            owner = frame.f_locals.get("self")
            module = lookup(modules, owner) if owner is not None else None
        return _site(code.co_filename, frame.f_lineno), module
    return "?", module


@dataclass
class ForwardStep:
    """One op of the forward pass, as it ran."""

    index: int  # 1-based position in the forward pass; other steps refer to its output as "#index"
    op: str
    input_shapes: list
    input_labels: list  # parameter name, tensor name, "#k" (output of forward step k), "leaf" or "const"
    output_shape: tuple
    output: np.ndarray
    requires_grad: bool  # whether the output is part of the graph backward will walk
    created_at: str  # "file.py:line" of the user's code that ran the op
    module: str | None = None  # module path of the innermost nn.Module running it, when a model was given
    input_keys: list = field(default_factory=list)  # keys of Trace.values: "#k" for step k's output, "v3" for a leaf


@dataclass
class BackwardStep:
    """One node of the backward pass: what came in (upstream) and what each input received."""

    index: int  # 1-based, in the order the engine ran them
    op: str
    input_shapes: list
    input_labels: list
    upstream: np.ndarray  # dL/d(output of this op)
    input_grads: list  # dL/d(input k), shaped like input k (un-broadcast); None where no gradient flows
    created_at: str = "(before the trace)"
    module: str | None = None
    forward_index: int | None = None  # the forward step that created this node, when it ran in the trace
    input_keys: list = field(default_factory=list)  # as in ForwardStep; empty when the node was made before the trace


@dataclass
class TracedValue:
    """A value in the recorded graph: an op's output ("#k") or an input from outside the trace ("v1", "v2", ...)."""

    key: str
    kind: str  # "output" (of a forward step), "param" (leaf with requires_grad), "const" (leaf without), "earlier"
    shape: tuple
    dtype: str
    data: np.ndarray  # as it was when the trace first saw it
    requires_grad: bool
    name: str | None = None  # parameter path, tensor.name or the user's variable name
    step: int | None = None  # the forward step that made it, for outputs


class Trace:
    """Collects steps while active: `with tg.trace() as t: ...; print(t)`.

    `t.forward_steps` and `t.steps` (the backward pass) are lists of ForwardStep and
    BackwardStep with the values as NumPy arrays. `print(t)` shows both as tables;
    arrays with at most `max_elements` entries are printed in full, bigger ones as
    their first values plus shape and statistics.
    """

    def __init__(self, model: Any = None, params: Mapping[str, Any] | Iterable | None = None,
                 max_elements: int = SMALL) -> None:
        self.steps: list[BackwardStep] = []
        self.forward_steps: list[ForwardStep] = []
        self.max_elements = max_elements
        self._names = parameter_names(model, params)
        self._modules = module_paths(model)
        # id -> (weakref, step index): which forward step made a node / a tensor. Weak, so a
        # trace around a training loop does not keep old graphs alive; the ref guards against reused ids.
        self._node_step: dict = {}
        self._tensor_step: dict = {}
        self._leaf_key: dict = {}  # id(tensor) -> (weakref, key) for inputs that no traced op made
        self.values: dict[str, TracedValue] = {}  # the recorded graph's values, by key

    # ---- context manager --------------------------------------------------------
    def __enter__(self) -> "Trace":
        autograd.register_tracer(self)
        return self

    def __exit__(self, *exc) -> bool:
        autograd.unregister_tracer(self)
        self.adopt_variable_names(sys._getframe(1))
        return False


    # ---- naming -------------------------------------------------------------
    @staticmethod
    def _find(table: dict, obj) -> int | None:
        entry = table.get(id(obj))
        return entry[1] if entry is not None and entry[0]() is obj else None

    def label(self, t) -> str:
        """How the tables name a tensor: parameter path, .name, "#k" for forward step k's output, leaf/const."""
        name = lookup(self._names, t) or t.name
        if name:
            return name
        k = self._find(self._tensor_step, t)
        if k is not None:
            return f"#{k}"
        if t._ctx is not None:
            return f"{type(t._ctx).__name__} output"
        return "leaf" if t.requires_grad else "const"

    def value_label(self, key: str) -> str:
        """How tables and pictures name a recorded value: "h=#3" for a named output, "#3", "x", "leaf", "const"."""
        v = self.values[key]
        if v.kind == "output":
            return f"{v.name}={key}" if v.name else key
        return v.name or {"param": "leaf", "const": "const", "earlier": "earlier value"}[v.kind]

    def adopt_variable_names(self, frame) -> None:
        """Name recorded values after the variables of `frame` (the user's code) that hold them.

        Called when the with block ends, so `h = x @ w` shows as "h". A parameter path or
        a tensor's .name wins over a variable name; names starting with "_" (Jupyter's
        output history) are ignored.
        """
        if frame is None:
            return
        found = False
        for var, obj in list(frame.f_locals.items()):
            if var.startswith("_"):
                continue
            k = self._find(self._tensor_step, obj)  # by id and identity: any object in the frame is safe to look up
            key = f"#{k}" if k is not None else self._find(self._leaf_key, obj)
            if key is not None and self.values[key].name is None:
                self.values[key].name = var
                found = True
        if found:
            for s in self.forward_steps:  # backward steps share these lists
                s.input_labels[:] = [self.value_label(k) for k in s.input_keys]

    def _key_of(self, t) -> str:
        """The key of an op's input, recording it as a new value when no traced op made it."""
        k = self._find(self._tensor_step, t)
        if k is not None:
            return f"#{k}"
        key = self._find(self._leaf_key, t)
        if key is not None:
            return key
        key = f"v{len(self._leaf_key) + 1}"
        self._leaf_key[id(t)] = (weakref.ref(t), key)
        kind = "earlier" if t._ctx is not None else ("param" if t.requires_grad else "const")
        self.values[key] = TracedValue(key=key, kind=kind, shape=tuple(t.shape), dtype=str(t.dtype),
                                       data=_host_copy(t.data), requires_grad=t.requires_grad,
                                       name=lookup(self._names, t) or t.name)
        return key

    # ---- hooks called by autograd ---------------------------------------------
    def on_forward(self, node, inputs, result, options=None) -> None:
        site, module = creation_site(self._modules)
        index = len(self.forward_steps) + 1
        keys = [self._key_of(t) for t in inputs]
        output = _host_copy(result.data)
        self.values[f"#{index}"] = TracedValue(key=f"#{index}", kind="output", shape=tuple(result.shape),
                                               dtype=str(result.dtype), data=output,
                                               requires_grad=result.requires_grad, name=result.name, step=index)
        self.forward_steps.append(ForwardStep(
            index=index,
            op=type(node).__name__,
            input_shapes=[tuple(t.shape) for t in inputs],
            input_labels=[self.value_label(k) for k in keys],
            output_shape=tuple(result.shape),
            output=output,
            requires_grad=result.requires_grad,
            created_at=site,
            module=module,
            input_keys=keys,
        ))
        self._node_step[id(node)] = (weakref.ref(node), index)
        self._tensor_step[id(result)] = (weakref.ref(result), index)

    def on_backward(self, node, upstream, input_grads: Any) -> None:
        k = self._find(self._node_step, node)
        made = self.forward_steps[k - 1] if k is not None else None
        grads = []
        for t, g in zip(node.inputs, input_grads):
            if g is None or not t.requires_grad:
                grads.append(None)  # the traversal sends nothing to an input that needs no gradient
                continue
            grads.append(_host_copy(unbroadcast(g, t.shape) if g.shape != t.shape else g))
        self.steps.append(BackwardStep(
            index=len(self.steps) + 1,
            op=type(node).__name__,
            input_shapes=[tuple(t.shape) for t in node.inputs],
            input_labels=made.input_labels if made else [self.label(t) for t in node.inputs],
            upstream=_host_copy(upstream),
            input_grads=grads,
            created_at=made.created_at if made else "(before the trace)",
            module=made.module if made else None,
            forward_index=k,
            input_keys=made.input_keys if made else [],
        ))

    def formula_names(self, step) -> list[str]:
        """The inputs' names for an op's formula: their names, or the number itself for an unnamed scalar constant."""
        if not step.input_keys:
            return list(step.input_labels)
        names = []
        for key in step.input_keys:
            v = self.values[key]
            if v.name:
                names.append(v.name)
            else:
                names.append(format_array(v.data) if v.kind == "const" and v.data.size == 1 else self.value_label(key))
        return names

    # ---- gradients of recorded values -------------------------------------------
    def backward_step_of(self, forward_index: int) -> BackwardStep | None:
        """The (first) backward step of the node that forward step `forward_index` created."""
        return next((s for s in self.steps if s.forward_index == forward_index), None)

    def gradient_parts(self, key: str) -> list[tuple[BackwardStep, int, np.ndarray]]:
        """What each consumer's backward sent to value `key`: (backward step, input position, gradient).

        Their sum is the value's gradient: a value used by several ops gets one part from each
        (the `+=` of backprop). Only each node's first backward step counts, so a second
        backward(retain_graph=True) inside the same trace does not double the parts.
        """
        parts, seen = [], set()
        for s in self.steps:
            if s.forward_index is None or s.forward_index in seen:
                continue
            seen.add(s.forward_index)
            for position, (k, g) in enumerate(zip(s.input_keys, s.input_grads)):
                if k == key and g is not None:
                    parts.append((s, position, g))
        return parts

    def gradient(self, key: str) -> np.ndarray | None:
        """dL/d(value `key`) in the recorded backward pass; None when no gradient reached it."""
        v = self.values[key]
        if v.kind == "output":
            step = self.backward_step_of(v.step)
            if step is not None:
                return step.upstream
        parts = self.gradient_parts(key)
        if not parts:
            return None
        total = parts[0][2]
        for _, _, g in parts[1:]:
            total = total + g
        return total

    def sum_of_parts(self, key: str, max_elements: int = 4) -> str | None:
        """"415.4 = 6.0 + 6.0 + 403.4" for a value that several ops used; None for one used once."""
        parts = self.gradient_parts(key)
        if len(parts) < 2:
            return None
        total = self.gradient(key)
        if all(np.size(g) <= max_elements for _, _, g in parts):
            terms = " + ".join(format_array(g, max_elements) for _, _, g in parts)
        else:
            terms = " + ".join(f"(from {s.op} #{s.forward_index})" for s, _, _ in parts)
        return f"{format_array(total, max_elements)} = {terms}"

    def sums_table(self) -> str:
        """One row per value that several ops used: its gradient as the sum of what each op sent back."""
        rows = []
        for key in self.values:
            text = self.sum_of_parts(key, self.max_elements)
            if text is not None:
                sources = ", ".join(f"{s.op} #{s.forward_index}" for s, _, _ in self.gradient_parts(key))
                rows.append([self.value_label(key), str(self.values[key].shape), sources, text])
        if not rows:
            return ""
        return ("gradients that add up (a value used by several ops gets the sum of what each op sends back):\n"
                + format_table(["value", "shape", "parts from", "gradient = sum of the parts"], rows))

    # ---- pictures ----------------------------------------------------------------
    def to_dot(self, title: str | None = None, max_elements: int = 4) -> str:
        """The recorded graph as Graphviz DOT text, every value with its data and gradient.

        micrograd-style boxes "name | data | grad", abbreviated to shape and a few numbers
        for tensors with more than `max_elements` entries; a value used by several ops shows
        its gradient as the sum of the parts. Works after backward (it reads the record,
        not the freed graph). Draw it with `from tinygrad_opt.trace import render; render(dot, "graph.png")`.
        """
        self.adopt_variable_names(sys._getframe(1))
        return trace_to_dot(self, title=title, max_elements=max_elements)

    def to_html(self, path, title: str | None = None,
                tables: Iterable[tuple[str, list, list]] = ()) -> Path:
        """Write one self-contained HTML page that steps through the forward, then the backward pass.

        The page draws the graph and has Next/Back buttons; each step highlights the op being
        computed and shows its formula and the numbers going in and out. `tables`, as
        (caption, headers, rows), are shown below the graph (`tinygrad-opt trace` puts each
        gradient by hand, engine and finite differences there). No network, no server:
        open the file in any browser. Returns the path written.
        """
        self.adopt_variable_names(sys._getframe(1))
        path = Path(path)
        path.write_text(trace_to_html(self, title=title, tables=tables), encoding="utf-8")
        return path

    # ---- printing -------------------------------------------------------------
    def _where(self, step) -> str:
        return f"{step.created_at} in {step.module}" if step.module else step.created_at

    def _has_modules(self) -> bool:
        return any(s.module for s in self.forward_steps)

    def _where_headers(self, created_at: bool) -> list[str]:
        return ["created at"] if created_at else (["module"] if self._has_modules() else [])

    def _where_cells(self, step, created_at: bool) -> list[str]:
        if created_at:
            return [self._where(step)]
        return [step.module or ""] if self._has_modules() else []

    def forward_table(self, title: bool = True, created_at: bool = True) -> str:
        """The forward pass as a table; `created_at=False` shows only the module (with model=) instead of
        the line of code that ran each op (which is library code when the caller is a library)."""
        n = self.max_elements
        rows = []
        for s in self.forward_steps:
            inputs = ", ".join(f"{lab} {sh}" for lab, sh in zip(s.input_labels, s.input_shapes))
            rows.append([f"#{s.index}", s.op] + self._where_cells(s, created_at)
                        + [inputs, str(s.output_shape), format_array(s.output, n)])
        headers = ["step", "op"] + self._where_headers(created_at) + ["inputs", "output", "value"]
        table = format_table(headers, rows)
        if not title:
            return table
        return f"forward pass: {len(rows)} op{'s' if len(rows) != 1 else ''}, in the order they ran\n{table}"

    def backward_table(self, title: bool = True, created_at: bool = True) -> str:
        """The backward pass as a table: each step's upstream gradient g, then what it sent to each input
        with the formula that computed it ("g @ W", "x^T g", ...). `created_at` as in forward_table."""
        n = self.max_elements
        rows = []
        for s in self.steps:
            op = s.op + (f" (of #{s.forward_index})" if s.forward_index else "")
            shape = str(tuple(s.upstream.shape)) if s.upstream is not None else "?"
            where = self._where_cells(s, created_at)
            rows.append([str(s.index), op] + where + ["upstream", shape, "g", format_array(s.upstream, n)])
            for i, (lab, sh, g) in enumerate(zip(s.input_labels, s.input_shapes, s.input_grads)):
                value = format_array(g, n) if g is not None else "- (needs no gradient)"
                formula = backward_formula(s.op, i, self.formula_names(s)) if g is not None else ""
                rows.append(["", ""] + [""] * len(where) + [f"-> {lab}", str(sh), formula, value])
        headers = ["step", "op"] + self._where_headers(created_at) + ["gradient of", "shape", "formula", "value"]
        table = format_table(headers, rows)
        sums = self.sums_table()
        if sums:
            table += "\n" + sums
        if not title:
            return table
        n = len(self.steps)
        return f"backward pass: {n} step{'s' if n != 1 else ''}, in the order they ran\n{table}"

    def __str__(self) -> str:
        parts = []
        if self.forward_steps:
            parts.append(self.forward_table())
        if self.steps:
            parts.append(self.backward_table())
        if not parts:
            return "trace: nothing recorded (run the forward pass and/or backward() inside the with block)"
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        return f"<Trace: {len(self.forward_steps)} forward ops, {len(self.steps)} backward steps>"


def trace(model: Any = None, params: Mapping[str, Any] | Iterable | None = None, max_elements: int = SMALL) -> Trace:
    """A context manager that records the forward ops and backward steps run inside it.

    `model` (an nn.Module) or `params` (name -> tensor, e.g. dict(model.named_parameters()))
    names the leaf parameters in the tables by their module path, and with a model
    each op also says which module ran it. Run the forward pass inside the block to see
    it and where each op was created; ops created before the block still show up in the
    backward pass, without a creation site.
    """
    return Trace(model=model, params=params, max_elements=max_elements)

