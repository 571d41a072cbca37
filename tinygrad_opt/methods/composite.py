"""torch.Tensor methods that are compositions of other methods (their gradients are those
methods' gradients): comparisons by name, products (mm, mv, dot, outer, addmm, ...), lerp and
addcmul/addcdiv, fmod (ops.Fmod)/frac/xlogy/nan_to_num, diagonal/diag/trace, tile, repeat_interleave, take,
and the attribute-like queries (is_floating_point, element_size, nbytes, ...)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..backend import array_module
from ..errors import ShapeError
from ..promotion import result_type
from .dims import wrap_dim


class CompositeMethods:
    """Mixed into Tensor; `self` is a Tensor."""

    __slots__ = ()

    # ---- queries ----
    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def element_size(self) -> int:
        return int(self.data.dtype.itemsize)

    @property
    def itemsize(self) -> int:
        return int(self.data.dtype.itemsize)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def ndimension(self) -> int:
        return self.data.ndim

    def nelement(self) -> int:
        return int(self.data.size)

    def type_as(self, other):
        return self.to(other.dtype)

    def view_as(self, other):
        return self.view(*other.shape)

    def reshape_as(self, other):
        return self.reshape(*other.shape)

    def ravel(self):
        return self.reshape(-1)

    # ---- comparisons by name (bool results, no gradient) ----
    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

    less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne

    def equal(self, other) -> bool:
        """True when both have the same shape and the same values (torch.equal)."""
        return self.shape == other.shape and bool((self == other).all().item())

    def isclose(self, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False):
        """|self - other| <= atol + rtol * |other| element-wise (bool, no gradient)."""
        a, b = self._promoted_with(other)
        xp = array_module(a.data)
        return type(self)._make(xp.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan), False)

    def allclose(self, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
        return bool(self.isclose(other, rtol, atol, equal_nan).all().item())

    # ---- products ----
    def matmul(self, other):
        return self @ other

    def mm(self, mat2):
        _check_ndim(self, 2, "mm", "self")
        _check_ndim(mat2, 2, "mm", "mat2")
        return self @ mat2

    def bmm(self, mat2):
        _check_ndim(self, 3, "bmm", "self")
        _check_ndim(mat2, 3, "bmm", "mat2")
        return self @ mat2

    def mv(self, vec):
        _check_ndim(self, 2, "mv", "self")
        _check_ndim(vec, 1, "mv", "vec")
        return self @ vec

    def dot(self, other):
        _check_ndim(self, 1, "dot", "self")
        _check_ndim(other, 1, "dot", "other")
        return self @ other

    def inner(self, other):
        """The sum over the last dim of both: shape self.shape[:-1] + other.shape[:-1]."""
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        k = self.shape[-1]
        product = self.reshape(-1, k) @ other.reshape(-1, k).transpose(0, 1)
        return product.reshape(*self.shape[:-1], *other.shape[:-1])

    def outer(self, vec2):
        _check_ndim(self, 1, "outer", "self")
        _check_ndim(vec2, 1, "outer", "vec2")
        return self.unsqueeze(1) * vec2.unsqueeze(0)

    ger = outer

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """beta * self + alpha * (mat1 @ mat2)."""
        return _scaled_sum(self, mat1.mm(mat2), beta, alpha)

    def addmv(self, mat, vec, *, beta=1, alpha=1):
        return _scaled_sum(self, mat.mv(vec), beta, alpha)

    def addcmul(self, tensor1, tensor2, *, value=1):
        """self + value * tensor1 * tensor2."""
        if any(t.data.dtype == np.bool_ for t in (self, tensor1, tensor2)):
            raise TypeError("addcmul: not implemented for bool tensors (as torch); convert them first, e.g. .long()")
        return self + tensor1 * tensor2 * value if value != 1 else self + tensor1 * tensor2

    def addcdiv(self, tensor1, tensor2, *, value=1):
        """self + value * tensor1 / tensor2 (floating only, as torch)."""
        if all(t.data.dtype.kind in "biu" for t in (tensor1, tensor2)):
            raise TypeError(f"addcdiv: integer division is not supported (as torch), got tensor1 {tensor1.dtype} "
                            f"and tensor2 {tensor2.dtype}; cast one to a floating dtype or use addcmul")
        return self + tensor1 / tensor2 * value if value != 1 else self + tensor1 / tensor2

    def lerp(self, end, weight):
        """self + weight * (end - self), rounded as torch's (ops.Lerp)."""
        if isinstance(weight, type(self)):
            start, end, weight = _promoted_three(self, end, weight)
            _check_floating(start, "lerp")
            return ops.Lerp.apply(start, end, weight)
        start, end = self._promoted_with(end)
        _check_floating(start, "lerp")
        return ops.Lerp.apply(start, end, weight=float(weight))

    # ---- element-wise compositions ----
    def fmod(self, other):
        """The remainder of a truncating division: self - trunc(self / other) * other (the sign of self)."""
        return ops.Fmod.apply(*self._promoted_with(other))

    def frac(self):
        """self - trunc(self)."""
        if self.data.dtype.kind != "f":
            raise TypeError(f"frac: only floating tensors are supported (as torch), got dtype {self.data.dtype}")
        return self - self.trunc()

    def sgn(self):
        return self.sign()

    def positive(self):
        if self.data.dtype == np.bool_:
            raise TypeError("positive: not supported for bool tensors (as torch's unary +)")
        return self

    def copysign(self, other):
        """|self| with the sign of other (signed zeros and NaN signs included), floating."""
        a, b = self._promoted_with(other)
        return ops.Copysign.apply(a._floating(), b._floating())

    def logit(self, eps: float | None = None):
        """log(p / (1 - p)), p = self clamped to [eps, 1 - eps] when eps is given."""
        return ops.Logit.apply(self._floating(), eps=None if eps is None else float(eps))

    def signbit(self):
        return type(self)._make(array_module(self.data).signbit(self.data), False)

    def xlogy(self, other):
        """self * log(other), 0 where self is 0 (NaN where other is NaN): ops.Xlogy."""
        a, b = self._promoted_with(other)
        return ops.Xlogy.apply(a._floating(), b._floating())

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
        """NaN -> nan, +inf -> posinf (default: the dtype's largest), -inf -> neginf (its lowest)."""
        if self.data.dtype.kind != "f":
            return self.clone()
        info = np.finfo(self.data.dtype)
        out = self.where(~self.isnan(), float(nan))
        out = out.where(out != float("inf"), float(info.max if posinf is None else posinf))
        return out.where(out != float("-inf"), float(info.min if neginf is None else neginf))

    def float_power(self, exponent):
        """self ** exponent in float64 (torch.float_power)."""
        exponent = exponent.double() if isinstance(exponent, type(self)) else exponent
        return self.double() ** exponent

    def deg2rad(self):
        return self._floating() * (np.pi / 180.0)

    def rad2deg(self):
        return self._floating() * (180.0 / np.pi)

    # ---- diagonals, tiling, taking ----
    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        """The diagonal over dims dim1 and dim2, moved to the last dim (torch.diagonal)."""
        if self.ndim < 2:
            raise ShapeError(f"diagonal: needs at least 2 dims, got shape {tuple(self.shape)}")
        x = self.movedim((dim1, dim2), (-2, -1))
        rows, cols = x.shape[-2], x.shape[-1]
        start_row, start_col = max(-offset, 0), max(offset, 0)
        length = max(min(rows - start_row, cols - start_col), 0)
        xp = array_module(self.data)
        i = xp.arange(length)
        return x[(Ellipsis, i + start_row, i + start_col)]

    def diag(self, diagonal: int = 0):
        """1-d: a square matrix with self on the given diagonal; 2-d: that diagonal as a 1-d tensor."""
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise ShapeError(f"diag: expects a 1-d or 2-d tensor, got shape {tuple(self.shape)}")
        n = self.shape[0] + abs(diagonal)
        xp = array_module(self.data)
        rows = xp.arange(self.shape[0]) + max(-diagonal, 0)
        cols = xp.arange(self.shape[0]) + max(diagonal, 0)
        base = type(self)._make(xp.zeros((n, n), dtype=self.data.dtype), False)
        index = type(self)._make(rows * n + cols, False)
        return base.reshape(-1).scatter_add(0, index, self).reshape(n, n)

    def trace(self):
        if self.ndim != 2:
            raise ShapeError(f"trace: expects a 2-d tensor, got shape {tuple(self.shape)}")
        if self.data.dtype == np.bool_:
            raise TypeError("trace: not implemented for bool tensors (as torch); convert it first, e.g. .long()")
        return self.diagonal().sum()

    def tile(self, *dims):
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        dims = (1,) * (self.ndim - len(dims)) + tuple(dims)
        return self.repeat(*dims)

    def repeat_interleave(self, repeats=None, dim: int | None = None, *, output_size: int | None = None):
        """Each element (each slice along dim) repeated `repeats` times in place; flattened without a dim.
        Without repeats, self holds the counts and the result is arange(len(self)) repeated by them."""
        xp = array_module(self.data)
        if repeats is None:
            if self.ndim != 1 or self.data.dtype.kind not in "iu":
                raise TypeError(f"repeat_interleave: repeats must be a 1-D integer tensor, got shape "
                                f"{tuple(self.shape)} dtype {self.dtype}")
            index = xp.arange(self.shape[0]).astype("int64")
            return type(self)._make(index, False).repeat_interleave(self, 0, output_size=output_size)
        if dim is not None and self.ndim == 0:
            raise IndexError(f"repeat_interleave: dim {dim} is out of range for a 0-d tensor; leave dim out")
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else dim
        size = x.shape[d] if x.ndim else 1
        counts = repeats.data if isinstance(repeats, type(self)) else repeats
        if getattr(counts, "ndim", 0) == 1 and len(counts) == 1:
            counts = counts[0]  # one count for every slice, as torch
        if not isinstance(counts, numbers.Integral) and getattr(counts, "ndim", 1) and len(counts) != size:
            raise ShapeError(f"repeat_interleave: repeats has {len(counts)} entries for {size} slices along dim {d}")
        if getattr(counts, "dtype", np.dtype("int64")).kind not in "iu":
            raise TypeError(f"repeat_interleave: repeats must be integers, got dtype {counts.dtype}")
        if (xp.asarray(counts) < 0).any():
            raise RuntimeError("repeat_interleave: repeats can not be negative")
        index = xp.repeat(xp.arange(size), xp.asarray(counts))
        if output_size is not None and output_size != len(index):
            raise RuntimeError(f"repeat_interleave: output_size={output_size} but the repeats sum to {len(index)}")
        return x.index_select(d, type(self)._make(index.astype("int64"), False))

    def take(self, index):
        """self flattened, indexed by index (the result has index's shape); index is int64, as torch's."""
        if isinstance(index, type(self)) and index.data.dtype != np.int64:
            raise TypeError(f"take: index must be an int64 tensor (as torch), got {index.dtype}; convert it with .long()")
        return self.reshape(-1)[index]

    def take_along_dim(self, indices, dim: int | None = None):
        """gather along dim after broadcasting self and indices in every other dim; with a dim, negative
        indices count from the end (torch.take_along_dim; without one, torch refuses them, as gather)."""
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        if self.ndim != indices.ndim:
            raise ShapeError(f"take_along_dim: input and indices must have the same number of dims, got shapes "
                             f"{tuple(self.shape)} and {tuple(indices.shape)}")
        d = dim % self.ndim
        self_shape, index_shape = list(self.shape), list(indices.shape)
        self_shape[d] = index_shape[d] = 1
        common = np.broadcast_shapes(tuple(self_shape), tuple(index_shape))
        x = self.expand(*common[:d], self.shape[d], *common[d + 1:])
        index = indices.expand(*common[:d], indices.shape[d], *common[d + 1:])
        return x.gather(d, _wrapped(index, self.shape[d]))

    def count_nonzero(self, dim=None):
        return (self != 0).sum(dim)

    def argwhere(self):
        return self.nonzero()

    def fliplr(self):
        if self.ndim < 2:
            raise ShapeError(f"fliplr: input must be >= 2-d (as torch), got shape {tuple(self.shape)}")
        return self.flip(1)

    def flipud(self):
        if self.ndim < 1:
            raise ShapeError("flipud: input must be >= 1-d (as torch), got a 0-d tensor")
        return self.flip(0)

    def diff(self, n: int = 1, dim: int = -1, prepend=None, append=None):
        """n-th forward difference along dim, of prepend, self and append joined along dim (bool: !=)."""
        if self.ndim == 0:
            raise ShapeError("diff: expects input to be at least one-dimensional, got a 0-d tensor")
        if n < 0:
            raise RuntimeError(f"diff: order must be non-negative but got {n}")
        x = self
        if prepend is not None or append is not None:
            d = wrap_dim(dim, self.ndim, "diff")
            parts = [_along(p, self, d) for p in (prepend,) if p is not None] + [self]
            parts += [_along(p, self, d) for p in (append,) if p is not None]
            dtype = result_type(*parts)  # joined as torch.cat joins them: promoted
            x = ops.Cat.apply(*(p if p.dtype == dtype else p.to(dtype) for p in parts), dim=d)
        for _ in range(n):
            length = max(x.shape[dim] - 1, 0)
            later, earlier = x.narrow(dim, min(1, x.shape[dim]), length), x.narrow(dim, 0, length)
            x = later != earlier if x.data.dtype == np.bool_ else later - earlier
        return x


