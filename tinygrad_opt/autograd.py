"""The autograd core: Function nodes, the backward traversal and no_grad.

An op is a Function subclass with two static methods that see backend arrays
(numpy or cupy), never Tensors:

    forward(ctx, *arrays, **options) -> array
    backward(ctx, grad) -> one gradient per input (or None where not needed)

`Function.apply` runs forward and, when some input requires grad, records the
node: the node *is* the ctx, holding the inputs and whatever forward saved.
`backward` walks the nodes in reverse topological order, iteratively (no
recursion limit), reduces each gradient to its input's shape (un-broadcasting
happens here, once, not in every op) and accumulates into the leaves' `.grad`.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np

from .backend import array_module, broadcast_to, device_of
from .errors import DeviceError, GraphFreedError, ShapeError
from .quiet_numpy import silent
from .summation import sum_axes

Tensor: Any = None  # tensor.py sets this; autograd must not import it (it imports us)

# module-level names for what every op uses: `np.ndarray` is a dict lookup per use (NumPy's module
# __getattr__ keeps Python 3.11 from caching its attributes), `object.__new__` an attribute lookup
_ndarray = np.ndarray
_new = object.__new__
_tracers: list = []  # active tg.trace() recorders; empty in normal runs


class _GradState(threading.local):
    """Grad mode, one per thread (as torch's): a no_grad block in one thread leaves the others recording."""

    enabled = True  # the class attribute is every new thread's starting value


_grad_state = _GradState()


def is_grad_enabled() -> bool:
    return _grad_state.enabled


class _GradMode(contextlib.ContextDecorator):
    """Base of no_grad / enable_grad / inference_mode: a context manager that is also a decorator."""

    mode = True

    def __enter__(self):
        self._previous = _grad_state.enabled
        _grad_state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _grad_state.enabled = self._previous
        return False

    def _recreate_cm(self):  # a fresh object per decorated call, so nesting/recursion is safe
        return type(self)()


class no_grad(_GradMode):
    """Nothing computed inside records a graph (`with tg.no_grad():` or `@tg.no_grad()`)."""

    mode = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a no_grad region."""

    mode = True


class inference_mode(_GradMode):
    """torch.inference_mode: here the same as no_grad (no graph is recorded; `mode=False` records)."""

    def __init__(self, mode: bool = True):
        self.mode = not mode

    def _recreate_cm(self):
        return type(self)(not self.mode)


class set_grad_enabled(_GradMode):
    """torch.set_grad_enabled(mode): sets grad mode at once; as a context manager, restores it on exit."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._previous = _grad_state.enabled
        _grad_state.enabled = self.mode

    def __enter__(self):
        return self

    def _recreate_cm(self):
        return self


class Function:
    """Base of every differentiable op; subclasses define forward and backward."""

    _freed = False
    _saved_versions = None  # ((counter, version, which), ...) of the inputs/output forward saved
    _hooks = None  # register_hook functions of the tensor this node computes

    @staticmethod
    def forward(ctx, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        """Run forward on the inputs' arrays; record the node when a gradient is needed.

        This is the engine's hottest function (every op of every step passes here once),
        so one- and two-input ops, nearly all of them, take straight-line paths without
        loops or comprehensions; the general path handles the rest.
        """
        ctx = _new(cls)
        count = len(inputs)
        if count == 1:
            a = inputs[0]
            arrays = (a.data,)
            requires_grad = a._requires_grad
        elif count == 2:
            a, b = inputs
            arrays = (a.data, b.data)
            if type(arrays[0]) is not type(arrays[1]):
                _check_same_device(cls, inputs)
            requires_grad = a._requires_grad or b._requires_grad
        elif count == 3:  # a layer with its weight and bias (Linear, LinearReLU, ...)
            a, b, c = inputs
            arrays = (a.data, b.data, c.data)
            if not (type(arrays[0]) is type(arrays[1]) is type(arrays[2])):
                _check_same_device(cls, inputs)
            requires_grad = a._requires_grad or b._requires_grad or c._requires_grad
        else:
            arrays = tuple([t.data for t in inputs])
            first = type(arrays[0])
            for array in arrays:
                if type(array) is not first:
                    _check_same_device(cls, inputs)
                    break
            requires_grad = any([t._requires_grad for t in inputs])
        try:  # a positional call where there are no options: Python calls it faster than an unpacked one
            if options:
                out = cls.forward(ctx, *arrays, **options)
            elif count == 1:
                out = cls.forward(ctx, a.data)
            elif count == 2:
                out = cls.forward(ctx, arrays[0], arrays[1])
            elif count == 3:
                out = cls.forward(ctx, arrays[0], arrays[1], arrays[2])
            else:
                out = cls.forward(ctx, *arrays)
        except Exception as err:
            explained = _explained(err, cls, inputs)
            if explained is err:
                raise
            raise explained from err
        if type(out) is not _ndarray:
            out = _as_array(out)
        result = _new(Tensor)  # Tensor._make, inlined
        result.data = out
        result.grad = None
        result.name = None
        result._edge = None
        result._version_counter = None
        if requires_grad and _grad_state.enabled:
            result._requires_grad = True
            result._ctx = ctx
            saved = ctx.__dict__
            if saved:  # forward saved arrays for backward: remember their versions
                (value,) = saved.values() if len(saved) == 1 else (None,)
                if value is out:  # it kept only its own output (ReLU, Tanh, Exp, ...), new: version 0
                    counter = result._version_counter = [0]
                    ctx._saved_versions = ((counter, 0, -1),)
                else:
                    _note_saved_versions(ctx, saved, inputs, arrays, out, result)
            # keep an intermediate input's place in the graph (its edge), not its array
            if count == 1:
                ctx.needs_input_grad = (True,)
                ctx.inputs = inputs if a._ctx is None else (a._edge or _edge(a),)
            elif count == 2:
                ctx.needs_input_grad = (a._requires_grad, b._requires_grad)
                if a._ctx is None and b._ctx is None:
                    ctx.inputs = inputs
                else:
                    ctx.inputs = (a if a._ctx is None else a._edge or _edge(a),
                                  b if b._ctx is None else b._edge or _edge(b))
            elif count == 3:
                ctx.needs_input_grad = (a._requires_grad, b._requires_grad, c._requires_grad)
                ctx.inputs = (a if a._ctx is None else a._edge or _edge(a),
                              b if b._ctx is None else b._edge or _edge(b),
                              c if c._ctx is None else c._edge or _edge(c))
            else:
                ctx.needs_input_grad = tuple([t._requires_grad for t in inputs])
                ctx.inputs = tuple([t if t._ctx is None else _edge(t) for t in inputs])
        else:
            result._requires_grad = False
            result._ctx = None
        if _tracers:
            for tracer in _tracers:
                tracer.on_forward(ctx, inputs, result, options)
        return result

    @property
    def name(self) -> str:
        return type(self).__name__


class _Edge:
    """What a node keeps of an input computed by another node: that node, the shape and dtype.

    Keeping the input Tensor itself would keep its array alive until backward even when
    no backward formula needs it (an MLP's pre-activations: ReLU saves its output, not
    its input), which costs one activation-sized array per layer; PyTorch's graph keeps
    only such edges too. Every op saves on ctx what its backward reads, so the traversal
    needs nothing else. Leaves stay Tensors (their .grad is filled).

    The traversal reads `t.data.shape` and `t.data.dtype` of every input; for an edge,
    `.data` is the edge itself (a property, so no reference cycle), which has both.
    An edge always stands for a tensor with a node, so it always requires grad. Made by `_edge`.
    """

    __slots__ = ("_ctx", "shape", "dtype", "_on_host", "name")
    grad = None
    is_leaf = False
    _requires_grad = True

    @property
    def data(self) -> "_Edge":
        return self  # the layout stands in for the array that is no longer kept

    @property
    def requires_grad(self) -> bool:
        return True

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def device(self) -> str:
        return "cpu" if self._on_host else "cuda"

    def __repr__(self) -> str:
        return f"<graph edge: output of {type(self._ctx).__name__}, shape {self.shape} {self.dtype}>"


def _edge(t) -> _Edge:
    """The edge for non-leaf t, made once and cached on t, so every consumer shares it.

    The cache lives on the tensor, not on its node: edge -> node is the graph's
    direction, and a node -> edge link would make a reference cycle that only the
    cyclic GC could free (a graph dropped without backward would keep its saved arrays).
    """
    edge = t._edge
    if edge is None:
        data = t.data
        edge = t._edge = _new(_Edge)  # filled here: an __init__ call would cost as much again
        edge._ctx = t._ctx
        edge.shape = data.shape
        edge.dtype = data.dtype
        edge._on_host = type(data) is _ndarray  # data is always numpy.ndarray or cupy.ndarray
        edge.name = t.name
    return edge


def version_counter(t) -> list:
    """t's version counter: a one-item list shared by every alias of t's memory (made on first use)."""
    counter = getattr(t, "_version_counter", None)  # getattr: a tensor unpickled from an older version lacks it
    if counter is None:
        counter = t._version_counter = [0]
    return counter


def _note_saved_versions(ctx, saved: dict, inputs, arrays: tuple, out, result) -> None:
    """Record the version of each input (or the output) whose array forward kept on ctx (`saved`, its __dict__).

    Only the arrays backward will read matter (an in-place change of an input that Add never saved is harmless,
    as in torch); a saved view of an input counts as the input. Runs for every recorded op that saves something,
    so the common cases are tested first: the output itself, options (numbers, tuples) passed over, then an
    input's array by identity (`arrays`, the inputs' arrays, so no attribute is read per input).
    """
    notes = []
    for value in saved.values():
        if value is out:
            notes.append(_output_note(result))
            continue
        if type(value) in _NOT_ARRAYS:
            continue
        which = 0
        for array in arrays:
            if value is array:
                break
            which += 1
        else:  # not an input's array: a view of one, or of the output (a transpose, ...), or nothing of theirs
            base = getattr(value, "base", None)
            which = None if base is None else _which(base, inputs, out)
            if which is None:
                continue
            if which < 0:
                notes.append(_output_note(result))
                continue
        owner = inputs[which]
        counter = owner._version_counter
        if counter is None:
            counter = owner._version_counter = [0]
        notes.append((counter, counter[0], which))
    if notes:
        ctx._saved_versions = notes


def _output_note(result) -> tuple:
    """The (counter, version, -1) note of an op's output, whose counter is made here when it has none yet."""
    counter = result._version_counter
    if counter is None:
        counter = result._version_counter = [0]
    return counter, counter[0], -1


# what ops save besides arrays (their options): never an input's memory, so never versioned
_NOT_ARRAYS = frozenset({int, float, bool, str, tuple, type(None)})


def _which(array, inputs, out):
    """-1 when array is the output, i when it is input i's array, else None."""
    if array is out:
        return -1
    i = 0
    for t in inputs:
        if array is t.data:
            return i
        i += 1
    return None


def _modified_error(node, counter, version: int, which: int) -> RuntimeError:
    """torch's error when a value saved for this node's backward was changed in place since."""
    what = "output 0" if which < 0 else f"input {which}"
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {what} of {type(node).__name__} is at version {counter[0]}; expected version "
        f"{version} instead. Hint: the tensor was changed in place (an in-place op, x[idx] = v or an "
        "optimizer step) after the forward pass used it; use an out-of-place op or .clone() it first"
    )


def _run_hooks(hooks, g):
    """Pass gradient array g through register_hook functions; a hook may return a replacement."""
    for hook in hooks:
        replaced = hook(Tensor._make(g, False))
        if replaced is not None:
            g = replaced.data if isinstance(replaced, Tensor) else replaced
    return g


def _as_array(out):
    """NumPy returns scalars for 0-d results; keep every tensor's data an ndarray."""
    if isinstance(out, np.generic) or not hasattr(out, "ndim"):
        return np.asarray(out)
    return out  # a cupy array


def _explained(err: Exception, cls, inputs) -> Exception:
    """The error to raise for a failed forward: NumPy's errors reworded to name the op, shapes and dtypes.

    A broadcast or shape mismatch becomes a ShapeError; NumPy's dtype errors (UFuncTypeError
    and friends) become a plain TypeError, so no NumPy-internal exception type leaks out.
    Errors the op raised itself pass unchanged.
    """
    from_numpy = type(err).__module__.split(".")[0] == "numpy"
    if isinstance(err, ShapeError) or not (from_numpy or type(err) is ValueError):
        return err
    if isinstance(err, TypeError):
        return TypeError(f"{cls.__name__}: {err} (input {_describe(inputs)})")
    text = str(err)
    if isinstance(err, ValueError) and any(word in text for word in ("broadcast", "shape", "dimension", "size")):
        return ShapeError(f"{cls.__name__}: {err} (input {_describe(inputs)})")
    return err


def _describe(inputs) -> str:
    return ", ".join(f"shape {tuple(t.shape)} {t.dtype}" for t in inputs)


def _check_same_device(cls, inputs) -> None:
    devices = [device_of(t.data) for t in inputs]
    if len(set(devices)) > 1:
        raise DeviceError(
            f"{cls.__name__}: inputs are on different devices ({', '.join(devices)}); "
            "move them to one device first with .to(device), .cpu() or .cuda()"
        )


def unbroadcast(grad, shape: tuple):
    """Sum `grad` down to `shape`, undoing NumPy broadcasting (the chain rule for a copy)."""
    if grad.shape == shape:
        return grad
    if grad.ndim < len(shape):  # an op handed back a smaller gradient: it broadcasts up
        return broadcast_to(grad, shape)
    extra = grad.ndim - len(shape)
    grad_shape = grad.shape
    axes = list(range(extra))  # the leading axes broadcasting added, then the size-1 axes it stretched
    for i, n in enumerate(shape):
        if n == 1 and grad_shape[extra + i] != 1:
            axes.append(extra + i)
    if axes:
        grad = sum_axes(grad, tuple(axes), keepdims=True)
    return grad if grad.shape == shape else grad.reshape(shape)


_FINISHED = object()  # on the DFS stack: the node below it has had all its inputs ordered


def _topological_order(root_node) -> list:
    """Nodes reachable from root_node, each after every node that consumes it.

    A chain (each node fed by at most one other node, as in a sequential model) is its own
    order, found by walking it; any other graph is ordered by a depth-first search."""
    order = _chain_order(root_node)
    return order if order is not None else _depth_first_order(root_node)


def _depth_first_order(root_node) -> list:
    """_topological_order by an iterative DFS (no recursion limit).

    A node is pushed with the _FINISHED marker above it and its parents above that: when
    the marker comes back off the stack, everything the node feeds from is in `order`.
    """
    order = []
    visited = set()
    stack = [root_node]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if node is _FINISHED:
            order.append(pop())
            continue
        if node in visited:
            continue
        if node._freed:
            raise _freed_error(node)
        visited.add(node)
        push(node)
        push(_FINISHED)
        for t in node.inputs:
            parent = t._ctx
            if parent is not None and parent not in visited:
                push(parent)
    order.reverse()
    return order


def _chain_order(root_node) -> list | None:
    """The nodes from root_node down, where each is fed by at most one other node (then that is the
    topological order); None as soon as a node has inputs from two nodes (the graph branches)."""
    order = []
    node = root_node
    while node is not None:
        if node._freed:
            raise _freed_error(node)
        order.append(node)
        parent = None
        for t in node.inputs:
            ctx = t._ctx
            if ctx is not None and ctx is not parent:
                if parent is not None:
                    return None
                parent = ctx
        node = parent
    return order


def _freed_error(node) -> GraphFreedError:
    return GraphFreedError(
        f"backward through the graph a second time (at op {type(node).__name__}): its saved "
        "values were freed by the first backward. Pass retain_graph=True to the first "
        "backward() if you need to backpropagate through it again."
    )


@silent  # the error state set and reset around the call, without a context manager's object and method calls
def run_backward(root, grad, retain_graph: bool = False, capture: dict | None = None,
                 capture_nodes: dict | None = None) -> None:
    """Propagate `grad` (an array shaped like root) from `root` to the leaves.

    Leaves accumulate into `.grad`, unless `capture` (id(leaf) -> slot) is given: then
    their gradients are stored in capture[id(leaf)] and `.grad` is left alone; the
    gradient reaching a node listed in `capture_nodes` (node -> key) goes to capture[key].
    NumPy stays silent about inf and NaN on the way, as torch's backward does (quiet_numpy.py).
    """
    leaf_grads: dict = {}  # id(leaf) -> [leaf, summed gradient of this pass, whether the sum is ours]
    if root._ctx is None:  # backward on a leaf itself
        leaf_grads[id(root)] = [root, grad, False]
    else:
        grads = {root._ctx: grad}
        for node in _topological_order(root._ctx):
            g = grads.pop(node, None)
            if g is None:  # nothing flowed into this node (only through inputs without grad)
                if not retain_graph:
                    _free(node)
                continue
            if node._hooks is not None:
                g = _run_hooks(node._hooks, g)
            if capture_nodes and node in capture_nodes:
                capture[capture_nodes[node]] = g
            saved = node._saved_versions
            if saved is not None:
                for counter, version, which in saved:
                    if counter[0] != version:
                        raise _modified_error(node, counter, version, which)
            input_grads = node.backward(node, g)
            if type(input_grads) is not tuple:  # a one-input op returns its gradient bare
                input_grads = (input_grads,)
            if _tracers:
                for tracer in _tracers:
                    tracer.on_backward(node, g, input_grads)
            for t, gi in zip(node.inputs, input_grads):
                if gi is None or not t._requires_grad:
                    continue
                parent = t._ctx
                layout = t.data if parent is None else t  # an edge has the shape and dtype itself
                if gi.shape != layout.shape:
                    gi = unbroadcast(gi, layout.shape)
                if gi.dtype is not layout.dtype and gi.dtype != layout.dtype:
                    gi = gi.astype(layout.dtype)
                if parent is None:
                    key = id(t)
                    slot = leaf_grads.get(key)
                    if slot is None:
                        leaf_grads[key] = [t, gi, False]
                    elif slot[2]:  # the sum is an array this pass made: add in place (same numbers)
                        slot[1] += gi
                    else:
                        slot[1] = slot[1] + gi
                        # NumPy's in-place add is the slower one on a few elements, the faster from about 64 on
                        slot[2] = gi.size >= 64
                else:
                    previous = grads.get(parent)
                    grads[parent] = gi if previous is None else previous + gi
            if not retain_graph:  # _free(node), inlined: once per node of every backward
                node.__dict__.clear()
                node._freed = True
    for slot in leaf_grads.values():
        hooks = getattr(slot[0], "_hooks", None)
        if hooks:
            slot[1] = _run_hooks(hooks, slot[1])
    if capture is not None:
        for key, (leaf, g, _) in leaf_grads.items():
            if key in capture:
                capture[key] = g
        return
    _deliver_to_leaves(leaf_grads.values(), grad)


def _deliver_to_leaves(leaf_grads, seed) -> None:
    """Add each leaf's gradient of this pass into its .grad: leaf_grads holds (leaf, gradient, ...) entries.

    The stored array must be owned by that leaf: optimizers and clipping update .grad
    in place, so it may not alias the seed, a view of another array or another leaf's grad.
    """
    handed_out = {id(seed)}
    for entry in leaf_grads:  # indexed, not unpacked: run_backward's entries carry a third item
        leaf, g = entry[0], entry[1]
        previous = leaf.grad
        if previous is None:
            key = id(g)
            if g.base is not None or key in handed_out:
                g = g.copy()
                key = id(g)
            handed_out.add(key)
        else:
            g = previous.data + g
        if type(g) is not _ndarray:  # a NumPy scalar or a CuPy array: Tensor._make's checks
            leaf.grad = Tensor._make(g, False)
            continue
        grad = leaf.grad = _new(Tensor)  # Tensor._make, inlined: once per parameter of every backward
        grad.data = g
        grad.grad = grad._ctx = grad._edge = grad.name = grad._version_counter = None
        grad._requires_grad = False


def _free(node) -> None:
    """Drop the node's inputs and saved arrays so intermediates can be garbage-collected."""
    node.__dict__.clear()
    node._freed = True


def refuse_create_graph(op: str) -> None:
    """Higher-order gradients need the backward pass recorded as a graph; the engine's runs on arrays."""
    raise NotImplementedError(
        f"{op}: create_graph=True (higher-order gradients) is not supported by this engine: its backward "
        "formulas run on arrays, so a gradient has no graph to differentiate again. Leave create_graph=False; "
        "for a second derivative, difference two first derivatives (finite differences) or use torch"
    )


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool | None = None, materialize_grads: bool = False) -> tuple:
    """torch.autograd.grad: the gradients of `outputs` w.r.t. `inputs` as a tuple of Tensors; no `.grad` changes.

    `outputs` and `inputs` are Tensors or sequences of them (inputs may be non-leaves);
    `grad_outputs` seeds each output (None: ones for a one-element output). An input the
    outputs do not depend on is an error unless allow_unused=True, which gives None for it
    (zeros with materialize_grads=True). Higher-order gradients (create_graph=True) are not
    supported: backward formulas run on arrays, not on recorded Tensors.
    """
    if create_graph:
        refuse_create_graph("autograd.grad")
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} does not require grad, so it has no gradient")
    captured = _captured_gradients(outputs, inputs, grad_outputs, bool(retain_graph))
    result = []
    for i, (t, g) in enumerate(zip(inputs, captured)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"autograd.grad: input {i} (shape {tuple(t.shape)}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            result.append(Tensor._make(array_module(t.data).zeros(t.shape, t.dtype), False)
                          if materialize_grads else None)
        else:
            result.append(Tensor._make(g if g.dtype == t.dtype else g.astype(t.dtype), False))
    return tuple(result)


