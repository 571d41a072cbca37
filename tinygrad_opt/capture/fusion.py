"""Runs of element-wise ops on small arrays, replayed as one generated Numba loop per run: fewer calls per op.

On a tiny array an op costs what calling it costs: a NumPy call in the forward, one in the
backward, the replay's Python around them. A run of element-wise ops over one shape is one
loop: for each element, the ops' scalar formulas one after the other. This module finds such
runs in a recording and generates, for each, a Numba loop; plan.build then writes one call
of it in place of the run's lines. Two kinds of run:

- forward: consecutive ops among Add, Sub, Mul, Div, Neg, ReLU and Where (its boolean condition
  of the same shape) whose inputs and output all have one shape and dtype (no broadcasting but
  for 0-d operands of that dtype, such as the 2 of x * 2), float32 or float64, at most MAX_ELEMENTS
  elements, and whose output stays inside the step (into.py's `escaping`). The loop writes
  the run's outputs into one buffer allocated once (as into.py does), each output's slot a
  C-ordered view of it, so later ops read them as they read any slot (a fused backward reads
  the whole buffer: one argument).
- backward: consecutive nodes of the backward pass among those ops and Tanh, Exp (whose
  backward formulas are arithmetic on the saved output), under the same conditions, whose
  gradients need no un-broadcast or cast. The loop repeats, per element, the generated
  replay's statements for those nodes: each node's input gradients, and `var = x` or
  `var = var + x` into the gradient it feeds, in the same order. A gradient read after the
  run (a leaf's, or a later node's) is written to a new array each replay.

Where a step has runs, an op left between them whose forward is one ufunc (Exp, Tanh, Neg: DIRECT)
is replayed as that ufunc's call, without the op's forward around it: the same call, the same bits.

Why the bits are the same as eager's: every fused formula is a sequence of IEEE-754 operations
(+, -, *, /, negation, comparisons and selects) on values of one dtype, each correctly rounded,
so computing it per element in a loop gives what NumPy's ufuncs give for the whole array. The
loops are compiled without fastmath (so LLVM neither reassociates nor contracts a * b + c into
a fused multiply-add) and with NumPy's error model (x / 0 is inf or NaN, not an exception); the
constants 0 and 1 have the arrays' dtype, so no float32 value is widened to float64. ReLU is
PyTorch's (0 where a < 0, else a: NaN and -0.0 pass unchanged) and its backward is PyTorch's
threshold_backward (+0 where y <= 0, g elsewhere, a NaN y included). A NaN stays a NaN, but which
NaN an operation returns when both its operands are NaN (the sign, the payload) IEEE-754 leaves open,
and LLVM may swap a product's operands or move a negation (-(a) * b as -(a * b)): there a NaN's sign
may differ from eager's, as it may between NumPy's own SIMD and scalar loops. Transcendental functions
(exp, tanh, log) are not computed here: Numba's would not match NumPy's SIMD ones bit for bit,
so those ops run as before and only their arithmetic backward joins a run. (A fused loop does not
emit NumPy's RuntimeWarnings, "invalid value encountered" and the like; its values are the same.)
tests/test_capture_fusion.py compares the bits (inf and -0.0 included; NaN where NaN) with eager's.

The loops compile off the caller's path: on kernels/background.py's worker (or at once where it
is off). Until they are compiled, the replay runs without fusion; then it switches over.
TINYGRAD_OPT_CAPTURE_FUSION=0 turns fusion off for plans built from then on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import ops
from ..kernels import background, environment
from .into import root
from .recording import Backward, External, Op, Slot

ENV_VAR = "TINYGRAD_OPT_CAPTURE_FUSION"
MAX_ELEMENTS = 256  # above this NumPy's vectorised loops beat one scalar loop (it reads arrays of any layout)
MIN_RUN = 2  # one op alone gains nothing from a loop of its own
MAX_RUN = 64  # longer runs are split: a loop's compile time grows with its statements
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _enabled_by_environment() -> bool:
    return environment.read(ENV_VAR)


enabled: bool | None = None  # False: plans built from now on do not fuse; None: not read yet


def is_enabled() -> bool:
    """`enabled`, from the environment variable when first asked (0 or 1; 1 when unset)."""
    global enabled
    if enabled is None:
        enabled = _enabled_by_environment()
    return enabled


# Forward formulas of inputs x0, x1 (output y), and what each op's forward leaves on its ctx (for a backward
# that runs unfused): the same operations, in the same order, as the op's NumPy forward.
FORWARD: dict[type, tuple[str, dict[str, str]]] = {
    ops.Add: ("{x0} + {x1}", {}),
    ops.Sub: ("{x0} - {x1}", {}),
    ops.Mul: ("{x0} * {x1}", {"a": "x0", "b": "x1"}),
    ops.Div: ("{x0} / {x1}", {"b": "x1", "y": "y"}),
    ops.Neg: ("-{x0}", {}),
    ops.Relu: ("ZERO if {x0} < ZERO else {x0}", {"y": "y"}),  # PyTorch's relu: -0.0 and NaN pass
    ops.Where: ("{x0} if {cond} else {x1}", {"cond": "cond"}),  # cond: the boolean array option
}
# Backward formulas per input, of the upstream gradient g, the inputs x0, x1 and the output y, as each op's
# backward (ops/elementwise.py, ops/activation.py and their kernels) computes them.
BACKWARD: dict[type, tuple[str, ...]] = {
    ops.Add: ("{g}", "{g}"),
    ops.Sub: ("{g}", "-{g}"),
    ops.Mul: ("{g} * {x1}", "{g} * {x0}"),
    ops.Div: ("{g} / {x1}", "(-{g}) * ({y} / {x1})"),
    ops.Neg: ("-{g}",),
    ops.Relu: ("ZERO if {y} <= ZERO else {g}",),
    ops.Tanh: ("{g} * (ONE - {y} * {y})",),
    ops.Exp: ("{g} * {y}",),
    ops.Where: ("{g} if {cond} else ZERO", "ZERO if {cond} else {g}"),
}

# An op left out of the runs whose forward is one NumPy ufunc call: where the step has runs, the fused replay
# calls the ufunc itself (the same call on the same array) instead of the op's forward through Python.
DIRECT: dict[type, tuple[Any, dict[str, str]]] = {
    ops.Exp: (np.exp, {"y": "y"}),
    ops.Tanh: (np.tanh, {"y": "y"}),
    ops.Neg: (np.negative, {}),
}


@dataclass
class ForwardRun:
    events: list[int]  # indices into rec.events, consecutive
    shape: tuple
    dtype: Any


@dataclass
class BackwardRun:
    ops: list[int]  # op indices of consecutive backward nodes
    shape: tuple
    dtype: Any


@dataclass
class Runs:
    """What plan.build fuses: forward runs by their first event, backward runs by their first node's op."""

    forward: dict[int, ForwardRun] = field(default_factory=dict)
    forward_members: set[int] = field(default_factory=set)  # every fused event index, and those in `direct`
    direct: dict[int, Any] = field(default_factory=dict)  # event index -> the ufunc its op's forward is (DIRECT)
    backward: dict[int, BackwardRun] = field(default_factory=dict)
    backward_members: set[int] = field(default_factory=set)  # every fused node's op index
    kernels: list = field(default_factory=list)  # (dispatcher, signature, source) to compile, filled by build
    packed: dict[int, tuple[str, int]] = field(default_factory=dict)  # slot -> (pack's name, index in it)

    @property
    def packs(self) -> set[str]:
        return {name for name, _ in self.packed.values()}


