"""Numba versions of conv_reference.py: im2col, col2im and max pooling as single loops.

Same signatures and results as the reference (bitwise: every kernel only copies, compares
or adds in the reference's order), except max-pool backward, whose reference sums in
float64 (np.bincount), so the two agree to rounding there.
im2col and col2im index 4-D arrays through their strides, so a non-contiguous input (a
transposed view coming out of the previous convolution) needs no copy first. Max pooling
works on image planes (P, H, W): an NCHW input and a channel-major one (a convolution's
output) are both such planes without a copy, and the results keep the input's layout.
Pooling splits its planes over the engine's threads (parallel.py). Anything the loops do
not handle (float16, integers in im2col) the registry hands to the reference (@takes).
Stride-1 im2col/col2im and the 2x2 max pool run loops compiled for the output row length
when rows are short (FIXED_ROW_MAX): an MNIST layer's rows (28, 14, 7) are shorter than a
vectorised loop's startup pays for.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .cpu import _jit
from .parallel import map_split
from .registry import takes

PLANES_GRAIN = 256  # image planes below which a range is not worth a thread of its own


def _float(a) -> bool:
    return a.dtype.char in "fd"


@_jit(nogil=True)
def _im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow, cols):
    n, c = xpad.shape[0], xpad.shape[1]
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                row = (ch * kh + i) * kw + j
                for b in range(n):
                    for y in range(oh):
                        base = (b * oh + y) * ow
                        src = xpad[b, ch, y * sh + i * dh]
                        for x in range(ow):
                            cols[row, base + x] = src[x * sw + j * dw]


@_jit(nogil=True)
def _im2col_unit_stride(xpad, kh, kw, dh, dw, oh, ow, cols):
    """_im2col at stride 1 along the rows: each inner loop copies one contiguous run, which LLVM vectorises."""
    n, c = xpad.shape[0], xpad.shape[1]
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                out = cols[(ch * kh + i) * kw + j]
                offset = j * dw
                for b in range(n):
                    plane = xpad[b, ch]
                    for y in range(oh):
                        base = (b * oh + y) * ow
                        src = plane[y + i * dh]
                        for x in range(ow):
                            out[base + x] = src[offset + x]


FIXED_ROW_MAX = 32  # output rows up to this long get loops compiled for their length (unit_stride_loops)


@lru_cache(maxsize=None)
def unit_stride_loops(ow: int):
    """(im2col, col2im) at stride 1 for output rows of exactly `ow` elements, in _im2col_unit_stride's and
    _col2im_unit_stride's order (same results, bitwise).

    A convolution's rows are short (28, 14, 7 on MNIST), shorter than a loop's vector width: with the
    length a constant LLVM turns each row's copy into a few vector moves, where the general loops spend
    most of their time in loop control. One compiled pair per row length (cached on disk, keyed by it).
    """

    @_jit(nogil=True)
    def im2col_rows(xpad, kh, kw, dh, dw, oh, cols):
        n, c = xpad.shape[0], xpad.shape[1]
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    out = cols[(ch * kh + i) * kw + j]
                    offset = j * dw
                    for b in range(n):
                        plane = xpad[b, ch]
                        for y in range(oh):
                            base = (b * oh + y) * ow
                            src = plane[y + i * dh]
                            for x in range(ow):
                                out[base + x] = src[offset + x]

    @_jit(nogil=True)
    def col2im_rows(cols, kh, kw, dh, dw, oh, gx):
        n, c = gx.shape[0], gx.shape[1]
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    src = cols[(ch * kh + i) * kw + j]
                    offset = j * dw
                    for b in range(n):
                        plane = gx[b, ch]
                        for y in range(oh):
                            base = (b * oh + y) * ow
                            dst = plane[y + i * dh]
                            for x in range(ow):
                                dst[offset + x] += src[base + x]

    return im2col_rows, col2im_rows


@takes(lambda xpad, *geometry: _float(xpad))
def im2col(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int):
    n, c = xpad.shape[:2]
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=xpad.dtype)
    if sh == 1 and sw == 1 and ow <= FIXED_ROW_MAX:
        unit_stride_loops(ow)[0](xpad, kh, kw, dh, dw, oh, cols)
    elif sh == 1 and sw == 1:
        _im2col_unit_stride(xpad, kh, kw, dh, dw, oh, ow, cols)
    else:
        _im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow, cols)
    return cols


@_jit(nogil=True)
def _col2im(cols, kh, kw, sh, sw, dh, dw, oh, ow, gx):
    n, c = gx.shape[0], gx.shape[1]
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                row = (ch * kh + i) * kw + j
                for b in range(n):
                    for y in range(oh):
                        base = (b * oh + y) * ow
                        dst = gx[b, ch, y * sh + i * dh]
                        for x in range(ow):
                            dst[x * sw + j * dw] += cols[row, base + x]


@_jit(nogil=True)
def _col2im_unit_stride(cols, kh, kw, dh, dw, oh, ow, gx):
    """_col2im at stride 1: each inner loop adds one contiguous run (vectorised), in _col2im's order."""
    n, c = gx.shape[0], gx.shape[1]
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                src = cols[(ch * kh + i) * kw + j]
                offset = j * dw
                for b in range(n):
                    plane = gx[b, ch]
                    for y in range(oh):
                        base = (b * oh + y) * ow
                        dst = plane[y + i * dh]
                        for x in range(ow):
                            dst[offset + x] += src[base + x]


