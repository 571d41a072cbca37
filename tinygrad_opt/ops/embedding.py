"""Embedding lookup: rows of a weight matrix picked by integer indices."""
from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel


class Embedding(Function):
    """y[...] = w[index[...]]: a row of w (num_embeddings, dim) for every index.

    dL/dw[r] = sum of g[...] over every position whose index is r (scatter-add), with
        - the padding_idx row left at 0 (that row never learns, as torch);
        - scale_grad_by_freq: each contribution divided by how often its index occurs
          in this batch.
    The scatter-add is the kernel index_add_rows (NumPy's add.at in the reference).
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
        kernel("index_add_rows", grad)(grad, flat_index, rows)
        if padding_idx is not None:
            grad[padding_idx] = 0
        return grad
