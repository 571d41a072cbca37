"""2-D convolution as one graph node: im2col, one GEMM per group, col2im in backward."""
import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel
from ..kernels.blas_threads import before_gemm
from ..kernels.heap import keep_freed_memory
from ..kernels.parallel import map_chunks
from .channel_layout import channel_major


def pad_zeros(x, padding):
    """x (N, C, H, W) with `padding` = (top, bottom, left, right) zeros around each plane."""
    top, bottom, left, right = padding
    if not (top or bottom or left or right):
        return x
    xp = array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


INNER_BLOCK = 2048  # columns per partial product when the weight gradient is a thin matrix


def weight_gradient(xp, cols, g_mat):
    """G_g @ cols_g^T for every group, (groups, Og, K), computed as (cols_g @ G_g^T)^T.

    Both factors are short and very wide (K or Og rows, N*oh*ow columns). OpenBLAS runs that
    product slowly when the result is tiny (a first layer's K = kh*kw), so thin cases add up
    partial products over blocks of INNER_BLOCK columns, which it runs tens of times faster.
    The blocks go to one batched product (one call: the GIL is let go once, not per block,
    which matters when the engine's threads run several chunks' products at once), summed in
    block order, plus one product for the columns left over.
    """
    groups, k, length = cols.shape
    og = g_mat.shape[1]
    if xp is not np or k * og >= 4096 or length <= INNER_BLOCK:
        return xp.matmul(cols, g_mat.transpose(0, 2, 1)).transpose(0, 2, 1)
    blocks = length // INNER_BLOCK
    whole = blocks * INNER_BLOCK
    col_blocks = cols[:, :, :whole].reshape(groups, k, blocks, INNER_BLOCK).transpose(0, 2, 1, 3)
    g_blocks = g_mat[:, :, :whole].reshape(groups, og, blocks, INNER_BLOCK).transpose(0, 2, 3, 1)
    out = np.matmul(col_blocks, g_blocks).sum(axis=1)
    if whole < length:
        out += np.matmul(cols[:, :, whole:], g_mat[:, :, whole:].transpose(0, 2, 1))
    return out.transpose(0, 2, 1)


CHUNK_BYTES = 2 << 20  # im2col columns per chunk of images: they stay in cache between im2col and the GEMM


MIN_CHUNKS = 8  # so that a few threads share even a small batch's work (fixed: results must not depend on them)


