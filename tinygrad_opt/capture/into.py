"""Forwards that write into a given output array, so a replay reuses buffers allocated once at capture.

Eager allocates every op's output afresh each step; the replay knows each output's shape,
dtype and memory layout from the recording, so where an op's kernel can write into a given
array (NumPy's ufuncs and matmul take out=, the batch-norm kernel takes an out array) it
gets one buffer, allocated once when the plan is built, and writes into it at every replay.

`writer(cls)` is the function the replay calls instead of cls.forward:
writer(ctx, out, *inputs, **options) fills `out`, leaves on ctx what cls.forward leaves,
and returns the output (out itself). It is the op's own forward where that takes `out=`
(ops.BatchNormChannels), else an entry of INTO below, which repeats the op's forward with
the ufunc's out=. Backward likewise: `backward_writer(cls)(ctx, g, outs)` returns what
cls.backward returns, writing the gradient of input i into outs[i] where that is an array
(None: computed as the op computes it). tests/test_capture_buffers.py checks each entry
against its op: the same bits and the same ctx. Shapes were checked when the step was recorded.

Only arrays of at least MIN_BYTES get a buffer (not those malloc recycles while still in cache,
RECYCLED_MIN_BYTES), and only for a value that stays inside the
step: not a value the step returns, passes to an effect, or delivers as a parameter's gradient
(nor any view of such a value), since those may still be held when the next replay overwrites
the buffer (see `buffers`).
"""
from __future__ import annotations

import inspect
from functools import partial
from typing import Any, Callable

import numpy as np

from .. import ops
from ..kernels.blas_threads import before_gemm
from ..kernels import environment
from ..kernels.heap import recycles_freed_memory

INTO: dict[type, Callable[..., Any]] = {}
BACKWARD_INTO: dict[type, Callable[..., Any]] = {}
ENV_VAR = "TINYGRAD_OPT_CAPTURE_BUFFERS"  # "0": every replay allocates its outputs afresh (to compare, in any script)


def _enabled_by_environment() -> bool:
    return environment.read(ENV_VAR)


enabled: bool | None = None  # False: plans built from now on allocate every output afresh; None: not read yet


def is_enabled() -> bool:
    """`enabled`, from the environment variable when first asked (0 or 1; 1 when unset)."""
    global enabled
    if enabled is None:
        enabled = _enabled_by_environment()
    return enabled


# Smaller arrays are allocated afresh: malloc hands them out from memory it keeps (no page faults) about
# as fast as a ufunc parses its out= keyword; larger ones come from pages the OS maps again each step.
MIN_BYTES = 128 * 1024
# From RECYCLED_MIN_BYTES up, once malloc keeps freed memory (kernels/heap.py, at the first convolution), an array
# allocated afresh comes from memory the step has just freed, still in cache when the op writes it, where a buffer
# allocated once was last written a whole step ago and has left the cache: writing it is slower (batch norm's
# forward into a 6.4 MB output of a batch-64 CNN step: 0.53 ms into a buffer, 0.46 ms into a fresh array).
RECYCLED_MIN_BYTES = 1 << 20


def _gets_buffer(array) -> bool:
    """Whether an output of this size is worth a buffer allocated once (see MIN_BYTES and RECYCLED_MIN_BYTES)."""
    return array.nbytes >= MIN_BYTES and not (array.nbytes >= RECYCLED_MIN_BYTES
                                              and recycles_freed_memory(array.nbytes))


def _writes(cls: type, table: dict = INTO):
    def register(fn):
        table[cls] = fn
        return fn
    return register


def writer(cls: type) -> Callable[..., Any] | None:
    """The forward of op `cls` that writes into a given output, or None where it has none."""
    fn = INTO.get(cls)
    if fn is not None:
        return fn
    if "out" in inspect.signature(cls.forward).parameters:
        return partial(_forward_with_out, cls.forward)
    return None


def backward_writer(cls: type) -> Callable[..., Any] | None:
    """The backward of op `cls` that writes input gradients into given arrays, or None where it has none."""
    fn = BACKWARD_INTO.get(cls)
    if fn is not None:
        return fn
    if "out" in inspect.signature(cls.backward).parameters:
        return partial(_backward_with_out, cls.backward)
    return None


def _forward_with_out(forward, ctx, out, *inputs, **options):
    return forward(ctx, *inputs, out=out, **options)