def _check_floating(t, op: str) -> None:
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: expects floating-point tensors (as torch), got dtype {t.dtype}")


def _promoted_three(a, b, c):
    """a, b, c as tensors of one promoted dtype."""
    a, b = a._promoted_with(b)
    a, c = a._promoted_with(c)
    return a, b._promoted_with(c)[0], c


def _wrapped(index, size: int):
    """index with negative entries counted from the end (as torch's take_along_dim)."""
    data = index.data
    return type(index)._make(data + size * (data < 0), False) if bool((data < 0).any()) else index


def _along(extra, t, dim: int):
    """prepend/append for diff: a tensor of t's number of dims and sizes except along dim (as torch's)."""
    if extra.ndim != t.ndim:
        raise ShapeError(f"diff: prepend/append must have the input's {t.ndim} dims, got shape {tuple(extra.shape)}")
    if any(a != b for k, (a, b) in enumerate(zip(extra.shape, t.shape)) if k != dim):
        raise ShapeError(f"diff: prepend/append of shape {tuple(extra.shape)} must match the input's shape "
                         f"{tuple(t.shape)} except along dim {dim}")
    return extra


def _check_ndim(t, ndim: int, op: str, name: str) -> None:
    if t.ndim != ndim:
        raise ShapeError(f"{op}: {name} must be a {ndim}-D tensor, got shape {tuple(t.shape)}")


def _scaled_sum(t, product, beta, alpha):
    """beta * t + alpha * product; beta == 0 ignores t and alpha == 0 the product (their NaNs too), as torch."""
    right = product if alpha == 1 else ops.TimesZero.apply(product) if alpha == 0 else product * alpha
    if beta == 0:
        return right + t.new_zeros(*t.shape)
    return (t if beta == 1 else t * beta) + right