def _array_of(rec, ref):
    return ref.array if isinstance(ref, External) else rec.slot_arrays[ref]


def _small_float(array, shape, dtype, scalar_too: bool = False) -> bool:
    """An array of the run's shape and dtype; scalar_too: or a 0-d one of its dtype (a constant like the 2 in x * 2)."""
    return (type(array) is np.ndarray and array.dtype == dtype and array.dtype in DTYPES
            and (array.ndim > 0 and array.shape == shape and array.size <= MAX_ELEMENTS
                 or scalar_too and array.ndim == 0))


def _inputs_fit(rec, op, key) -> bool:
    return (_small_float(rec.slot_arrays[op.out], *key)
            and all(_small_float(_array_of(rec, r), *key, scalar_too=True) for r in op.inputs))


def _option_array(rec, option):
    return rec.slot_arrays[option.index] if isinstance(option, Slot) else getattr(option, "array", None)


def _options_fit(rec, op, shape) -> bool:
    """No options, or Where's boolean `cond` of the output's shape (no broadcasting)."""
    if not op.options:
        return True
    cond = _option_array(rec, op.options.get("cond"))
    return (op.cls is ops.Where and list(op.options) == ["cond"] and type(cond) is np.ndarray
            and cond.dtype == np.bool_ and cond.shape == shape)