@takes(lambda cols, *geometry: _float(cols))
def col2im(cols, n: int, c: int, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
           oh: int, ow: int):
    gx = np.zeros((n, c, hp, wp), dtype=cols.dtype)
    if sh == 1 and sw == 1 and ow <= FIXED_ROW_MAX:
        unit_stride_loops(ow)[1](cols, kh, kw, dh, dw, oh, gx)
    elif sh == 1 and sw == 1:
        _col2im_unit_stride(cols, kh, kw, dh, dw, oh, ow, gx)
    else:
        _col2im(cols, kh, kw, sh, sw, dh, dw, oh, ow, gx)
    return gx


def _planes(a):
    """(planes (P, H, W) C-contiguous, channel_major): a (N, C, H, W) as its image planes without a copy
    when it is NCHW or channel-major (a transposed (C, N, H, W), as a convolution's output is)."""
    n, c, h, w = a.shape
    if not a.flags.c_contiguous and a.swapaxes(0, 1).flags.c_contiguous:
        return a.swapaxes(0, 1).reshape(c * n, h, w), True
    return np.ascontiguousarray(a).reshape(n * c, h, w), False


def _planes_of(out, channel_major: bool):
    """out (N, C, H, W) as C-contiguous planes in the given layout without a copy, or None where it is not laid
    out so (a batch of one image, or one channel, is both layouts at once)."""
    n, c, h, w = out.shape
    view = out.swapaxes(0, 1) if channel_major else out
    return view.reshape(c * n if channel_major else n * c, h, w) if view.flags.c_contiguous else None


def _unplanes(planes, n: int, c: int, channel_major: bool):
    h, w = planes.shape[1:]
    if channel_major:
        return planes.reshape(c, n, h, w).swapaxes(0, 1)
    return planes.reshape(n, c, h, w)


@_jit(nogil=True)
def _max_pool2d_forward(xpad, kh, kw, sh, sw, dh, dw, out, argmax, k0, k1):
    oh, ow = out.shape[1], out.shape[2]
    wp = xpad.shape[2]
    for k in range(k0, k1):
        plane = xpad[k]
        for y in range(oh):
            for x in range(ow):
                y0, x0 = y * sh, x * sw
                best = plane[y0, x0]
                where = y0 * wp + x0
                for i in range(kh):
                    for j in range(kw):
                        v = plane[y0 + i * dh, x0 + j * dw]
                        if v > best or (v != v and best == best):  # the first NaN wins, as in argmax
                            best = v
                            where = (y0 + i * dh) * wp + x0 + j * dw
                out[k, y, x] = best
                argmax[k, y, x] = where