def _captured_gradients(outputs, inputs, grad_outputs, retain_graph: bool) -> list:
    """Each input's summed gradient array over every output (None where nothing reached it)."""
    totals: list = [None] * len(inputs)
    for n, (out, seed) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"autograd.grad: output {n} does not require grad (no input of it required grad)")
        capture = {id(t): None for t in inputs if t._ctx is None}
        nodes = {t._ctx: id(t) for t in inputs if t._ctx is not None}
        capture.update({key: None for key in nodes.values()})
        last = n == len(outputs) - 1
        run_backward(out, out._seed_gradient(seed), retain_graph=retain_graph or not last, capture=capture,
                     capture_nodes=nodes)
        for i, t in enumerate(inputs):
            g = capture[id(t)]
            if g is not None:
                totals[i] = g if totals[i] is None else totals[i] + g
    return totals


def grad_arrays(outputs, inputs, grad_outputs=None, retain_graph: bool = False) -> list:
    """The gradients of one output w.r.t. leaf inputs as arrays (zeros where unused): gradcheck's helper."""
    captured = _captured_gradients((outputs,), tuple(inputs), (grad_outputs,), retain_graph)
    xp = array_module(outputs.data)
    return [g if g is not None else xp.zeros(t.shape, t.dtype) for t, g in zip(inputs, captured)]


def register_tracer(tracer) -> None:
    _tracers.append(tracer)


def unregister_tracer(tracer) -> None:
    _tracers.remove(tracer)


__all__ = [
    "Function", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled", "run_backward",
    "grad", "grad_arrays", "unbroadcast", "version_counter",
]