def _option_source(option, k: int, key: str, value) -> str:
    """The replay's name of an array option of event k (plan.build's label for an external one)."""
    return f"s{option.index}" if isinstance(option, Slot) else value(option, f"o{k}_{key}")


def _forward_fits(rec, op, escaping: set[int], buffered: dict, table: dict = FORWARD) -> tuple | None:
    """(shape, dtype) of a forward op that can join a run (or, table=DIRECT, be called directly), else None."""
    if op.cls not in table or not _options_fit(rec, op, getattr(rec.slot_arrays[op.out], "shape", None)):
        return None
    out = rec.slot_arrays[op.out]
    if op.out in buffered or (table is FORWARD and (id(root(out)) in escaping or not out.flags.c_contiguous)):
        return None
    key = (getattr(out, "shape", None), getattr(out, "dtype", None))
    return key if _inputs_fit(rec, op, key) else None


def _backward_fits(rec, node, grad_buffered: dict) -> tuple | None:
    op = rec.ops[node.op]
    if op.cls not in BACKWARD or node.op in grad_buffered or len(op.inputs) != len(BACKWARD[op.cls]):
        return None
    if any(c.shape is not None or c.dtype is not None for c in node.contributions):
        return None
    out = rec.slot_arrays[op.out]
    if not _options_fit(rec, op, getattr(out, "shape", None)):
        return None
    key = (getattr(out, "shape", None), getattr(out, "dtype", None))
    return key if _inputs_fit(rec, op, key) else None


def _split(items: list, fits: Callable[[Any], tuple | None]) -> list[tuple[list, tuple]]:
    """Maximal consecutive groups of items with one and the same fits(item) key (None breaks a group)."""
    groups, current, key = [], [], None
    for item in items + [None]:
        k = fits(item) if item is not None else None
        if current and (k is None or k != key or len(current) == MAX_RUN):
            groups.append((current, key))
            current = []
        if k is not None:
            current.append(item)
            key = k
    return [(g, k) for g, k in groups if len(g) >= MIN_RUN]


def find_runs(rec, escaping: set[int], buffered: dict, grad_buffered: dict) -> Runs | None:
    """The runs of `rec` worth fusing (see the module docstring), or None where there are none."""
    if not is_enabled():
        return None
    runs = Runs()
    events = list(enumerate(rec.events))
    for group, (shape, dtype) in _split(events, lambda e: _forward_fits(rec, e[1], escaping, buffered)
                                        if isinstance(e[1], Op) else None):
        indices = [n for n, _ in group]
        runs.forward[indices[0]] = ForwardRun(indices, shape, dtype)
        runs.forward_members.update(indices)
    for _, event in events:
        if isinstance(event, Backward):
            for group, (shape, dtype) in _split(event.nodes, lambda node: _backward_fits(rec, node, grad_buffered)):
                runs.backward[group[0].op] = BackwardRun([node.op for node in group], shape, dtype)
                runs.backward_members.update(node.op for node in group)
    if not runs.forward and not runs.backward:
        return None
    for n, event in events:
        if isinstance(event, Op) and n not in runs.forward_members \
                and _forward_fits(rec, event, escaping, buffered, DIRECT) is not None:
            runs.direct[n] = DIRECT[event.cls][0]
            runs.forward_members.add(n)
    return runs


# ---- generating the loops ---------------------------------------------------------------------------------
def _loop(extents: list[str], body: list[str]) -> list[str]:
    """Nested loops over `extents` (expressions) around `body`, whose INDEX becomes the element's index."""
    index = ", ".join(f"i{d}" for d in range(len(extents)))
    lines = [f"{'    ' * (d + 1)}for i{d} in range({extent}):" for d, extent in enumerate(extents)]
    pad = "    " * (len(extents) + 1)
    return lines + [pad + line.replace("INDEX", index) for line in body]


_KERNELS: dict[tuple[str, str], Any] = {}  # (source, dtype) -> its dispatcher: a step recorded again reuses it


