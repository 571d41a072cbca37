"""From two recordings of the same step to one flat replay function.

Two recordings are compared first: the same ops in the same order on the same slots, the
same options, the same backward, the same effects. That is what tells the external arrays
apart: a parameter or buffer is the same array object both times (the replay uses it, and
checks before each call that its tensor still holds it); a 0-d constant the step made
from a Python number (x * 0.5) is equal both times and is baked in; anything else the step
made outside the engine's ops (a mask drawn in Python, statistics computed on arrays by
hand) differs, and the step is not replayed. Dropout's seed is drawn again at replay,
from the engine's generator in the same order as eager; a `@replayed` helper (BatchNorm's
batch statistics and running-statistics update) is called again and its arrays used.

The replay function is generated source: one line per forward op (`s7 = f7(c7, s6, k2)`),
per backward node and per gradient it passes on, per effect; it calls the ops' own forward
and backward on the same arrays in the same order as eager, so the numbers are the same
bit for bit, without building a graph or any Tensor. Where an op can write into a given
array, its output (`s7 = f7(c7, B7, s6, k2)`) and the gradient its backward hands on go
into buffers allocated here once (into.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import _as_array, _deliver_to_leaves, _run_hooks, unbroadcast
from ..backend import array_module, host_rng
from ..ops.dropout import Dropout
from ..ops.parametric_rectifier import Rrelu
from ..tensor import Tensor
from . import fusion as _fusion
from .into import backward_writer, buffers, gradient_buffers, root, writer
from .recording import Backward, Effect, External, Op, Recording, Slot

# options drawn afresh each step (name -> how eager draws it); see nn.functional.dropout and rrelu
FRESH_OPTIONS = {Dropout: ("seed",), Rrelu: ("seed",)}


def draw_seed() -> int:
    return int(host_rng().integers(0, 2**63))


class GradStateChanged(Exception):
    """A parameter's .grad is set where the recorded step had None (or the reverse)."""


class Mismatch(Exception):
    """The two recordings differ, or one holds something the replay cannot repeat."""


# ---- comparing two recordings ---------------------------------------------------------
def _same_value(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, Slot) and isinstance(b, Slot):
        return a == b
    if isinstance(a, (bool, int, float, complex, str, bytes, type(None), np.generic, np.dtype)):
        return type(a) is type(b) and bool(a == b)
    return False  # any other object: the same one, or different


def _judge(first: External, second: External) -> External:
    """The external array to replay with, or Mismatch when it is one the step makes anew each time."""
    if first.array is second.array:
        return second
    a, b = first.array, second.array
    if (a.shape == () and b.shape == () and a.dtype == b.dtype and type(a) is type(b)
            and a.tobytes() == b.tobytes()
            and not (second.tensor is not None and second.tensor._requires_grad)):
        return second  # a constant such as x * 0.5's 0.5: the same value every step
    raise Mismatch(f"{second.where} is an array of shape {tuple(b.shape)} that the step makes outside the "
                   "engine's ops and that changes between steps; it cannot be replayed")


def _same_ref(a, b):
    """The replay's reference for a slot or external that both recordings agree on."""
    if isinstance(a, External) and isinstance(b, External):
        return _judge(a, b)
    if a == b and not isinstance(a, External) and not isinstance(b, External):
        return b
    raise Mismatch("an op reads a different value than in the step before")


def compare(first: Recording, second: Recording) -> None:
    """Raise Mismatch naming the first difference between the two recordings of the step."""
    if first.grad_enabled != second.grad_enabled:
        raise Mismatch("grad mode changed between the recorded steps")
    if len(first.events) != len(second.events):
        raise Mismatch(f"the step ran {len(first.events)} ops/effects, then {len(second.events)}: the graph changed")
    for n, (a, b) in enumerate(zip(first.events, second.events)):
        if type(a) is not type(b):
            raise Mismatch(f"the graph changed at event {n}: {_describe(a)}, then {_describe(b)}")
        if isinstance(a, Op):
            _compare_op(a, b, n)
        elif isinstance(a, Effect):
            if a.fn is not b.fn or not _same_value(a.args, b.args) or not _same_value(a.kwargs, b.kwargs) \
                    or a.out != b.out:
                raise Mismatch(f"the call of {_describe(a)} changed its arguments between steps")
        else:
            _compare_backward(a, b)
    modes = {k: v[1] for k, v in first.modules.items()}
    if modes != {k: v[1] for k, v in second.modules.items()}:
        raise Mismatch("the modules called or their training/eval mode changed between the recorded steps")


