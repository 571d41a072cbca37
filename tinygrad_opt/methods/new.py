"""torch.Tensor's new_* factories: tensors of self's dtype and device unless told otherwise."""
from __future__ import annotations

from ..backend import array_module, resolve_dtype
from .dims import shape_args


class NewTensorMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False):
        return _new(self, "zeros", size, 0, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False):
        return _new(self, "ones", size, 1, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False):
        return _new(self, "empty", size, 0, dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False):
        return _new(self, "full", (size,), fill_value, dtype, device, requires_grad)

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False):
        """A copy of data as a tensor of self's dtype (torch: also for float data into an int tensor)."""
        data = data.data if isinstance(data, type(self)) else data
        out = type(self)(data, dtype=self.data.dtype if dtype is None else dtype, device=device or self.device)
        out.data = out.data.copy()
        return out.requires_grad_(requires_grad) if requires_grad else out


def _new(t, kind: str, size: tuple, value, dtype, device, requires_grad: bool):
    shape = shape_args(size, "new_" + kind)
    dtype = t.data.dtype if dtype is None else resolve_dtype(dtype)
    array = array_module(t.data).full(shape, value, dtype=dtype)
    out = type(t)._make(array, False)
    if device is not None:
        out = out.to(device)
    return out.requires_grad_(True) if requires_grad else out
