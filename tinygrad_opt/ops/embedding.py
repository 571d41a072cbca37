"""Embedding lookup: rows of a weight matrix picked by integer indices."""
from ..autograd import Function
from ..backend import array_module


def scatter_add_rows(xp, target, index, values) -> None:
    """target[index[i]] += values[i] for every i, repeated indices adding up (in place)."""
    if hasattr(xp.add, "at"):  # NumPy, and CuPy >= 12.1
        xp.add.at(target, index, values)
    else:
        import cupyx  # noqa: PLC0415 - older CuPy spells ufunc.at this way

        cupyx.scatter_add(target, index, values)


class Embedding(Function):
    """y[...] = w[index[...]]: a row of w (num_embeddings, dim) for every index.

    dL/dw[r] = sum of g[...] over every position whose index is r (scatter-add), with
        - the padding_idx row left at 0 (that row never learns, as torch);
        - scale_grad_by_freq: each contribution divided by how often its index occurs
          in this batch.
    The indices get no gradient (they are passed as an option, not an input).
    """

    @staticmethod
    def forward(ctx, w, index=None, padding_idx=None, scale_grad_by_freq=False):
        ctx.index, ctx.shape, ctx.options = index, w.shape, (padding_idx, scale_grad_by_freq)
        return w[index]

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        padding_idx, scale_grad_by_freq = ctx.options
        flat_index = ctx.index.reshape(-1)
        rows = g.reshape(-1, ctx.shape[1])
        if scale_grad_by_freq:
            counts = xp.bincount(flat_index, minlength=ctx.shape[0])
            rows = rows / counts[flat_index][:, None].astype(g.dtype)
        grad = xp.zeros(ctx.shape, dtype=g.dtype)
        scatter_add_rows(xp, grad, flat_index, rows)
        if padding_idx is not None:
            grad[padding_idx] = 0
        return grad