def _compare_op(a: Op, b: Op, n: int) -> None:
    name = b.cls.__name__
    if a.cls is not b.cls or a.out != b.out or len(a.inputs) != len(b.inputs):
        raise Mismatch(f"the graph changed at op {n}: {a.cls.__name__}, then {name}")
    b.inputs = [_same_ref(x, y) for x, y in zip(a.inputs, b.inputs)]
    if a.options.keys() != b.options.keys():
        raise Mismatch(f"{name} (op {n}) got other options than in the step before")
    fresh = FRESH_OPTIONS.get(b.cls, ())
    for key in b.options:
        x, y = a.options[key], b.options[key]
        if key in fresh:
            continue
        if isinstance(x, (External, Slot)) or isinstance(y, (External, Slot)):
            if isinstance(x, Slot) or isinstance(y, Slot):
                if x != y:
                    raise Mismatch(f"option {key!r} of {name} (op {n}) reads another step value than before")
            else:
                b.options[key] = _same_ref(x, y)
        elif not _same_value(x, y):
            raise Mismatch(f"option {key!r} of {name} (op {n}) changed between steps ({x!r}, then {y!r})")


def _compare_backward(a: Backward, b: Backward) -> None:
    if a.root != b.root or a.shape != b.shape or a.dtype != b.dtype or (a.seed is None) != (b.seed is None):
        raise Mismatch("backward() starts from another tensor than in the step before")
    if a.seed is not None:
        b.seed = _same_ref(a.seed, b.seed)
    if a.nodes != b.nodes:
        raise Mismatch("the backward pass visits other nodes than in the step before: the graph changed")
    if len(a.leaves) != len(b.leaves):
        raise Mismatch("other tensors receive gradients than in the step before")
    for x, y in zip(a.leaves, b.leaves):
        if x.grad_was_none != y.grad_was_none:
            raise Mismatch("a gradient was None in one recorded step and set in the other; zero the gradients "
                           "the same way every step (optimizer.zero_grad() inside the step)")
        if isinstance(y.ref, External):
            if x.tensor is not y.tensor:
                raise Mismatch(f"a tensor of shape {tuple(y.tensor.shape)} that receives a gradient is made anew "
                               "each step outside the engine's ops")
            y.ref = _same_ref(x.ref, y.ref)
        elif x.ref != y.ref:
            raise Mismatch("other step arguments receive gradients than in the step before")


def check_fresh_draws(rec: Recording, state_after: dict) -> None:
    """The fresh options must be exactly the draws eager made, and nothing else may draw from the generator."""
    rng = np.random.Generator(type(host_rng().bit_generator)())
    rng.bit_generator.state = rec.rng_state
    for op in rec.ops:
        for key in FRESH_OPTIONS.get(op.cls, ()):
            if op.options.get(key) != int(rng.integers(0, 2**63)):
                raise Mismatch(f"{op.cls.__name__}'s {key} is not the draw the replay would make")
    if rng.bit_generator.state != state_after:
        raise Mismatch("the step draws random numbers outside dropout and rrelu (e.g. in Python); they cannot be "
                       "replayed")


def _describe(event) -> str:
    if isinstance(event, Op):
        return event.cls.__name__
    if isinstance(event, Effect):
        return getattr(event.fn, "__qualname__", repr(event.fn))
    return "backward()"


# ---- the replay function ----------------------------------------------------------------
@dataclass
class Plan:
    """The generated replay and what to check before each call."""

    replay: Any  # replay(arrays, tensors) -> slot arrays of the outputs, runs the whole step
    source: str
    held: list = field(default_factory=list)  # (tensor, array, requires_grad) that must still hold
    has_fresh: bool = False
    ops: list = field(default_factory=list)  # the recorded ops' names, in order
    buffered: list = field(default_factory=list)  # the ops (names) that write into buffers allocated once (into.py)
    grad_buffered: list = field(default_factory=list)  # the ops whose backward writes into such buffers
    fusion: Any = None  # fusion.FusedReplay where runs of element-wise ops are fused (fusion.py)