def image_chunks(xp, n: int, bytes_per_image: int):
    """(start, stop) ranges of images whose columns take about CHUNK_BYTES, at least MIN_CHUNKS of
    them when there are that many images; one range on a GPU, where the whole batch in one GEMM
    keeps the device busy and memory traffic is cheap."""
    if xp is not np:
        return [(0, n)]
    step = min(max(1, CHUNK_BYTES // max(bytes_per_image, 1)), max(1, -(-n // MIN_CHUNKS)))
    return [(start, min(n, start + step)) for start in range(0, n, step)]


class Conv2d(Function):
    """y[n, o, p, q] = b[o] + sum_{c, i, j} W[o, c, i, j] * xpad[n, g*Cg + c, p*sh + i*dh, q*sw + j*dw]

    with o in group g, Cg = C / groups input channels per group and xpad the input with
    zero padding (top, bottom, left, right). With cols = im2col(xpad) (rows (c, i, j),
    columns (n, p, q)) and W_g the (Og, Cg*kh*kw) matrix of group g, the forward is one
    GEMM per group: Y_g = W_g @ cols_g (+ b). Backward, with G_g the output gradient as an
    (Og, N*oh*ow) matrix:
        dL/dW_g    = G_g @ cols_g^T                       (one GEMM; cols rebuilt from the saved x)
        dL/db      = sum over (n, p, q) of G
        dL/dcols_g = W_g^T @ G_g, and dL/dx = col2im(dL/dcols), cropped to x: each window
                     element's gradient is added back where im2col read it (overlaps add up).
    On the CPU both passes run over chunks of images (image_chunks), handed out to the
    engine's threads (kernels/parallel.py): the columns of a chunk are built, multiplied and
    dropped while they are still in cache, and the full (C*kh*kw, N*oh*ow) matrix, kh*kw
    times the input's size, never exists. dL/dW adds the chunks' partial products in chunk
    order, so the result does not depend on the thread count.
    out (tg.compile's replay): an array shaped and laid out as the output (channel-major) to
    write it into.
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1, out=None):
        xp = array_module(x)
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        (sh, sw), (dh, dw) = stride, dilation
        top, bottom, left, right = padding
        hp, wp = h + top + bottom, wd + left + right
        oh = (hp - dh * (kh - 1) - 1) // sh + 1
        ow = (wp - dw * (kw - 1) - 1) // sw + 1
        k, length = cg * kh * kw, oh * ow
        w_mat = w.reshape(groups, o // groups, k)
        dtype = xp.result_type(x, w)
        into_out = out is not None and out.dtype == dtype and out.shape == (n, o, oh, ow) and channel_major(out)
        if into_out:
            y = out.transpose(1, 0, 2, 3).reshape(groups, o // groups, n * length)  # a view: out's memory
        else:
            y = xp.empty((groups, o // groups, n * length), dtype=dtype)
        im2col = kernel("im2col", x)
        if xp is np:  # steps of megabyte-sized arrays: reuse freed pages instead of faulting in new ones
            keep_freed_memory()

        def chunk(start: int, stop: int) -> None:
            xpad = pad_zeros(x[start:stop], padding)
            cols = im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow)
            xp.matmul(w_mat, cols.reshape(groups, k, -1), out=y[:, :, start * length:stop * length])

        before_gemm()
        map_chunks(chunk, image_chunks(xp, n, groups * k * length * x.itemsize))
        if b is not None:
            y += b.reshape(groups, o // groups, 1)
        # backward rebuilds cols from x: holding x costs 1 / (kh*kw) of holding cols between the passes
        ctx.x, ctx.w, ctx.groups, ctx.has_bias = x, w, groups, b is not None
        ctx.geometry = (n, c, h, wd, hp, wp, kh, kw, sh, sw, dh, dw, oh, ow, padding)
        # (O, N, oh, ow) in memory, seen as (N, O, oh, ow): no transpose copy of the output
        result = y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
        if out is None:
            return result
        if not into_out:  # out has another layout (a batch of one image is both NCHW and channel-major)
            out[...] = result
        return out

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        n, c, h, wd, hp, wp, kh, kw, sh, sw, dh, dw, oh, ow, padding = ctx.geometry
        top, left = padding[0], padding[2]
        w, groups = ctx.w, ctx.groups
        o = w.shape[0]
        k, length = w.shape[1] * kh * kw, oh * ow
        # channel-major g (as batch norm and pooling hand it back) needs no copy here
        g_mat = xp.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(groups, o // groups, n * length)
        w_mat = w.reshape(groups, o // groups, k)
        needs = ctx.needs_input_grad
        gx = None
        if needs[0]:  # in x's layout: a channel-major x (a pooled conv output) gets a channel-major gradient
            gx = (xp.empty((c, n, h, wd), dtype=g.dtype).transpose(1, 0, 2, 3) if channel_major(ctx.x)
                  else xp.empty((n, c, h, wd), dtype=g.dtype))
        im2col, col2im = kernel("im2col", g), kernel("col2im", g)

        def chunk(start: int, stop: int):
            """This chunk's share of dL/dx (written into gx) and its partial dL/dW (returned)."""
            g_chunk = g_mat[:, :, start * length:stop * length]
            if needs[0]:
                gcols = xp.matmul(w_mat.transpose(0, 2, 1), g_chunk).reshape(groups * k, -1)
                gpad = col2im(gcols, stop - start, c, hp, wp, kh, kw, sh, sw, dh, dw, oh, ow)
                gx[start:stop] = gpad[:, :, top:top + h, left:left + wd]
            if needs[1]:
                xpad = pad_zeros(ctx.x[start:stop], padding)
                cols = im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow).reshape(groups, k, -1)
                return weight_gradient(xp, cols, g_chunk)
            return None

        before_gemm()
        partials = map_chunks(chunk, image_chunks(xp, n, groups * k * length * g.itemsize))
        gw = None
        if needs[1]:
            gw = sum(partials[1:], partials[0]) if partials else xp.zeros((groups, o // groups, k), g.dtype)
            gw = gw.reshape(w.shape)
        gb = g_mat.sum(axis=2).reshape(o) if ctx.has_bias and needs[2] else None
        return (gx, gw, gb) if ctx.has_bias else (gx, gw)
