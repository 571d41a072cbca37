"""Blocks of elements that two threads take from one counter array, and the count of elements finished.

The optimizer loops (kernels/cpu.py) work through their arrays in blocks: each block number comes from an
atomic increment of counters[j] (claim), so no two threads get the same block; after writing a block, a loop
adds its element count to the last slot of `counters` (finish). The caller of parallel.share waits for that
count to reach the size of the shared arrays (cpu._wait_finished) instead of waiting until the helper thread
has left its work: on a virtual machine, waking a thread blocked on a lock took about 30 us, a tenth of the
seed model's whole update, while the last block the helper works on takes a few.

Orderings: a claim only hands out numbers (monotonic); finish is a release, so that the block's stores come
before the count that announces them, and the waiter reads the count with acquire, so that what it reads
afterwards sees those stores. On x86 these add no instructions: they keep LLVM from moving the stores.
"""
from __future__ import annotations

import platform

from . import lazy_jit

_X86 = platform.machine().lower() in {"x86_64", "amd64", "i386", "i686", "x86"}

# Numba's names, bound when Numba starts (lazy_jit: this module imports without it, as kernels/cpu.py does)
ir = types = intrinsic = None


def _bind_numba() -> None:
    global ir, types, intrinsic
    from llvmlite import ir  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)
    from numba import types  # noqa: PLC0415
    from numba.extending import intrinsic  # noqa: PLC0415


lazy_jit.on_start(_bind_numba)
_intrinsic = lazy_jit.deferred(lambda fn: intrinsic(fn))


def _slot(context, builder, array_type, array, index, index_type):
    """Pointer to array[index] of an int64 array (no bounds check)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [context.cast(builder, index, index_type, types.intp)])


def _counter_array(counters) -> bool:
    return isinstance(counters, types.Array) and counters.dtype == types.int64 and counters.ndim == 1


@_intrinsic
def claim(typingctx, counters, index):
    """counters[index] += 1 as one atomic step; returns the value before (a block number no other thread gets)."""
    if not (_counter_array(counters) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        where = _slot(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        return builder.atomic_rmw("add", where, ir.Constant(ir.IntType(64), 1), "monotonic")

    return types.int64(counters, index), codegen


@_intrinsic
def fetch_add(typingctx, counters, index, amount):
    """counters[index] += amount as one atomic step; returns the value before."""
    if not (_counter_array(counters) and isinstance(index, types.Integer) and isinstance(amount, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        where = _slot(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", where, value, "monotonic")

    return types.int64(counters, index, amount), codegen


@_intrinsic
def finish(typingctx, counters, amount):
    """counters[-1] += amount as one atomic step, after every store before it (release): `amount` elements done."""
    if not (_counter_array(counters) and isinstance(amount, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        last = builder.sub(builder.extract_value(array.shape, 0), ir.Constant(ir.IntType(64), 1))
        where = builder.gep(array.data, [last])
        value = context.cast(builder, args[1], signature.args[1], types.int64)
        builder.atomic_rmw("add", where, value, "release")
        return context.get_dummy_value()

    return types.none(counters, amount), codegen


@_intrinsic
def finished(typingctx, counters):
    """counters[-1], read with acquire ordering (what the threads that finished blocks wrote is visible after it)."""
    if not _counter_array(counters):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        last = builder.sub(builder.extract_value(array.shape, 0), ir.Constant(ir.IntType(64), 1))
        return builder.load_atomic(builder.gep(array.data, [last]), "acquire", 8)

    return types.int64(counters), codegen


@_intrinsic
def pause(typingctx):
    """x86's spin-wait hint (the core gives the other hyperthread its resources, and leaving the loop does not
    flush the pipeline); nothing elsewhere."""
    def codegen(context, builder, signature, args):
        if _X86:
            hint = builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(hint, [])
        return context.get_dummy_value()

    return types.none(), codegen