def build(rec: Recording, output, runs: _fusion.Runs | None = None,
          shared_buffers: tuple[dict, dict] | None = None) -> Plan:
    """Generate the replay function for a recording that passed `compare`; `output` from `output_spec`.

    runs: the element-wise runs to write as fused loops (fusion.py); None: none, and where the recording
    has some, fusion.attach builds that fused twin of the replay and switches to it once compiled.
    shared_buffers: the unfused replay's (forward, gradient) buffers, for its fused twin: the two never run
    at once, so they share one set rather than hold two.
    """
    names: dict[str, Any] = {"_make": _detached, "_as_array": _as_array, "_unbroadcast": unbroadcast,
                             "_deliver": _deliver_to_leaves, "_run_hooks": _run_hooks,
                             "GradStateChanged": GradStateChanged, "_draw": draw_seed, "_keep": _keep,
                             "_restore": _restore}
    held: dict[int, tuple] = {}
    arg_count = len(rec.args)
    lines = ["def replay(A, T):"]
    lines += [f"    s{i} = A[{i}]" for i in range(arg_count)]
    if arg_count == 1:
        lines[-1] = "    s0, = A"

    def value(ref, label: str) -> str:
        if isinstance(ref, External):
            if ref.tensor is not None:
                held.setdefault(id(ref.tensor), (ref.tensor, ref.array, ref.tensor._requires_grad))
            names[label] = ref.array
            return label
        return f"s{ref}"

    has_fresh = False
    restartable = True  # an abandoned replay can still run the step eagerly: nothing it changed is left changed
    keeps = any(isinstance(e, Effect) and getattr(e.fn, "changes_in_place", None) for e in rec.events)
    if keeps:
        lines.append("    _kept = []")  # (array, its copy) for each array an effect is about to change in place
    op_index = {id(op): i for i, op in enumerate(rec.ops)}
    escaping = _escaping(rec, output)
    buffered, grad_buffered = shared_buffers or (buffers(rec, escaping), gradient_buffers(rec, escaping))
    fused_backward = runs.backward_members if runs is not None else set()
    for n, event in enumerate(rec.events):
        if runs is not None and n in runs.forward_members:  # fusion hook: one loop for the run (fusion.py)
            lines += _fusion.forward_lines(rec, runs, n, value, names, fused_backward)
            continue
        if isinstance(event, Op):
            names[f"f{n}"], names[f"c{op_index[id(event)]}"] = event.cls.forward, event.ctx
            parts = [f"c{op_index[id(event)]}"] + [value(r, f"k{n}_{i}") for i, r in enumerate(event.inputs)]
            if event.out in buffered:  # the op writes into the buffer allocated for its output
                names[f"f{n}"], names[f"B{event.out}"] = writer(event.cls), buffered[event.out]
                parts.insert(1, f"B{event.out}")
            fresh = FRESH_OPTIONS.get(event.cls, ())
            for key, option in event.options.items():
                if key in fresh:
                    parts.append(f"{key}=_draw()")
                    has_fresh = True
                elif isinstance(option, Slot):
                    parts.append(f"{key}=s{option.index}")
                elif isinstance(option, External):
                    parts.append(f"{key}={value(option, f'o{n}_{key}')}")
                else:
                    names[f"o{n}_{key}"] = option
                    parts.append(f"{key}=o{n}_{key}")
            call = f"f{n}({', '.join(parts)})"
            if rec.slot_arrays[event.out].shape == ():
                call = f"_as_array({call})"
            lines.append(f"    s{event.out} = {call}")
        elif isinstance(event, Effect):
            names[f"e{n}"] = event.fn
            arguments = _effect_arguments(n, event, names)
            changes = getattr(event.fn, "changes_in_place", None)
            if changes is not None:
                names[f"changes{n}"] = changes
                lines.append(f"    _kept += _keep(changes{n}({arguments}))")
            bound = _bound_effect(event)
            if bound is not None:  # the effect bound to what stays fixed between steps: called with no arguments
                names[f"e{n}"], arguments = bound, ""
            lines.append(f"    r = e{n}({arguments})")
            kind, slots = event.out or (None, None)
            if kind == "tensor":
                lines.append(f"    s{slots} = r.data")
            elif kind == "array":
                lines.append(f"    s{slots} = r")
            elif kind == "arrays":
                lines.append(f"    {', '.join(f's{k}' for k in slots)}, = r")
            restartable = restartable and (getattr(event.fn, "__name__", "") == "zero_grad" or changes is not None)
        else:
            lines += _backward_lines(n, event, rec, names, value, restartable, keeps, grad_buffered, runs)
            restartable = False
    lines.append(f"    return {_output_source(output, names)}")
    source = "\n".join(lines) + "\n"
    code = compile(source, "<tg.compile replay>", "exec")
    exec(code, names)
    plan = Plan(names["replay"], source, list(held.values()), has_fresh, [op.cls.__name__ for op in rec.ops],
                [op.cls.__name__ for op in rec.ops if op.out in buffered],
                [rec.ops[op].cls.__name__ for op in sorted(grad_buffered)])
    if runs is None:  # fusion hook: the fused twin, switched to once its loops are compiled (fusion.py)
        _fusion.attach(plan, rec, lambda found: build(rec, output, found, (buffered, grad_buffered)), escaping,
                       buffered, grad_buffered)
    return plan


