"""Recording one eager training step: the ops it runs, its backward, and its step effects.

A Recording watches a call of the step function while it runs eagerly (its results are
real). It sees
- every Function applied (through the autograd tracer hook): class, inputs, options, output;
- the backward pass: the order of the nodes and where each input gradient goes;
- the effects: methods of Optimizer, LRScheduler and Module (zero_grad, step) and the free
  functions marked `@replayed` (gradient clipping), called again at replay;
- which modules ran and in which mode, and any read of a tensor's values into Python.

Arrays are named by identity: a step argument's or an op's output array becomes a slot
(recomputed at replay); any other array an op uses is "external" (a parameter, a buffer, a
constant the step made) and is judged when two recordings are compared (see plan.py). The
recording keeps every array it saw alive, so an id is never reused within it.

What it cannot replay it notes as the `refusal` (the first reason); the caller then stays eager.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import autograd, step_effects
from ..backend import host_rng
from ..nn.module import Module
from ..optim.lr_scheduler import LRScheduler
from ..optim.optimizer import Optimizer
from ..tensor import Tensor


@dataclass
class External:
    """An array an op used that neither a step argument nor an op of this step made."""

    array: Any
    tensor: Any  # the Tensor it came in (None for an option array)
    where: str  # "input 1 of Linear", for messages


@dataclass(frozen=True)
class Slot:
    """An option that is a step value's array (a target passed as an option): the replay passes the slot."""

    index: int


@dataclass
class Op:
    cls: type
    ctx: Any  # a fresh node object for replay: forward fills it, backward reads it
    inputs: list  # slot index or External per input
    options: dict  # name -> slot index, External or plain value
    out: int


@dataclass
class Contribution:
    index: int  # which input of the node
    shape: tuple | None  # un-broadcast to this shape (None: already right)
    dtype: Any  # cast to this dtype (None: already right)
    target: tuple  # ("node", op index) or ("leaf", leaf index)


@dataclass
class BackwardNode:
    op: int
    inputs: int  # how many inputs the node has (a one-input op may return its gradient bare)
    contributions: list


@dataclass
class Leaf:
    ref: Any  # slot index (a step argument) or External (a parameter)
    tensor: Any
    grad_was_none: bool  # at this recording's delivery: the replay checks it is the same


@dataclass
class Backward:
    root: int
    seed: Any  # None: ones shaped like the root; else a slot index or External
    shape: tuple
    dtype: Any
    nodes: list = field(default_factory=list)
    leaves: list = field(default_factory=list)


@dataclass
class Effect:
    fn: Callable
    args: tuple  # a step value's array passed in is a Slot: the replay passes that slot's array
    kwargs: dict
    out: Any  # what the result holds: None, ("tensor", slot) (clip_grad_norm_'s norm), ("array", slot),
    #           or ("arrays", (slot, ...)) for a tuple of arrays (batch statistics)


