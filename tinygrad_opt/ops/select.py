"""Ops that pick elements by an index array: gather, index_select, scatter_add, scatter.

The index is an integer backend array passed as an option (it has no gradient).
Notation: g is the upstream gradient dL/dy.
"""
from ..autograd import Function
from ..backend import array_module
from ..kernels.reference import add_at
from ..quiet_numpy import silent


def check_index(index, size: int, dim: int, op: str) -> None:
    """Integer dtype and every entry in [0, size); errors as torch's (TypeError / IndexError)."""
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: the index must be an integer tensor (int64), got dtype {index.dtype}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= size):
        bad = int(index.min()) if int(index.min()) < 0 else int(index.max())
        raise IndexError(f"{op}: index {bad} is out of bounds for dim {dim} with size {size}")


def along_dim(index, dim: int) -> tuple:
    """The full index tuple that picks a[..., index[i, j, ...], ...] at position (i, j, ...).

    Every dim except `dim` is its own position (an arange broadcast along it), so
    `a[along_dim(index, dim)]` is take_along_axis and `add.at(grad, along_dim(index, dim), g)`
    is its scatter-add.
    """
    xp = array_module(index)
    parts = []
    for d, n in enumerate(index.shape):
        if d == dim:
            parts.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            parts.append(xp.arange(n).reshape(shape))
    return tuple(parts)


def _check_gather_shapes(a_shape: tuple, index_shape: tuple, dim: int, op: str) -> None:
    from ..errors import ShapeError  # noqa: PLC0415 - only on the error path

    if len(index_shape) != len(a_shape) or any(
        i != dim and m > n for i, (m, n) in enumerate(zip(index_shape, a_shape))
    ):
        raise ShapeError(
            f"{op}: index of shape {tuple(index_shape)} does not fit input of shape {tuple(a_shape)} at dim {dim}: "
            f"it needs as many dims, and no larger size in every dim but {dim}"
        )


class Gather(Function):
    """y[i][j][k] = a[index[i][j][k]][j][k] (for dim 0; torch.gather / take_along_dim).

    dL/da = zeros like a, with g scatter-added at the gathered positions (repeats add up).
    """

    @staticmethod
    def forward(ctx, a, index=None, dim=0):
        _check_gather_shapes(a.shape, index.shape, dim, "gather")
        check_index(index, a.shape[dim], dim, "gather")
        ctx.shape, ctx.where = a.shape, along_dim(index, dim)
        return a[ctx.where]

    @staticmethod
    def backward(ctx, g):
        grad = array_module(g).zeros(ctx.shape, dtype=g.dtype)
        add_at(grad, ctx.where, g)
        return grad


class ScatterAdd(Function):
    """y = a, then y[index[i][j]][j] += src[i][j] (for dim 0; torch.scatter_add).

    dL/da = g;   dL/dsrc[i][j] = g[index[i][j]][j] (a gather of g) where index reaches, else 0.
    """

    @staticmethod
    @silent
    def forward(ctx, a, src, index=None, dim=0):
        _start_scatter(ctx, a, src, index, dim, "scatter_add")
        y = a.copy()
        add_at(y, ctx.where, src[ctx.src_part])
        return y

    @staticmethod
    def backward(ctx, g):
        need_a, need_src = ctx.needs_input_grad
        return (g if need_a else None), (_gathered_for_src(ctx, g) if need_src else None)


class Scatter(Function):
    """y = a, then y[index[i][j]][j] = src[i][j] (for dim 0; torch.scatter).

    Where index names one place more than once, the last of those writes in index's row-major order
    wins (torch leaves the winner unspecified; with equal values, as `value=`, every answer agrees).
        dL/da = g with every written place set to 0
        dL/dsrc[i][j] = g[index[i][j]][j] (a gather of g, for a write that lost too, as torch's), else 0
    """

    @staticmethod
    def forward(ctx, a, src, index=None, dim=0):
        _start_scatter(ctx, a, src, index, dim, "scatter")
        xp = array_module(a)
        places = xp.ravel_multi_index(xp.broadcast_arrays(*ctx.where), a.shape).reshape(-1)
        ctx.places = places
        values = src[ctx.src_part].reshape(-1)
        last = places.size - 1 - xp.unique(places[::-1], return_index=True)[1]  # each place's last write
        y = a.copy()
        y.reshape(-1)[places[last]] = values[last]
        return y

    @staticmethod
    def backward(ctx, g):
        need_a, need_src = ctx.needs_input_grad
        ga = gsrc = None
        if need_a:
            ga = g.copy()
            ga.reshape(-1)[ctx.places] = 0
        if need_src:
            gsrc = _gathered_for_src(ctx, g)
        return ga, gsrc


def _start_scatter(ctx, a, src, index, dim: int, op: str) -> None:
    """The checks scatter and scatter_add share (shapes, index range, one dtype) and what their backward reads:
    where each src element goes, and the part of src that index covers."""
    _check_gather_shapes(a.shape, index.shape, dim, op)
    _check_gather_shapes(src.shape, index.shape, -1, op)
    check_index(index, a.shape[dim], dim, op)
    if a.dtype != src.dtype:
        raise TypeError(f"{op}: input ({a.dtype}) and src ({src.dtype}) must have the same dtype")
    ctx.where, ctx.src_shape = along_dim(index, dim), src.shape
    ctx.src_part = tuple(slice(0, n) for n in index.shape)


def _gathered_for_src(ctx, g):
    """dL/dsrc of a scatter: g gathered where each covered src element went, 0 for the rest of src."""
    gsrc = array_module(g).zeros(ctx.src_shape, dtype=g.dtype)
    gsrc[ctx.src_part] = g[ctx.where]
    return gsrc


class IndexSelect(Function):
    """y = a taken at `index` (1-D) along `dim` (torch.index_select).

    dL/da = zeros like a, with g scatter-added back along dim at index (repeats add up).
    """

    @staticmethod
    def forward(ctx, a, index=None, dim=0):
        check_index(index, a.shape[dim] if a.ndim else 1, dim, "index_select")
        ctx.shape, ctx.where = a.shape, (slice(None),) * dim + (index,)
        if a.ndim == 0:
            return a.reshape(1)[index].reshape(index.shape if index.ndim else ())
        return array_module(a).take(a, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        grad = array_module(g).zeros(ctx.shape, dtype=g.dtype)
        if not ctx.shape:
            return g.sum().reshape(())
        add_at(grad, ctx.where, g)
        return grad