def _escaping(rec: Recording, output) -> set[int]:
    """ids of the memory (root arrays) of what leaves the step: its results, effects' arguments, gradients."""
    leaving = [rec.slot_arrays[slot] for slot in _slots(output)]
    for event in rec.events:
        if isinstance(event, Effect):
            leaving += [rec.slot_arrays[v.index] for v in (*event.args, *event.kwargs.values()) if isinstance(v, Slot)]
    leaving += rec.leaf_gradients
    return {id(root(array)) for array in leaving}


def _slots(spec) -> list[int]:
    if spec is None:
        return []
    if isinstance(spec, int):
        return [spec]
    return [slot for item in spec for slot in _slots(item)]


def _bound_effect(event: Effect):
    """The effect's own replay form, where its function offers one (`fn.bind_for_replay(*args, **kwargs)`, e.g.
    Optimizer.step's: Adam's step with its groups, state and plans bound, optim/adam_bound.py), else None."""
    bind = getattr(event.fn, "bind_for_replay", None)
    if bind is None or any(isinstance(v, Slot) for v in (*event.args, *event.kwargs.values())):
        return None
    return bind(*event.args, **event.kwargs)


def _effect_arguments(n: int, event: Effect, names: dict) -> str:
    """The call's argument list: a step value's slot where the recording saw one, else the recorded value."""
    parts = []
    for i, value in enumerate(event.args):
        if isinstance(value, Slot):
            parts.append(f"s{value.index}")
        else:
            names[f"ea{n}_{i}"] = value
            parts.append(f"ea{n}_{i}")
    for key, value in event.kwargs.items():
        if isinstance(value, Slot):
            parts.append(f"{key}=s{value.index}")
        else:
            names[f"ek{n}_{key}"] = value
            parts.append(f"{key}=ek{n}_{key}")
    return ", ".join(parts)