@_jit(nogil=True)
def _max_pool2x2_forward(xpad, out, argmax, k0, k1):
    """The common 2x2 window at stride 2, in _max_pool2d_forward's order, as two vectorisable loops per row:
    the maximum (a NaN anywhere makes it NaN), then the first window element equal to it (or the first
    NaN). Tracking the winner inside the first loop, as the general kernel does, keeps LLVM from
    vectorising it."""
    oh, ow = out.shape[1], out.shape[2]
    wp = xpad.shape[2]
    for k in range(k0, k1):
        for y in range(oh):
            top, bottom = xpad[k, 2 * y], xpad[k, 2 * y + 1]
            row, rowarg = out[k, y], argmax[k, y]
            for x in range(ow):
                a1, a2, a3 = top[2 * x + 1], bottom[2 * x], bottom[2 * x + 1]
                best = top[2 * x]
                best = a1 if (a1 > best) | (a1 != a1) else best
                best = a2 if (a2 > best) | (a2 != a2) else best
                best = a3 if (a3 > best) | (a3 != a3) else best
                row[x] = best
            base = 2 * y * wp
            for x in range(ow):
                best = row[x]
                a0, a1, a2 = top[2 * x], top[2 * x + 1], bottom[2 * x]
                step = wp + 1
                step = wp if (a2 == best) | (a2 != a2) else step
                step = 1 if (a1 == best) | (a1 != a1) else step
                step = 0 if (a0 == best) | (a0 != a0) else step
                rowarg[x] = base + 2 * x + step


@lru_cache(maxsize=None)
def pool2x2_loops(ow: int):
    """(forward, backward) of the 2x2 stride-2 max pool for output rows of exactly `ow` elements, with
    _max_pool2x2_forward's and _max_pool2x2_backward's results (bitwise). With the row length a constant
    LLVM unrolls a row into vector selects, so the arg-max can be picked in the same pass as the maximum
    (the first window element equal to it, or the first NaN) instead of a second loop over the row."""

    @_jit(nogil=True)
    def forward(xpad, out, argmax, k0, k1):
        oh, wp = out.shape[1], xpad.shape[2]
        for k in range(k0, k1):
            for y in range(oh):
                top, bottom = xpad[k, 2 * y], xpad[k, 2 * y + 1]
                row, rowarg = out[k, y], argmax[k, y]
                base = 2 * y * wp
                for x in range(ow):
                    a0, a1, a2, a3 = top[2 * x], top[2 * x + 1], bottom[2 * x], bottom[2 * x + 1]
                    best = a0
                    best = a1 if (a1 > best) | (a1 != a1) else best
                    best = a2 if (a2 > best) | (a2 != a2) else best
                    best = a3 if (a3 > best) | (a3 != a3) else best
                    step = wp + 1
                    step = wp if (a2 == best) | (a2 != a2) else step
                    step = 1 if (a1 == best) | (a1 != a1) else step
                    step = 0 if (a0 == best) | (a0 != a0) else step
                    row[x] = best
                    rowarg[x] = base + 2 * x + step

    @_jit(nogil=True)
    def backward(g, argmax, gx, k0, k1):
        oh, wp = g.shape[1], gx.shape[2]
        zero = g.dtype.type(0)
        for k in range(k0, k1):
            for y in range(oh):
                top, bottom = gx[k, 2 * y], gx[k, 2 * y + 1]
                grow, arow = g[k, y], argmax[k, y]
                for x in range(ow):
                    where = arow[x] - 2 * y * wp - 2 * x
                    v = grow[x]
                    top[2 * x] = v if where == 0 else zero
                    top[2 * x + 1] = v if where == 1 else zero
                    bottom[2 * x] = v if where == wp else zero
                    bottom[2 * x + 1] = v if where == wp + 1 else zero

    return forward, backward


