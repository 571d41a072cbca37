"""Padding of the last two axes with torch's non-zero modes (Conv2d's padding_mode)."""
from ..autograd import Function
from ..backend import array_module

# torch's mode name -> NumPy/CuPy pad mode that makes the same numbers
NUMPY_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _source_matrix(xp, size: int, before: int, after: int, mode: str, dtype):
    """S (size + before + after, size) with S[r, s] = 1 where padded row r copies input row s.

    Zero padding rows copy nothing (all-zero rows)."""
    index = xp.arange(size)
    if mode == "zeros":
        source = xp.pad(index, (before, after), mode="constant", constant_values=-1)
    else:
        source = xp.pad(index, (before, after), mode=NUMPY_MODES[mode])
    return (source[:, None] == index[None, :]).astype(dtype)


class Pad2d(Function):
    """y = S_h @ x @ S_w^T plane by plane, S_h and S_w the 0/1 source matrices of the padding:
    row r of the padded plane is a copy of input row s where S[r, s] = 1 ("reflect" mirrors
    without repeating the edge, "replicate" repeats it, "circular" wraps around, "zeros" copies
    nothing). The forward is xp.pad; the gradient is the transpose of that linear map:
        dL/dx = S_h^T @ g @ S_w   (every copy's gradient flows back to the row it copied)
    padding = (left, right, top, bottom), torch's F.pad order for the last two axes.
    """

    @staticmethod
    def forward(ctx, x, padding=(0, 0, 0, 0), mode="zeros"):
        xp = array_module(x)
        left, right, top, bottom = padding
        ctx.padding, ctx.mode, ctx.shape = padding, mode, x.shape
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return xp.pad(x, widths, mode=NUMPY_MODES[mode])

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        left, right, top, bottom = ctx.padding
        h, w = ctx.shape[-2:]
        rows = _source_matrix(xp, h, top, bottom, ctx.mode, g.dtype)
        columns = _source_matrix(xp, w, left, right, ctx.mode, g.dtype)
        return (xp.matmul(xp.matmul(rows.T, g), columns),)