def _backward_lines(n: int, event: Backward, rec: Recording, names: dict, value, restartable: bool, keeps: bool,
                    grad_buffered: dict, runs: _fusion.Runs | None = None) -> list[str]:
    lines = []
    xp = array_module(rec.slot_arrays[event.root])
    names[f"seedspec{n}"] = (event.shape, event.dtype)
    names[f"xp{n}"] = xp
    if event.seed is None:  # a fresh copy each step, as eager's ones: an op's backward may keep or change its g
        names[f"ones{n}"] = xp.ones(event.shape, dtype=event.dtype)
        lines.append(f"    seed{n} = ones{n}.copy()")
    else:
        lines.append(f"    seed{n} = xp{n}.asarray({value(event.seed, f'seedsrc{n}')}, dtype=seedspec{n}[1])")
    assigned: set[str] = set()
    first = True
    for node in event.nodes:
        op = node.op
        names[f"b{op}"] = rec.ops[op].cls.backward
        if first:
            lines.append(f"    g{op} = seed{n}")
            first = False
        if runs is not None and op in runs.backward_members:  # fusion hook: one loop for the run (fusion.py)
            lines += _fusion.backward_lines(rec, runs, n, op, {x.op: x for x in event.nodes}, value, assigned,
                                              names)
            continue
        if op in grad_buffered:  # the backward writes gradients into buffers allocated for them (into.py)
            names[f"b{op}"], names[f"BG{op}"] = backward_writer(rec.ops[op].cls), grad_buffered[op]
            lines.append(f"    r = b{op}(c{op}, g{op}, BG{op})")
        else:
            lines.append(f"    r = b{op}(c{op}, g{op})")
        lines.append(f"    del g{op}")  # as eager drops a node's gradient once its backward ran
        for c in node.contributions:
            x = f"r[{c.index}]" if node.inputs > 1 else "(r[0] if type(r) is tuple else r)"  # one input: maybe bare
            if c.shape is not None:
                names[f"shape{n}_{op}_{c.index}"] = c.shape
                x = f"_unbroadcast({x}, shape{n}_{op}_{c.index})"
            if c.dtype is not None:
                names[f"dtype{n}_{op}_{c.index}"] = c.dtype
                x = f"{x}.astype(dtype{n}_{op}_{c.index})"
            var = f"g{c.target[1]}" if c.target[0] == "node" else f"L{n}_{c.target[1]}"
            lines.append(f"    {var} = {x}" if var not in assigned else f"    {var} = {var} + {x}")
            assigned.add(var)
    pairs = []
    for k, leaf in enumerate(event.leaves):
        if isinstance(leaf.ref, External):
            value(leaf.ref, f"leafdata{n}_{k}")
            names[f"leaf{n}_{k}"] = leaf.tensor
            obj = f"leaf{n}_{k}"
        else:
            obj = f"T[{leaf.ref}]"
        lines.append(f"    if getattr({obj}, '_hooks', None): L{n}_{k} = _run_hooks({obj}._hooks, L{n}_{k})")
        test = "is not None" if leaf.grad_was_none else "is None"
        names[f"changed{n}_{k}"] = (f"a gradient of shape {tuple(leaf.tensor.shape)} was "
                                    f"{'set' if leaf.grad_was_none else 'None'} when backward ended, unlike in the "
                                    "recorded step; zero the gradients with optimizer.zero_grad() (or "
                                    "module.zero_grad()) inside the step: a plain `p.grad = None` is Python the "
                                    "replay does not repeat", restartable)
        restore = "_restore(_kept); " if keeps and restartable else ""
        lines.append(f"    if {obj}.grad {test}: {restore}raise GradStateChanged(*changed{n}_{k})")
        pairs.append((obj, f"L{n}_{k}"))
    if xp is np and all(leaf.grad_was_none for leaf in event.leaves):
        lines += _delivery_lines(n, pairs, names)
    else:
        lines.append(f"    _deliver(({', '.join(f'({obj}, {var})' for obj, var in pairs)},), seed{n})")
    return lines


def _delivery_lines(n: int, pairs: list[tuple[str, str]], names: dict) -> list[str]:
    """autograd._deliver_to_leaves written out for a pass whose leaves had no .grad: the same arrays stored (a
    copy where the gradient is a view, the seed or another leaf's), each wrapped by Tensor._make, without the
    loop and the set of ids. A .grad set meanwhile (by a hook) or an array that is not a plain ndarray goes
    through _deliver_to_leaves itself."""
    names["_nd"], names["_wrap"] = np.ndarray, Tensor._make
    lines, earlier = [], [f"seed{n}"]
    for obj, var in pairs:  # as _deliver_to_leaves: a copy where the array is a view, the seed or handed out
        owned = f"{var}.copy() if {var}.base is not None or {' or '.join(f'{var} is {x}' for x in earlier)} else {var}"
        lines += [f"    if type({var}) is not _nd or {obj}.grad is not None: _deliver((({obj}, {var}),), seed{n})",
                  f"    else: {obj}.grad = _wrap({owned}, False)"]
        earlier.append(var)
    return lines


def output_spec(result, rec: Recording):
    """How to rebuild the step's return value at replay: tensors by slot, nested in tuples/lists."""
    if result is None:
        return None
    if isinstance(result, Tensor):
        slot = rec.slot_of.get(id(result.data))
        if slot is None:
            raise Mismatch("the step returns a tensor that no op of the step computed; return the loss "
                           "(or other results of the step's ops)")
        return slot
    if isinstance(result, (tuple, list)):
        return type(result)(output_spec(item, rec) for item in result)
    raise Mismatch(f"the step returns a {type(result).__name__}; a compiled step returns tensors "
                   "(or a tuple/list of them, or None)")


def _output_source(spec, names: dict) -> str:
    if spec is None:
        return "None"
    if isinstance(spec, int):
        return f"_make(s{spec})"
    items = ", ".join(_output_source(item, names) for item in spec)
    return f"({items},)" if isinstance(spec, tuple) else f"[{items}]"


def _keep(arrays) -> list:
    return [(array, array.copy()) for array in arrays]


def _restore(kept: list) -> None:
    for array, copy in kept:
        array[...] = copy


def _detached(array) -> Tensor:
    return Tensor._make(array, False)


__all__ = ["Plan", "build", "compare", "check_fresh_draws", "output_spec", "Mismatch", "GradStateChanged"]