def _numba_kernel(name: str, source: str, dtype) -> Any:
    import numba  # here, not at the top: only a plan with runs needs it (importing it takes a while)

    kernel = _KERNELS.get((source, dtype.str))
    if kernel is None:
        namespace = {"np": np, "ZERO": dtype.type(0), "ONE": dtype.type(1), "DT": dtype}
        exec(compile(source, f"<tg.compile fusion {name}>", "exec"), namespace)
        kernel = _KERNELS[(source, dtype.str)] = numba.njit(error_model="numpy")(namespace[name])
    return kernel


def _input_type(dtype, ndim: int):
    from numba import from_dtype, types

    return types.Array(from_dtype(dtype), ndim, "A", readonly=True)  # any layout, any writability


def forward_lines(rec, runs: Runs, n: int, value, names: dict, backward_fused: set[int]) -> list[str]:
    """The replay's lines for event n of a forward run: the loop's call at the run's first event, else none."""
    import numba

    if n in runs.direct:
        return _direct_lines(rec, runs, n, value, names, backward_fused)
    run = runs.forward.get(n)
    if run is None:
        return []
    arrays: dict[str, str] = {}  # replay name of an input array -> the loop's parameter
    types: list = []  # per parameter: (dtype, ndim)
    computed: dict[int, str] = {}  # slot -> its scalar in the loop
    body, outputs, after = [], [], []
    ndim = len(run.shape)

    def read(source: str, dtype, zero_d: bool = False) -> str:
        if source not in arrays:
            arrays[source] = f"a{len(arrays)}"
            types.append((dtype, 0 if zero_d else ndim))
            body.insert(len(arrays) - 1, f"{arrays[source]}_v = {arrays[source]}[{'()' if zero_d else 'INDEX'}]")
        return f"{arrays[source]}_v"

    for k in run.events:
        op = rec.events[k]
        scalars = {}
        for i, ref in enumerate(op.inputs):
            if not isinstance(ref, External) and ref in computed:
                scalars[f"x{i}"] = computed[ref]
                continue
            scalars[f"x{i}"] = read(_same_array(value(ref, f"k{k}_{i}"), names, arrays), run.dtype,
                                    _array_of(rec, ref).ndim == 0)
        for key, option in op.options.items():  # Where's cond
            scalars[key] = read(_same_array(_option_source(option, k, key, value), names, arrays), np.dtype(np.bool_))
        formula, saves = FORWARD[op.cls]
        computed[op.out] = f"v{op.out}"
        body.append(f"v{op.out} = {formula.format(**scalars)}")
        body.append(f"o[{len(outputs)}, INDEX] = v{op.out}")
        outputs.append(op.out)
        after.append(f"    s{op.out} = XB{op.out}")
        op_index = _index_of(rec.ops, op)
        names[f"c{op_index}"] = op.ctx  # what an unfused backward of the op reads (plan.build's name)
        if op_index not in backward_fused and getattr(op.ctx, "needs_input_grad", None) is not None:
            sources = {f"x{i}": value(ref, f"k{k}_{i}") for i, ref in enumerate(op.inputs)} | {"y": f"s{op.out}"}
            sources |= {key: _option_source(option, k, key, value) for key, option in op.options.items()}
            after += [f"    c{op_index}.{attr} = {sources[what]}" for attr, what in saves.items()]
    # the outputs, one after the other in one buffer allocated once (one argument for the loop, one for a
    # fused backward that reads them); each output's slot is a C-ordered view of it, as its eager array
    pack = np.empty((len(outputs),) + run.shape, run.dtype)
    names[f"XP{n}"] = pack
    for j, slot in enumerate(outputs):
        names[f"XB{slot}"] = pack[j]
        runs.packed[slot] = (f"XP{n}", j)
    params = list(arrays.values()) + ["o"]
    loops = _loop([f"o.shape[{d + 1}]" for d in range(len(run.shape))], body)
    source = "\n".join([f"def X{n}({', '.join(params)}):"] + loops) + "\n"
    kernel = _numba_kernel(f"X{n}", source, run.dtype)
    signature = tuple([_input_type(dtype, dims) for dtype, dims in types] + [numba.typeof(pack)])
    runs.kernels.append((kernel, signature, source))
    names[f"X{n}"] = kernel
    return [f"    X{n}({', '.join(list(arrays) + [f'XP{n}'])})"] + after


