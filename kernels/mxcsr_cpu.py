"""Read and write the calling thread's MXCSR, the x86 register that controls SSE/AVX float arithmetic.

Two of its bits decide what happens to subnormal floats (magnitudes below 2**-126 in float32,
2**-1022 in float64), which x86 cores handle in slow microcode:
  FTZ (flush to zero, bit 15)     a result that would be subnormal is written as 0 (with its sign);
  DAZ (denormals are zero, bit 6) a subnormal operand is read as 0.
The register belongs to one thread; a new thread starts with its creator's value.
x86 only: LLVM has these intrinsics for no other target (denormal.py checks before importing this).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .cpu import _jit

FLUSH_TO_ZERO = 1 << 15
DENORMALS_ARE_ZERO = 1 << 6

_I32 = ir.IntType(32)
_BYTE_POINTER = ir.IntType(8).as_pointer()
_MXCSR_ACCESS = ir.FunctionType(ir.VoidType(), [_BYTE_POINTER])  # stmxcsr/ldmxcsr go through memory


@intrinsic
def _stmxcsr(typingctx):
    def codegen(context, builder, signature, args):
        slot = builder.alloca(_I32)
        store = builder.module.declare_intrinsic("llvm.x86.sse.stmxcsr", fnty=_MXCSR_ACCESS)
        builder.call(store, [builder.bitcast(slot, _BYTE_POINTER)])
        return builder.zext(builder.load(slot), ir.IntType(64))

    return types.int64(), codegen


@intrinsic
def _ldmxcsr(typingctx, value):
    if not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        slot = builder.alloca(_I32)
        builder.store(builder.trunc(args[0], _I32) if value.bitwidth > 32 else builder.zext(args[0], _I32), slot)
        load = builder.module.declare_intrinsic("llvm.x86.sse.ldmxcsr", fnty=_MXCSR_ACCESS)
        builder.call(load, [builder.bitcast(slot, _BYTE_POINTER)])
        return context.get_dummy_value()

    return types.void(value), codegen


@_jit(nogil=True)
def read_mxcsr():
    """The calling thread's MXCSR."""
    return _stmxcsr()


@_jit(nogil=True)
def set_flush_bits(on):
    """Set (on=True) or clear FTZ and DAZ in the calling thread's MXCSR, keeping its other bits."""
    old = _stmxcsr()
    bits = FLUSH_TO_ZERO | DENORMALS_ARE_ZERO
    _ldmxcsr(old | bits if on else old & ~bits)
    return old