class Recording:
    """Watches one call of a step function; see the module docstring."""

    keeps_fused_nodes = True  # nn.Sequential may fuse Linear+ReLU while this tracer watches (tg.trace may not)

    def __init__(self, args: tuple):
        self.args = args
        self.events: list = []
        self.ops: list[Op] = []
        self.slot_of: dict[int, int] = {}
        self.slot_arrays: list = []  # slot -> the array it held in this recording
        self.kept: list = []  # every array seen, alive until the recording is dropped
        self.node_op: dict[int, int] = {}  # id(eager node) -> op index
        self.modules: dict[int, tuple] = {}  # id -> (module, training)
        self.leaves: dict[int, int] = {}  # id(leaf tensor) -> index in the current backward's leaves
        self.backward: Backward | None = None
        self.leaf_gradients: list = []  # the gradient arrays backward passed on to leaf tensors
        self.node_gradients: dict[tuple, Any] = {}  # (op, input) -> the gradient passed on to another op as it is
        self.refusal: str | None = None
        self.depth = 0  # > 0 inside an effect: what it does is repeated by calling it, not recorded
        self.in_backward = False
        self.grad_enabled = autograd.is_grad_enabled()
        self.rng_state = host_rng().bit_generator.state
        for i, t in enumerate(args):
            if not isinstance(t, Tensor):
                self.refuse(f"argument {i} is a {type(t).__name__}; tg.compile steps take Tensors")
            elif type(t.data) is not np.ndarray:
                self.refuse(f"argument {i} is on {t.device}; capture replays CPU steps (on CUDA it is not "
                            "implemented yet)")
            elif id(t.data) in self.slot_of:  # the replay would read one slot for both
                self.refuse(f"arguments {self.slot_of[id(t.data)]} and {i} are the same array; pass it once")
            else:
                self._new_slot(t.data)

    # ---- bookkeeping ------------------------------------------------------------
    def refuse(self, reason: str) -> None:
        if self.refusal is None:
            self.refusal = reason

    def _new_slot(self, array) -> int:
        slot = len(self.slot_arrays)
        self.slot_of[id(array)] = slot
        self.slot_arrays.append(array)
        return slot

    def ref(self, array, tensor, where: str):
        """The slot that holds `array`, or an External for it."""
        slot = self.slot_of.get(id(array))
        if slot is not None:
            return slot
        base = getattr(array, "base", None)
        if base is not None and id(base) in self.slot_of:
            self.refuse(f"{where} is a view of a step value made outside the engine's ops; "
                        "use the tensor methods (view, reshape, ...) so the view is an op")
        self.kept.append(array)
        return External(array, tensor, where)

    def _option_ref(self, array, where: str):
        ref = self.ref(array, None, where)
        return ref if isinstance(ref, External) else Slot(ref)

    # ---- the tracer interface (autograd calls these) ---------------------------------
    def on_forward(self, ctx, inputs, result, options) -> None:
        if self.depth or self.in_backward:  # inside backward: a parameter's hook, which the replay calls again
            return
        name = type(ctx).__name__
        refs = [self.ref(t.data, t, f"input {i} of {name}") for i, t in enumerate(inputs)]
        options = {key: (self._option_ref(value, f"option {key!r} of {name}") if _is_array(value) else value)
                   for key, value in options.items()}
        fresh = object.__new__(type(ctx))
        if result._ctx is ctx:
            fresh.needs_input_grad = ctx.needs_input_grad
            fresh.inputs = ctx.inputs
            self.node_op[id(ctx)] = len(self.ops)
            self.kept.append(ctx)
        op = Op(type(ctx), fresh, refs, options, self._new_slot(result.data))
        self.ops.append(op)
        self.events.append(op)

    def on_backward(self, node, g, input_grads) -> None:
        if self.depth:
            return
        backward = self.backward
        op = self.node_op.get(id(node))
        if backward is None or op is None:
            self.refuse("a gradient is computed outside loss.backward() of this step (autograd.grad, or "
                        "backward through a graph built before the step)")
            return
        if node._hooks is not None:
            self.refuse(f"a hook or retain_grad() sits on the output of {type(node).__name__}")
        contributions = []
        for i, (t, gi) in enumerate(zip(node.inputs, input_grads)):
            if gi is None or not t._requires_grad:
                continue
            data = t.data
            shape = tuple(data.shape) if gi.shape != data.shape else None
            dtype = data.dtype if gi.dtype != data.dtype else None
            parent = t._ctx
            if parent is None:
                target = ("leaf", self._leaf(t))
                self.leaf_gradients.append(gi)  # it becomes (part of) a .grad: its memory leaves the step
            else:
                if id(parent) not in self.node_op:
                    self.refuse(f"backward reaches {type(parent).__name__}, an op from outside the step")
                    return
                target = ("node", self.node_op[id(parent)])
                if shape is None and dtype is None:
                    self.node_gradients[(op, i)] = gi
            contributions.append(Contribution(i, shape, dtype, target))
        backward.nodes.append(BackwardNode(op, len(node.inputs), contributions))

    def _leaf(self, t) -> int:
        index = self.leaves.get(id(t))
        if index is None:
            index = self.leaves[id(t)] = len(self.backward.leaves)
            ref = self.ref(t.data, t, f"leaf tensor of shape {tuple(t.shape)}")
            self.backward.leaves.append(Leaf(ref, t, t.grad is None))
        return index

    # ---- the watched calls -------------------------------------------------------
    def run_backward(self, original, tensor, gradient=None, retain_graph=False) -> None:
        if self.depth:
            return original(tensor, gradient, retain_graph)
        if self.backward is not None:
            self.refuse("backward() is called again inside the step")
        if tensor._ctx is None or id(tensor._ctx) not in self.node_op:
            self.refuse("backward() starts from a tensor no op of this step computed")
            return original(tensor, gradient, retain_graph)
        seed = None
        if gradient is not None:
            seed = self.ref(gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient), None,
                            "the gradient passed to backward()")
        self.backward = Backward(self.slot_of[id(tensor.data)], seed, tuple(tensor.shape), tensor.dtype)
        self.leaves = {}
        self.in_backward = True
        try:
            return original(tensor, gradient, retain_graph)
        finally:
            self.in_backward = False
            self.events.append(self.backward)

    def effect(self, fn, args: tuple, kwargs: dict):
        """Run fn(*args, **kwargs), a step effect; at depth 0, note it to call again at replay."""
        if self.depth:
            return fn(*args, **kwargs)
        args = tuple(_materialized(a) for a in args)  # a generator (model.parameters()) runs out after one call
        kwargs = {k: _materialized(v) for k, v in kwargs.items()}
        for value in (*args, *kwargs.values()):
            self._check_effect_argument(fn, value)
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        recorded_args = tuple(self._effect_argument(a) for a in args)
        recorded_kwargs = {k: self._effect_argument(v) for k, v in kwargs.items()}
        self.events.append(Effect(fn, recorded_args, recorded_kwargs, self._effect_result(fn, result)))
        return result

    def _effect_argument(self, value):
        if _is_array(value) and id(value) in self.slot_of:
            return Slot(self.slot_of[id(value)])
        return value

    def _effect_result(self, fn, result):
        if isinstance(result, Tensor):
            return ("tensor", self._new_slot(result.data))
        if _is_array(result):
            return ("array", self._new_slot(result))
        if isinstance(result, tuple) and result and all(_is_array(item) for item in result):
            return ("arrays", tuple(self._new_slot(item) for item in result))
        if result is not None:  # a number could steer the step's Python, which the replay does not run
            self.refuse(f"{getattr(fn, '__qualname__', fn)} returns a {type(result).__name__}; a step effect "
                        "returns None, a tensor, an array or a tuple of arrays")
        return None

    def _check_effect_argument(self, fn, value) -> None:
        name = getattr(fn, "__qualname__", repr(fn))
        if callable(value) and not isinstance(value, (Tensor, Module, Optimizer)):
            self.refuse(f"{name} gets a function (a closure); the replay cannot repeat the Python in it")
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if isinstance(item, Tensor) and id(item.data) in self.slot_of:
                self.refuse(f"{name} gets a tensor computed in the step; the replay passes the same "
                            "arguments every time")

    def data_read(self, what: str) -> None:
        if not (self.depth or self.in_backward):
            self.refuse(f"the step reads a tensor's values into Python ({what}); what it does with them "
                        "cannot be replayed: return the tensor and read it after the step")

    def module_called(self, module) -> None:
        if not self.depth:
            self.modules.setdefault(id(module), (module, module.training))


