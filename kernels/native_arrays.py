"""Memory at an int64 address seen as a NumPy array inside nopython code.

A job run by the spinning team (kernels/spin_team.py) is a C function of one int64: the address of an int64
args block that holds, among plain numbers, the addresses of the arrays it works on. Inside the job,
`array_at(address, size, dtype)` turns such an address back into a 1-D C-contiguous array of `size` elements
(numba.carray over the typed pointer `pointer_at` makes): the same Numba type as a contiguous NumPy array
passed from Python, so a loop the engine compiled for those takes these views as they are. Nothing is
allocated or counted: the caller keeps the memory alive until the job returns.
"""
from __future__ import annotations

from . import lazy_jit

# Numba's names, bound when Numba starts (lazy_jit: this module imports without it, as kernels/cpu.py does)
numba = types = intrinsic = None


def _bind_numba() -> None:
    global numba, types, intrinsic
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)
    from numba import types  # noqa: PLC0415
    from numba.extending import intrinsic  # noqa: PLC0415


lazy_jit.on_start(_bind_numba)
_intrinsic = lazy_jit.deferred(lambda fn: intrinsic(fn))


def _element_type(dtype):
    """The Numba scalar type a dtype argument names (np.float32 or np.dtype(...) in nopython code), else None."""
    if isinstance(dtype, (types.NumberClass, types.DType)):
        return dtype.dtype
    return None


@_intrinsic
def pointer_at(typingctx, address, dtype):
    """The int64 `address` as a pointer to elements of `dtype` (LLVM's inttoptr: no check, no copy)."""
    element = _element_type(dtype)
    if element is None or not isinstance(address, types.Integer):
        return None
    pointer = types.CPointer(element)

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int64)
        return builder.inttoptr(value, context.get_value_type(pointer))

    return pointer(address, dtype), codegen


@lazy_jit.deferred(lambda fn: numba.njit(inline="always", nogil=True)(fn))
def array_at(address, size, dtype):
    """The `size` elements of `dtype` at `address` as a 1-D C-contiguous array (a view: nothing is copied)."""
    return numba.carray(pointer_at(address, dtype), size)
