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
    torch's sort (std::sort, NaN last) puts there (ops/tie_order.py), found in backward (in forward only
    where it shows in y: a zero's sign).
    dL/dq = sum over the rows of g * (s[ceil r] - s[floor r]) * (n - 1), and 0 for a row whose rank
    was fixed instead (quantile: the row has a NaN; nanquantile: q * (n - 1) < 0, an all-NaN row).
    """

    @staticmethod
    def forward(ctx, a, *q_input, q=None, dim=None, keepdim=False, interpolation="linear", ignore_nan=False):
        xp = array_module(a)
        q = q_input[0] if q_input else q
        rows = a.reshape(-1) if dim is None else xp.moveaxis(a, dim, -1)
        n = rows.shape[-1]
        flat = rows.reshape(-1, n)  # (rows, n)
        nan = xp.isnan(flat)
        qs = q.reshape(-1)  # (k,)
        if ignore_nan:
            scale = (n - nan.sum(axis=1, keepdims=True) - 1).astype(a.dtype)
            ranks = qs * scale
            fixed = ranks < 0
            ranks = xp.where(fixed, xp.zeros((), dtype=a.dtype), ranks)
        else:
            scale = a.dtype.type(n - 1)
            fixed = nan.any(axis=1, keepdims=True)
            ranks = xp.where(fixed, scale, xp.broadcast_to(qs * scale, (flat.shape[0],) + qs.shape))
        if interpolation in ("lower", "higher", "nearest"):
            ranks = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.round}[interpolation](ranks)
        sorted_at = (ranks.astype("int64"),)  # sorted positions: below (and above)
        if interpolation in ("linear", "midpoint"):
            sorted_at += (xp.ceil(ranks).astype("int64"),)
        order, pending = _torch_sort_order(flat, nan, sorted_at)
        picked = tuple(xp.take_along_axis(order, at, axis=1) for at in sorted_at)  # positions within the row
        ctx.shape, ctx.dim, ctx.n, ctx.q_shape, ctx.lead = a.shape, dim, n, q.shape, rows.shape[:-1]
        ctx.picked, ctx.pending = picked, pending
        if pending:  # rows whose ties torch's sort order decides: only the gradient shows it (_break_ties)
            ctx.flat, ctx.sorted_at = flat, sorted_at
        low = xp.take_along_axis(flat, picked[0], axis=1)
        if len(picked) == 1:
            y, ctx.weights = low, None
        else:
            high = xp.take_along_axis(flat, picked[1], axis=1)
            weight = ranks - sorted_at[0].astype(a.dtype) if interpolation == "linear" else \
                xp.full(ranks.shape, 0.5, dtype=a.dtype)
            y = _lerp(xp, low, high, weight)
            ctx.weights = (1 - weight, weight)
            if q_input:
                with _quiet(xp):  # inf - inf: NaN, as torch's
                    ctx.difference = high - low
                ctx.fixed, ctx.scale = fixed, scale
        y = y.reshape(rows.shape[:-1] + qs.shape)
        if keepdim:  # the reduced dim (every dim when dim is None) kept as a 1
            y = xp.expand_dims(y, tuple(range(a.ndim)) if dim is None else dim)
        return y[..., 0] if q.ndim == 0 else xp.moveaxis(y, -1, 0)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        if ctx.pending:
            _break_ties(ctx)
        g = g[..., None] if len(ctx.q_shape) == 0 else xp.moveaxis(g, 0, -1)
        g = g.reshape(ctx.picked[0].shape)  # (rows, k): keepdim's 1s out again
        grad_rows = xp.zeros((g.shape[0], ctx.n), dtype=g.dtype)
        with _quiet(xp):
            parts = [g] if ctx.weights is None else [g * w for w in ctx.weights]
            for at, part in zip(ctx.picked, parts):
                add_at(grad_rows, (xp.arange(g.shape[0])[:, None], at), part)
            grad_rows = grad_rows.reshape(ctx.lead + (ctx.n,))
            grad = grad_rows.reshape(ctx.shape) if ctx.dim is None else xp.moveaxis(grad_rows, -1, ctx.dim)
            if len(ctx.needs_input_grad) == 1:
                return grad
            gq = xp.where(ctx.fixed, xp.zeros((), dtype=g.dtype), g * ctx.difference * ctx.scale)
            gq = gq.sum(axis=0).reshape(ctx.q_shape)
        return (grad if ctx.needs_input_grad[0] else None), gq


def _torch_sort_order(flat, nan, sorted_at):
    """Each row's argsort as torch's CPU sort leaves it, where it matters, and the rows left to do.

    NumPy's stable sort (NaN last) agrees with torch's except in the order of equal elements, which
    std::sort leaves in its own order (ops/tie_order.py). On a row where an element at one of the
    `sorted_at` positions equals a neighbour (NaNs count as equal), that order decides which element
    gets the gradient, and, where the row holds both +0.0 and -0.0, the sign of a zero result: such
    rows are redone here; the others are returned (pending) for backward to redo, if it runs."""
    xp = array_module(flat)
    order = xp.argsort(flat, axis=1, kind="stable")
    ordered = xp.take_along_axis(flat, order, axis=1)
    ordered_nan = xp.take_along_axis(nan, order, axis=1)
    equal_next = (ordered[:, 1:] == ordered[:, :-1]) | (ordered_nan[:, 1:] & ordered_nan[:, :-1])
    false = xp.zeros((flat.shape[0], 1), dtype=bool)
    tied = xp.concatenate([false, equal_next], axis=1) | xp.concatenate([equal_next, false], axis=1)
    redo = xp.zeros(flat.shape[0], dtype=bool)
    for at in sorted_at:
        redo |= xp.take_along_axis(tied, at, axis=1).any(axis=1)
    if not bool(redo.any()):
        return order, []
    zero = flat == 0
    negative_zero = zero & xp.signbit(flat)
    both_zeros = negative_zero.any(axis=1) & (zero & ~negative_zero).any(axis=1)
    now = xp.flatnonzero(redo & both_zeros).tolist()
    if now:
        order = order.copy()
        _redo_rows(order, flat, now)
    return order, xp.flatnonzero(redo & ~both_zeros).tolist()


def _redo_rows(order, flat, rows: list) -> None:
    """order[r] = torch's sort order of flat[r] for each r in rows (in place)."""
    for r in rows:
        order[r] = _row_order(flat, r)


def _break_ties(ctx) -> None:
    """The picked positions of ctx.pending's rows from torch's sort order instead of the stable one."""
    xp = array_module(ctx.flat)
    index = xp.asarray(ctx.pending, dtype="int64")
    order = xp.stack([_row_order(ctx.flat, r) for r in ctx.pending])
    for picked, at in zip(ctx.picked, ctx.sorted_at):
        picked[index] = xp.take_along_axis(order, at[index], axis=1)
    ctx.pending, ctx.flat, ctx.sorted_at = [], None, None


def _row_order(flat, r: int):
    """torch's CPU sort order of row r (std::sort, NaN last), as an array of flat's kind."""
    host = flat[r].get() if hasattr(flat, "get") else flat[r]
    return array_module(flat).asarray(std_sort_order(host, nan_last=True), dtype="int64")