def _direct_lines(rec, runs: Runs, n: int, value, names: dict, backward_fused: set[int]) -> list[str]:
    op = rec.events[n]
    source = value(op.inputs[0], f"k{n}_0")
    names[f"XU{n}"] = runs.direct[n]
    lines = [f"    s{op.out} = XU{n}({source})"]
    op_index = _index_of(rec.ops, op)
    names[f"c{op_index}"] = op.ctx
    if op_index not in backward_fused and getattr(op.ctx, "needs_input_grad", None) is not None:
        lines += [f"    c{op_index}.{attr} = s{op.out}" for attr in DIRECT[op.cls][1]]
    return lines


def backward_lines(rec, runs: Runs, n: int, op: int, nodes: dict, value, assigned: set[str],
                   names: dict) -> list[str]:
    """The replay's lines for the node of `op` in a backward run: the loop's call at the run's first node.

    nodes: op index -> BackwardNode of this backward pass. `assigned` is plan.build's set of the gradient
    variables assigned so far; it is updated as the run's statements would update it.
    """
    run = runs.backward.get(op)
    if run is None:
        return []
    inside = set(run.ops)
    live_in: list[str] = []  # gradient variables read before the run assigns them
    forward_arrays: dict[str, str] = {}  # replay name of a forward array (or pack of them) -> the loop's parameter
    forward_reads: dict[str, str] = {}  # the loop's scalar of a forward value -> how it is read
    forward_types: dict[str, tuple] = {}  # a forward array not of the run's dtype and ndim -> (dtype, ndim)
    body: list[str] = []
    written: list[str] = []

    def read(var: str) -> None:
        if var not in live_in and var not in written:
            live_in.append(var)

    for k in run.ops:
        node, fop = nodes[k], rec.ops[k]
        read(f"g{k}")
        formulas = BACKWARD[fop.cls]
        used = [formulas[c.index] for c in node.contributions]
        scalars = {"g": f"g{k}"}
        event_index = _index_of(rec.events, fop)
        for i, ref in enumerate(fop.inputs):
            if any(f"{{x{i}}}" in formula for formula in used):  # only the forward values a formula reads
                source = _same_array(value(ref, f"k{event_index}_{i}"), names, forward_arrays)
                if _array_of(rec, ref).ndim == 0:
                    forward_types[source] = (run.dtype, 0)
                scalars[f"x{i}"] = _forward_scalar(source, runs, forward_arrays, forward_reads, forward_types)
        if any("{y}" in formula for formula in used):
            scalars["y"] = _forward_scalar(f"s{fop.out}", runs, forward_arrays, forward_reads, forward_types)
        for key, option in fop.options.items():  # Where's cond
            source = _same_array(_option_source(option, event_index, key, value), names, forward_arrays)
            forward_types[source] = (np.dtype(np.bool_), len(run.shape))
            scalars[key] = _forward_scalar(source, runs, forward_arrays, forward_reads, forward_types)
        for c in node.contributions:
            var = f"g{c.target[1]}" if c.target[0] == "node" else f"L{n}_{c.target[1]}"
            x = formulas[c.index].format(**scalars)
            if var in assigned:
                read(var)
                body.append(f"{var} = {var} + ({x})")
            else:
                body.append(f"{var} = {x}")
                assigned.add(var)
            if var not in written:
                written.append(var)
    outputs = [var for var in written if not (var.startswith("g") and int(var[1:]) in inside)]
    reads = [f"{var} = A{var}[INDEX]" for var in live_in] + [f"{s} = {r}" for s, r in forward_reads.items()]
    stores = [f"O{var}[INDEX] = {var}" for var in outputs]
    params = [f"A{var}" for var in live_in] + list(forward_arrays.values())
    first = params[0]
    loops = _loop([f"{first}.shape[{d}]" for d in range(len(run.shape))], reads + body + stores)
    header = [f"def XG{op}({', '.join(params)}):"] + [f"    O{var} = np.empty({first}.shape, DT)" for var in outputs]
    results = "".join(f"O{var}, " for var in outputs)
    source = "\n".join(header + loops + [f"    return ({results})"]) + "\n"
    kernel = _numba_kernel(f"XG{op}", source, run.dtype)
    ndim = len(run.shape)
    signature = [_input_type(run.dtype, ndim)] * len(live_in) + [
        _input_type(*forward_types.get(name, (run.dtype, ndim + (name in runs.packs)))) for name in forward_arrays]
    runs.kernels.append((kernel, tuple(signature), source))
    names[f"XG{op}"] = kernel
    call = ", ".join(live_in + list(forward_arrays))
    targets = "".join(f"{v}, " for v in outputs)
    lines = [f"    {targets}= XG{op}({call})" if outputs else f"    XG{op}({call})"]
    consumed = [var for var in live_in if var.startswith("g") and int(var[1:]) in inside]
    if consumed:
        lines.append(f"    del {', '.join(consumed)}")  # as eager drops a node's gradient once its backward ran
    return lines