@takes(lambda xpad, *geometry, out=None: xpad.dtype.char in "fdbhilqBHILQ")  # not float16 or bool
def max_pool2d_forward(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int, out=None):
    """The reference's result; out and argmax keep a channel-major input's layout (no transposing copy).
    `out` (a captured step's buffer): written into and returned, directly where its layout is the result's."""
    n, c = xpad.shape[:2]
    planes, channel_major = _planes(xpad)
    given = out
    out = _planes_of(given, channel_major) if given is not None and given.dtype == xpad.dtype else None
    out = np.empty((n * c, oh, ow), dtype=xpad.dtype) if out is None else out
    argmax = np.empty((n * c, oh, ow), dtype=np.int64)
    if (kh, kw, sh, sw, dh, dw) == (2, 2, 2, 2, 1, 1):
        loop = pool2x2_loops(ow)[0] if ow <= FIXED_ROW_MAX else _max_pool2x2_forward
        map_split(lambda k0, k1: loop(planes, out, argmax, k0, k1), n * c, PLANES_GRAIN)
    else:
        map_split(lambda k0, k1: _max_pool2d_forward(planes, kh, kw, sh, sw, dh, dw, out, argmax, k0, k1), n * c,
                  PLANES_GRAIN)
    maxima = _unplanes(out, n, c, channel_major)
    if given is not None:
        if not np.shares_memory(maxima, given):  # a given array of another layout or dtype
            given[...] = maxima
        maxima = given
    return maxima, _unplanes(argmax, n, c, channel_major)


@_jit(nogil=True)
def _max_pool2d_backward(g, argmax, gx, k0, k1):
    oh, ow = g.shape[1], g.shape[2]
    wp = gx.shape[2]
    for k in range(k0, k1):
        for y in range(oh):
            for x in range(ow):
                a = argmax[k, y, x]
                gx[k, a // wp, a % wp] += g[k, y, x]


@_jit(nogil=True)
def _max_pool2x2_backward(g, argmax, gx, k0, k1):
    """2x2 windows at stride 2 that tile the plane: every element of gx written once (no zero fill)."""
    oh, ow = g.shape[1], g.shape[2]
    wp = gx.shape[2]
    zero = g.dtype.type(0)
    for k in range(k0, k1):
        for y in range(oh):
            top, bottom = gx[k, 2 * y], gx[k, 2 * y + 1]
            grow, arow = g[k, y], argmax[k, y]
            for x in range(ow):
                where = arow[x] - 2 * y * wp - 2 * x  # 0, 1, wp or wp + 1 within the window
                v = grow[x]
                top[2 * x] = v if where == 0 else zero
                top[2 * x + 1] = v if where == 1 else zero
                bottom[2 * x] = v if where == wp else zero
                bottom[2 * x + 1] = v if where == wp + 1 else zero


@takes(lambda g, argmax, hp, wp, *window: _float(g))
def max_pool2d_backward(g, argmax, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int):
    """The reference's result, in argmax's layout (channel-major stays channel-major)."""
    n, c = g.shape[:2]
    arg, channel_major = _planes(argmax)
    grad = np.ascontiguousarray(g.swapaxes(0, 1) if channel_major else g).reshape(arg.shape)
    if (kh, kw, sh, sw, dh, dw) == (2, 2, 2, 2, 1, 1) and (hp, wp) == (2 * g.shape[2], 2 * g.shape[3]):
        gx = np.empty((n * c, hp, wp), dtype=g.dtype)
        loop = pool2x2_loops(g.shape[3])[1] if g.shape[3] <= FIXED_ROW_MAX else _max_pool2x2_backward
        map_split(lambda k0, k1: loop(grad, arg, gx, k0, k1), n * c, PLANES_GRAIN)
    else:
        gx = np.zeros((n * c, hp, wp), dtype=g.dtype)
        map_split(lambda k0, k1: _max_pool2d_backward(grad, arg, gx, k0, k1), n * c, PLANES_GRAIN)
    return _unplanes(gx, n, c, channel_major)
