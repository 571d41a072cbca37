"""Watching backprop: `tg.trace()` records each forward op and each backward step.

    with tg.trace(model=model) as t:
        loss = loss_fn(model(x), y)
        loss.backward()
    print(t)                  # the forward pass, then the backward pass step by step
    t.steps[0].upstream       # every number is there as a NumPy array

The engine calls `on_forward` / `on_backward` only while a trace is active
(autograd keeps a list of active tracers and checks it with one `if`), so the
cost of finding where each op was created is paid inside a trace and nowhere else.
"""
from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from . import autograd
from .autograd import unbroadcast
from .teach.dot import render, to_dot
from .teach.format import SMALL, format_array, format_table
from .teach.names import lookup, module_paths, parameter_names

_HERE = Path(__file__).parent
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

    # ---- context manager --------------------------------------------------------
    def __enter__(self) -> "Trace":
        autograd.register_tracer(self)
        return self

    def __exit__(self, *exc) -> bool:
        autograd.unregister_tracer(self)
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

    # ---- hooks called by autograd ---------------------------------------------
    def on_forward(self, node, inputs, result) -> None:
        site, module = creation_site(self._modules)
        index = len(self.forward_steps) + 1
        self.forward_steps.append(ForwardStep(
            index=index,
            op=type(node).__name__,
            input_shapes=[tuple(t.shape) for t in inputs],
            input_labels=[self.label(t) for t in inputs],
            output_shape=tuple(result.shape),
            output=_host_copy(result.data),
            requires_grad=result.requires_grad,
            created_at=site,
            module=module,
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
        ))

    # ---- printing -------------------------------------------------------------
    def _where(self, step) -> str:
        return f"{step.created_at} in {step.module}" if step.module else step.created_at

    def forward_table(self, title: bool = True) -> str:
        n = self.max_elements
        rows = []
        for s in self.forward_steps:
            inputs = ", ".join(f"{lab} {sh}" for lab, sh in zip(s.input_labels, s.input_shapes))
            rows.append([f"#{s.index}", s.op, self._where(s), inputs, str(s.output_shape), format_array(s.output, n)])
        table = format_table(["step", "op", "created at", "inputs", "output", "value"], rows)
        if not title:
            return table
        return f"forward pass: {len(rows)} op{'s' if len(rows) != 1 else ''}, in the order they ran\n{table}"

    def backward_table(self, title: bool = True) -> str:
        n = self.max_elements
        rows = []
        for s in self.steps:
            op = s.op + (f" (of #{s.forward_index})" if s.forward_index else "")
            shape = str(tuple(s.upstream.shape)) if s.upstream is not None else "?"
            rows.append([str(s.index), op, self._where(s), "upstream", shape, format_array(s.upstream, n)])
            for lab, sh, g in zip(s.input_labels, s.input_shapes, s.input_grads):
                value = format_array(g, n) if g is not None else "- (needs no gradient)"
                rows.append(["", "", "", f"-> {lab}", str(sh), value])
        table = format_table(["step", "op", "created at", "gradient of", "shape", "value"], rows)
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


__all__ = ["trace", "Trace", "ForwardStep", "BackwardStep", "to_dot", "render", "format_array", "creation_site"]