def _index_of(items: list, item) -> int:
    return next(i for i, x in enumerate(items) if x is item)


def _same_array(name: str, names: dict, known) -> str:
    """`name`, or the name already in `known` of the same external array (a parameter read by many ops)."""
    if name.startswith("s"):
        return name
    return next((other for other in known if not other.startswith(("s", "XP")) and names[other] is names[name]),
                name)


def _forward_scalar(name: str, runs: Runs, arrays: dict[str, str], reads: dict[str, str], types: dict) -> str:
    """The loop's scalar for forward value `name` (a slot or external), read from its pack where it has one."""
    slot = int(name[1:]) if name.startswith("s") else None
    array, j = runs.packed.get(slot, (name, None))
    if array not in arrays:
        arrays[array] = f"A{array}"
    if j is not None:
        read = f"{arrays[array]}[{j}, INDEX]"
    else:
        read = f"{arrays[array]}[{'()' if types.get(name, (None, 1))[1] == 0 else 'INDEX'}]"
    for scalar, known in reads.items():
        if known == read:
            return scalar
    scalar = f"f{len(reads)}"
    reads[scalar] = read
    return scalar


# ---- switching the replay over once the loops are compiled ------------------------------------------------
class FusedReplay:
    """A plan's replay until its fused twin is compiled, then the twin (see `attach`)."""

    def __init__(self, plan, fused_plan, runs: Runs):
        self.plan = plan
        self.unfused = plan.replay
        self.fused = fused_plan.replay
        self.source = fused_plan.source
        self.runs = runs
        self.compiled: bool | None = None  # None: compiling; False: a loop failed to compile (stays unfused)
        self.error: BaseException | None = None

    @property
    def active(self) -> bool:
        return self.plan.replay is self.fused

    def replay(self, arrays, tensors):
        if self.compiled is not None:
            self.plan.replay = self.fused if self.compiled else self.unfused
            return self.plan.replay(arrays, tensors)
        return self.unfused(arrays, tensors)

    def compile_all(self) -> None:
        try:
            for kernel, signature, _ in self.runs.kernels:
                if signature in kernel.overloads:  # a loop of the same source compiled for another plan
                    continue
                kernel.compile(signature)
                kernel.disable_compile()  # every call converts to the one signature: no compile at replay
            self.compiled = True
        except Exception as err:  # noqa: BLE001 - a loop this module generated does not compile: stay unfused
            self.error = err
            self.compiled = False


def attach(plan, rec, build_fused: Callable[[Runs], Any], escaping: set[int], buffered: dict,
           grad_buffered: dict) -> None:
    """Where `rec` has runs to fuse: build the fused replay, compile its loops in the background, and make
    plan.replay switch to it once they are compiled (plan.fusion: the FusedReplay)."""
    runs = find_runs(rec, escaping, buffered, grad_buffered)
    if runs is None:
        return
    fused = FusedReplay(plan, build_fused(runs), runs)
    plan.fusion = fused
    plan.replay = fused.replay
    if background.compile_later(_compile_job, (fused,), {}) is None:
        fused.compile_all()


def _compile_job(fused: FusedReplay) -> None:
    fused.compile_all()


def wait_compiled(plan, timeout: float | None = None) -> bool:
    """Wait until the plan's fused loops are compiled (tests, benchmarks); True where its replay is fused now."""
    fused = getattr(plan, "fusion", None)
    if fused is None:
        return False
    background.wait_idle(timeout)
    return bool(fused.compiled)


__all__ = ["find_runs", "attach", "FusedReplay", "Runs", "wait_compiled", "MAX_ELEMENTS", "ENV_VAR"]
