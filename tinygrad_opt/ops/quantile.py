"""quantile / nanquantile: order statistics of each slice, interpolated between the two around q.

Notation: g is the upstream gradient dL/dy; a row is one slice along the reduced dim (or all elements).
"""
from ..autograd import Function
from ..backend import array_module
from ..kernels.reference import add_at
from .elementwise import _quiet
from .lerp import _lerp
from .tie_order import std_sort_order

INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


class Quantile(Function):
    """y = the q-th quantile of each row of a, as torch computes it: the row sorted (NaN last), the rank
    r = q * (n - 1), where n is the row's length (quantile) or its count of non-NaN elements (nanquantile;
    r = 0 for an all-NaN row); a row with a NaN gives its last sorted element, a NaN (quantile).
    linear: y = lerp(s[floor r], s[ceil r], r - floor r) (torch's lerp); midpoint: the weight is 0.5;
    lower / higher / nearest: y = s[floor r] / s[ceil r] / s[round r] (round half to even).
    q is a 0-d (y has the row shape) or 1-d array (y gets q's dim first); given as a second input
    (linear only: elsewhere y does not depend on q) it gets a gradient.

    dL/da = g * (1 - w) at the element sorted to floor r and g * w at the one sorted to ceil r (w the
    weight above; lower / higher / nearest: g at the picked element); among equal elements the one
    torch's sort (std::sort, NaN last) puts there (ops/tie_order.py).
    dL/dq = sum over the rows of g * (s[ceil r] - s[floor r]) * (n - 1), and 0 for a row whose rank
    was fixed instead (quantile: the row has a NaN; nanquantile: q * (n - 1) < 0, an all-NaN row).
    """

    @staticmethod
    def forward(ctx, a, *q_input, q=None, dim=None, keepdim=False, interpolation="linear", ignore_nan=False):
        xp = array_module(a)
        q = q_input[0] if q_input else q
        rows = a.reshape(-1) if dim is None else xp.moveaxis(a, dim, -1)
        n = rows.shape[-1]
        nan = xp.isnan(rows)
        qs = q.reshape(-1)  # (k,)
        if ignore_nan:
            scale = (n - nan.sum(axis=-1, keepdims=True) - 1).astype(a.dtype)
            ranks = qs * scale
            fixed = ranks < 0
            ranks = xp.where(fixed, xp.zeros((), dtype=a.dtype), ranks)
        else:
            scale = a.dtype.type(n - 1)
            fixed = nan.any(axis=-1, keepdims=True)
            ranks = xp.where(fixed, scale, xp.broadcast_to(qs * scale, rows.shape[:-1] + qs.shape))
        if interpolation in ("lower", "higher", "nearest"):
            ranks = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.round}[interpolation](ranks)
        below = ranks.astype("int64")
        above = xp.ceil(ranks).astype("int64") if interpolation in ("linear", "midpoint") else None
        order = _torch_sort_order(rows, nan, below if above is None else xp.concatenate([below, above], axis=-1))
        below_at = xp.take_along_axis(order, below, axis=-1)  # original positions within the row
        ctx.shape, ctx.dim, ctx.n, ctx.q_shape = a.shape, dim, n, q.shape
        if above is not None:
            above_at = xp.take_along_axis(order, above, axis=-1)
            low, high = xp.take_along_axis(rows, below_at, axis=-1), xp.take_along_axis(rows, above_at, axis=-1)
            weight = ranks - below.astype(a.dtype) if interpolation == "linear" else \
                xp.full(ranks.shape, 0.5, dtype=a.dtype)
            y = _lerp(xp, low, high, weight)
            ctx.picked, ctx.weights = (below_at, above_at), (1 - weight, weight)
            if q_input:
                with _quiet(xp):  # inf - inf: NaN, as torch's
                    ctx.difference = high - low
                ctx.fixed, ctx.scale = fixed, scale
        else:
            y = xp.take_along_axis(rows, below_at, axis=-1)
            ctx.picked, ctx.weights = (below_at,), None
        if keepdim:  # the reduced dim (every dim when dim is None) kept as a 1
            y = xp.expand_dims(y, tuple(range(a.ndim)) if dim is None else dim)
        return y[..., 0] if q.ndim == 0 else xp.moveaxis(y, -1, 0)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        g = g[..., None] if len(ctx.q_shape) == 0 else xp.moveaxis(g, 0, -1)
        picked = ctx.picked[0]
        g = g.reshape(picked.shape)  # keepdim's 1s out again
        grad_rows = xp.zeros(picked.shape[:-1] + (ctx.n,), dtype=g.dtype)
        with _quiet(xp):
            parts = [g] if ctx.weights is None else [g * w for w in ctx.weights]
            for at, part in zip(ctx.picked, parts):
                add_at(grad_rows, _along_last(at), part)
            if ctx.dim is None:
                grad = grad_rows.reshape(ctx.shape)
            else:
                grad = xp.moveaxis(grad_rows, -1, ctx.dim)
            if len(ctx.needs_input_grad) == 1:
                return grad
            gq = xp.where(ctx.fixed, xp.zeros((), dtype=g.dtype), g * ctx.difference * ctx.scale)
            gq = gq.sum(axis=tuple(range(gq.ndim - 1))).reshape(ctx.q_shape)
        return (grad if ctx.needs_input_grad[0] else None), gq


def _along_last(index) -> tuple:
    """The index tuple that picks rows[..., index[..., j]] (take_along_axis on the last axis)."""
    xp = array_module(index)
    parts = [xp.arange(n).reshape([n if i == d else 1 for i in range(index.ndim)])
             for d, n in enumerate(index.shape[:-1])]
    return tuple(parts) + (index,)


def _torch_sort_order(rows, nan, positions):
    """Each row's argsort as torch's CPU sort leaves it, where it matters: NumPy's stable sort (NaN last),
    redone with std::sort's own order (ops/tie_order.py) on the rows where an element at one of the
    sorted `positions` equals a neighbour (NaNs count as equal), so that which of the equal elements
    gets the gradient (and the sign of a zero) is torch's."""
    xp = array_module(rows)
    order = xp.argsort(rows, axis=-1, kind="stable")
    ordered = xp.take_along_axis(rows, order, axis=-1)
    ordered_nan = xp.take_along_axis(nan, order, axis=-1)
    equal_next = (ordered[..., 1:] == ordered[..., :-1]) | (ordered_nan[..., 1:] & ordered_nan[..., :-1])
    false = xp.zeros(equal_next.shape[:-1] + (1,), dtype=bool)
    tied = xp.concatenate([false, equal_next], axis=-1) | xp.concatenate([equal_next, false], axis=-1)
    redo = xp.take_along_axis(tied, positions, axis=-1).any(axis=-1)
    if not bool(redo.any()):
        return order
    n = rows.shape[-1]
    flat_order, flat_redo = order.reshape(-1, n), redo.reshape(-1)
    host = rows.reshape(-1, n)
    host = host.get() if hasattr(host, "get") else host
    for r in xp.flatnonzero(flat_redo).tolist():
        flat_order[r] = xp.asarray(std_sort_order(host[r], nan_last=True))
    return flat_order.reshape(order.shape)
