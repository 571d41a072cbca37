"""quantile and nanquantile (torch.quantile / torch.nanquantile), with torch's arguments, checks in torch's
order and messages; the computation and its gradient are ops.Quantile."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backend import array_module, device_of
from ..errors import ArgumentValueError, DeviceError, DtypeError, ShapeError
from ..ops.quantile import INTERPOLATIONS
from .dims import wrap_dim


class QuantileMethods:
    """Mixed into Tensor (through ReductionMethods); `self` is a Tensor."""

    __slots__ = ()

    def quantile(self, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
        """The q-th quantiles (q a number or a 0-d / 1-d tensor in [0, 1]) of all elements or along dim,
        interpolated as `interpolation` says (linear, lower, higher, midpoint, nearest); a slice with a
        NaN gives NaN. A 1-d q puts its dim first in the result. Float and double input only, as torch."""
        return _quantile(self, q, dim, keepdim, interpolation, ignore_nan=False)

    def nanquantile(self, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
        """quantile of the non-NaN elements (a slice of NaNs only gives NaN)."""
        return _quantile(self, q, dim, keepdim, interpolation, ignore_nan=True)


def _quantile(t, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool):
    tensor_q = isinstance(q, type(t))
    # the argument types first (torch's parser), then the values
    if not tensor_q and not isinstance(q, (bool, int, float, np.bool_, np.integer, np.floating)):
        raise TypeError(f"quantile(): q must be a number or a 0-d or 1-d tensor, got {type(q).__name__}")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
        raise TypeError(f"quantile(): dim must be an int or None, got {dim!r}")
    if not isinstance(keepdim, (bool, np.bool_)):
        raise TypeError(f"quantile(): keepdim must be a bool, got {keepdim!r}")
    if not isinstance(interpolation, str):
        raise TypeError(f"quantile(): interpolation must be a string, got {interpolation!r}")
    if not tensor_q and not 0 <= float(q) <= 1:  # NaN fails too
        raise ArgumentValueError(f"quantile(): q must be in the range [0, 1] but got {float(q)!r}")
    if interpolation not in INTERPOLATIONS:
        raise ArgumentValueError("quantile(): interpolation must be one of linear, lower, higher, midpoint or "
                                 f"nearest, but got {interpolation!r}")
    a = t.data
    if a.size == 0:
        raise ShapeError(f"quantile(): the input tensor must be non-empty, got shape {tuple(a.shape)}")
    if tensor_q and q.data.ndim > 1:
        raise ShapeError(f"quantile(): q must be a scalar or 1D tensor, got shape {tuple(q.data.shape)}")
    if a.dtype not in (np.float32, np.float64):
        raise DtypeError(f"quantile(): the input tensor must be either float or double dtype, got {a.dtype}; "
                         "convert first with .float() or .double()")
    if tensor_q and q.data.dtype != a.dtype:
        raise DtypeError(f"quantile(): the q tensor must be the same dtype as the input tensor ({a.dtype}), got "
                         f"{q.data.dtype}; convert q with .to(input.dtype)")
    if tensor_q and device_of(q.data) != device_of(a):
        raise DeviceError(f"quantile(): the q tensor must be on the same device as the input tensor "
                          f"({device_of(a)}), got {device_of(q.data)}; move q with .to(input.device)")
    d = wrap_dim(0 if dim is None else dim, a.ndim, "quantile")
    op_dim = None if dim is None or a.ndim == 0 else d
    options = dict(dim=op_dim, keepdim=bool(keepdim), interpolation=interpolation, ignore_nan=ignore_nan)
    if tensor_q:
        qd = q.data
        if qd.size and not bool(((qd >= 0) & (qd <= 1)).all()):
            raise ArgumentValueError("quantile(): q values must be in the range [0, 1], got "
                                     f"{qd.tolist()}")
        if interpolation == "linear":  # only the linear weight depends on q differentiably
            return ops.Quantile.apply(t, q, **options)
        return ops.Quantile.apply(t, q=qd, **options)
    return ops.Quantile.apply(t, q=array_module(a).asarray(float(q), dtype=a.dtype), **options)