def _backward_with_out(backward, ctx, g, outs):
    return backward(ctx, g, out=outs)


def root(array) -> Any:
    """The array that owns `array`'s memory (itself, or the base its views come from)."""
    while getattr(array, "base", None) is not None and hasattr(array.base, "__array_interface__"):
        array = array.base
    return array


def buffers(rec, escaping: set[int]) -> dict[int, Any]:
    """slot -> its buffer, for each op of the recording that has a writer and whose output stays in the step.

    escaping: ids of the arrays (roots) that leave the step; an output whose memory is one of them
    gets no buffer. The buffer copies the recorded output's shape, dtype and memory layout.
    """
    found: dict[int, Any] = {}
    if not is_enabled():
        return found
    for op in rec.ops:
        array = rec.slot_arrays[op.out]
        if (type(array) is not np.ndarray or array.ndim == 0 or not _gets_buffer(array)
                or id(root(array)) in escaping or writer(op.cls) is None):
            continue
        found[op.out] = np.empty_like(array, order="K")
    return found


def gradient_buffers(rec, escaping: set[int]) -> dict[int, tuple]:
    """op index -> per input, a buffer for the gradient its backward passes to another node of the step (or None).

    Only a gradient handed on as it is (no un-broadcast or cast on the way), from an op with a backward
    writer, whose memory does not leave the step (escaping, as for `buffers`).
    """
    found: dict[int, tuple] = {}
    if not is_enabled():
        return found
    for (op, index), array in rec.node_gradients.items():
        cls = rec.ops[op].cls
        if (type(array) is not np.ndarray or array.ndim == 0 or not _gets_buffer(array)
                or id(root(array)) in escaping or backward_writer(cls) is None):
            continue
        outs = list(found.get(op, (None,) * len(rec.ops[op].inputs)))
        outs[index] = np.empty_like(array, order="K")
        found[op] = tuple(outs)
    return found


# ---- element-wise ops and matmul with out= (Linear, LinearReLU and BatchNormChannels take out= themselves) ----
@_writes(ops.MatMul)
def _matmul(ctx, out, a, b):
    ctx.a, ctx.b = a, b
    before_gemm()
    return np.matmul(a, b, out=out)


@_writes(ops.Add)
def _add(ctx, out, a, b):
    return np.add(a, b, out=out)


@_writes(ops.Sub)
def _sub(ctx, out, a, b):
    return np.subtract(a, b, out=out)


@_writes(ops.Mul)
def _mul(ctx, out, a, b):
    ctx.a, ctx.b = a, b
    return np.multiply(a, b, out=out)


@_writes(ops.Neg)
def _neg(ctx, out, a):
    return np.negative(a, out=out)


@_writes(ops.Exp)
def _exp(ctx, out, a):
    ctx.y = np.exp(a, out=out)
    return out


@_writes(ops.Tanh)
def _tanh(ctx, out, a):
    ctx.y = np.tanh(a, out=out)
    return out


# ---- backward writers ------------------------------------------------------------------------------
@_writes(ops.Mul, BACKWARD_INTO)
def _mul_backward(ctx, g, outs):
    need_a, need_b = ctx.needs_input_grad
    out_a, out_b = outs
    ga = (g * ctx.b if out_a is None else np.multiply(g, ctx.b, out=out_a)) if need_a else None
    gb = (g * ctx.a if out_b is None else np.multiply(g, ctx.a, out=out_b)) if need_b else None
    return ga, gb


@_writes(ops.Neg, BACKWARD_INTO)
def _neg_backward(ctx, g, outs):
    return -g if outs[0] is None else np.negative(g, out=outs[0])


@_writes(ops.Exp, BACKWARD_INTO)
def _exp_backward(ctx, g, outs):
    return g * ctx.y if outs[0] is None else np.multiply(g, ctx.y, out=outs[0])


@_writes(ops.Tanh, BACKWARD_INTO)
def _tanh_backward(ctx, g, outs):
    out, y = outs[0], ctx.y
    if out is None or not (out.dtype == y.dtype == g.dtype):  # in place only where every step keeps one dtype
        return g * (1 - y * y)
    np.multiply(y, y, out=out)
    np.subtract(1, out, out=out)
    return np.multiply(g, out, out=out)
