"""Reductions beyond sum/mean/max: prod, var/std, logsumexp, norm, all/any, cumsum/cumprod."""
from __future__ import annotations

from .. import ops
from ..errors import DtypeError
from ..ops.reduce import normalize_axes
from .dims import pick


def refuse_integer(t, op: str) -> None:
    """torch's floating-only reductions raise on integer and bool tensors (RuntimeError); so do ours
    (DtypeError: a TypeError and a RuntimeError)."""
    if t.data.dtype.kind not in "fc":
        raise DtypeError(
            f"{op}(): input dtype must be floating point, got {t.data.dtype}; "
            "convert first with .float() or .double()"
        )


class StatisticsMethods:
    """Mixed into Tensor: prod, var/std, logsumexp, norm, all/any, cumsum/cumprod."""

    __slots__ = ()

    def prod(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """Product over one dim (or all); the gradient is exact with zeros in the slice."""
        dim, keepdim = pick(dim, axis, keepdim, keepdims, "prod")
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"prod: dim must be one int, got {dim!r}")
        return ops.Prod.apply(self, axis=normalize_axes(dim, self.ndim, "prod"), keepdims=keepdim)

    def var(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None, keepdims=None):
        """sum((x - mean)^2) / (n - correction) over dim; correction=1 by default (unbiased=False: 0)."""
        dim, keepdim, correction = _moment_args(self, dim, unbiased, keepdim, correction, axis, keepdims, "var")
        return ops.Var.apply(self, axis=normalize_axes(dim, self.ndim, "var"), keepdims=keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None, keepdims=None):
        """The square root of var (same arguments)."""
        dim, keepdim, correction = _moment_args(self, dim, unbiased, keepdim, correction, axis, keepdims, "std")
        return ops.Std.apply(self, axis=normalize_axes(dim, self.ndim, "std"), keepdims=keepdim, correction=correction)

    def logsumexp(self, dim, keepdim: bool = False, *, axis=None, keepdims=None):
        """log(sum(exp(x))) over dim, without overflow."""
        dim, keepdim = pick(dim, axis, keepdim, keepdims, "logsumexp")
        x = self._floating()
        return ops.LogSumExp.apply(x, axis=normalize_axes(dim, x.ndim, "logsumexp"), keepdims=keepdim)

    def norm(self, p="fro", dim=None, keepdim: bool = False):
        """The vector p-norm over dim (all dims by default): p = 2 or 'fro' (Euclidean), 1, inf, -inf, 0, any float."""
        refuse_integer(self, "norm")
        if p == "fro" or p is None:
            p = 2.0
        if isinstance(p, str):
            raise ValueError(f"norm: p={p!r} is not supported; use a number, float('inf') or 'fro'")
        return ops.Norm.apply(self, p=float(p), axis=normalize_axes(dim, self.ndim, "norm"), keepdims=keepdim)

    def all(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """True where every element along dim is non-zero (bool; uint8 for uint8 input, as torch; no gradient)."""
        return _logical(self, dim, keepdim, axis, keepdims, "all")

    def any(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """True where some element along dim is non-zero (bool; uint8 for uint8 input, as torch; no gradient)."""
        return _logical(self, dim, keepdim, axis, keepdims, "any")

    def cumsum(self, dim: int, *, dtype=None, axis=None):
        """Running sums along dim (integers and bools sum in int64, as torch; dtype= casts the input first)."""
        d = _scan_dim(self, dim, axis, "cumsum")
        if dtype is not None:
            self = self.to(dtype)
        x = self if self.data.dtype.kind not in "bui" or self.data.dtype.itemsize == 8 else self._int64()
        return ops.CumSum.apply(x, dim=d) if x.ndim else x.reshape(())

    def cumprod(self, dim: int, *, dtype=None, axis=None):
        """Running products along dim; the gradient is exact with zeros (dtype= casts the input first)."""
        d = _scan_dim(self, dim, axis, "cumprod")
        if dtype is not None:
            self = self.to(dtype)
        x = self if self.data.dtype.kind not in "bui" or self.data.dtype.itemsize == 8 else self._int64()
        return ops.CumProd.apply(x, dim=d) if x.ndim else x.reshape(())

    def _int64(self):
        return type(self)._make(self.data.astype("int64"), False)


def _moment_args(t, dim, unbiased, keepdim, correction, axis, keepdims, op: str):
    refuse_integer(t, op)
    if unbiased is not None and not isinstance(unbiased, bool):
        raise TypeError(f"{op}: unbiased must be a bool (torch's second argument), got {unbiased!r}")
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: pass either unbiased= or correction=, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dim, keepdim = pick(dim, axis, keepdim, keepdims, op)
    return dim, keepdim, correction


def _logical(t, dim, keepdim, axis, keepdims, op: str):
    dim, keepdim = pick(dim, axis, keepdim, keepdims, op)
    axes = normalize_axes(dim, t.ndim, op)
    data = t.data
    out = data.all(axis=axes, keepdims=keepdim) if op == "all" else data.any(axis=axes, keepdims=keepdim)
    if data.dtype == "uint8":  # torch keeps uint8 for uint8 input (its pre-bool convention); bool otherwise
        out = out.astype("uint8")
    return type(t)._make(out, False)


def _scan_dim(t, dim, axis, op: str) -> int:
    if axis is not None:
        dim = axis
    if dim is None:
        raise TypeError(f"{op}: dim is required (as in torch); pass dim=0 for the first dim")
    axes = normalize_axes(dim, t.ndim, op)
    if len(axes) > 1 or isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}: dim must be one int, got {dim!r}")
    return axes[0] if axes else 0