def _is_array(value) -> bool:
    return hasattr(value, "__array_interface__") or hasattr(value, "__cuda_array_interface__")


def _materialized(value):
    return list(value) if isinstance(value, Iterator) else value


# ---- watching a call ----------------------------------------------------------------
_READS = ("item", "numpy", "tolist", "__bool__", "__float__", "__int__", "__index__", "__array__")


def _subclasses(base: type) -> list[type]:
    found, stack = [], [base]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


@contextlib.contextmanager
def recording(rec: Recording):
    """Watch the calls of `rec`'s step: the tracer hook, and the watched methods swapped in.

    Tensor and Module define the watched methods once; Optimizer and LRScheduler subclasses
    may override step/zero_grad, so every class in their trees that defines one gets a
    wrapper. Everything is put back when the block ends.
    """
    swapped: list[tuple[type, str, Any]] = []

    def swap(cls: type, name: str, make: Callable[[Any], Any]) -> None:
        original = cls.__dict__[name]
        swapped.append((cls, name, original))
        setattr(cls, name, make(original))

    def as_effect(original):
        def method(*args, **kwargs):
            return rec.effect(original, args, kwargs)
        return method

    def as_read(original, what):
        def method(self, *args, **kwargs):
            rec.data_read(f"Tensor.{what}")
            return original(self, *args, **kwargs)
        return method

    def as_call(original):
        def method(self, *args, **kwargs):
            rec.module_called(self)
            return original(self, *args, **kwargs)
        return method

    try:
        swap(Tensor, "backward", lambda original: lambda self, gradient=None, retain_graph=False:
             rec.run_backward(original, self, gradient, retain_graph))
        for what in _READS:
            swap(Tensor, what, lambda original, what=what: as_read(original, what))
        swap(Module, "__call__", as_call)
        for base, names in ((Optimizer, ("step", "zero_grad")), (LRScheduler, ("step",)), (Module, ("zero_grad",))):
            for cls in _subclasses(base):
                for name in names:
                    if name in cls.__dict__:
                        swap(cls, name, as_effect)
        autograd.register_tracer(rec)
        step_effects._recorders.append(rec)
        yield rec
    finally:
        if rec in step_effects._recorders:
            step_effects._recorders.remove(rec)
        if rec in autograd._tracers:
            autograd.unregister_tracer(rec)
        for cls, name, original in reversed(swapped):
            setattr(cls, name, original)
