"""Numba versions of conv_reference.py: im2col, col2im and max pooling as single loops.

Same signatures and results as the reference (bitwise: every kernel only copies, compares
or adds in the reference's order), except max-pool backward, whose reference sums in
float64 (np.bincount), so the two agree to rounding there.
The loops index 4-D arrays through their strides, so a non-contiguous input (a transposed
view coming out of the previous convolution) needs no copy first. Anything the loops do
not handle (float16, integers in im2col) the registry hands to the reference (@takes).
"""
from __future__ import annotations

import numpy as np

from .cpu import _jit
from .registry import takes


def _float(a) -> bool:
    return a.dtype.char in "fd"


@_jit()
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


@takes(lambda xpad, *geometry: _float(xpad))
def im2col(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int):
    n, c = xpad.shape[:2]
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=xpad.dtype)
    _im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow, cols)
    return cols


@_jit()
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


@takes(lambda cols, *geometry: _float(cols))
def col2im(cols, n: int, c: int, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
           oh: int, ow: int):
    gx = np.zeros((n, c, hp, wp), dtype=cols.dtype)
    _col2im(cols, kh, kw, sh, sw, dh, dw, oh, ow, gx)
    return gx


@_jit()
def _max_pool2d_forward(xpad, kh, kw, sh, sw, dh, dw, out, argmax):
    n, c, oh, ow = out.shape
    wp = xpad.shape[3]
    for b in range(n):
        for ch in range(c):
            plane = xpad[b, ch]
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
                    out[b, ch, y, x] = best
                    argmax[b, ch, y, x] = where


@_jit()
def _max_pool2x2_forward(xpad, out, argmax):
    """The common 2x2 window at stride 2: four comparisons unrolled, in _max_pool2d_forward's order."""
    n, c, oh, ow = out.shape
    wp = xpad.shape[3]
    for b in range(n):
        for ch in range(c):
            plane = xpad[b, ch]
            for y in range(oh):
                top, bottom = plane[2 * y], plane[2 * y + 1]
                for x in range(ow):
                    x0 = 2 * x
                    best, where = top[x0], 2 * y * wp + x0
                    v = top[x0 + 1]
                    if v > best or (v != v and best == best):
                        best, where = v, 2 * y * wp + x0 + 1
                    v = bottom[x0]
                    if v > best or (v != v and best == best):
                        best, where = v, (2 * y + 1) * wp + x0
                    v = bottom[x0 + 1]
                    if v > best or (v != v and best == best):
                        best, where = v, (2 * y + 1) * wp + x0 + 1
                    out[b, ch, y, x] = best
                    argmax[b, ch, y, x] = where


@takes(lambda xpad, *geometry: xpad.dtype.char in "fdbhilqBHILQ")  # not float16 or bool
def max_pool2d_forward(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int):
    n, c = xpad.shape[:2]
    out = np.empty((n, c, oh, ow), dtype=xpad.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.int64)
    if (kh, kw, sh, sw, dh, dw) == (2, 2, 2, 2, 1, 1):
        _max_pool2x2_forward(xpad, out, argmax)
    else:
        _max_pool2d_forward(xpad, kh, kw, sh, sw, dh, dw, out, argmax)
    return out, argmax


@_jit()
def _max_pool2d_backward(g, argmax, gx):
    n, c, oh, ow = g.shape
    wp = gx.shape[3]
    for b in range(n):
        for ch in range(c):
            for y in range(oh):
                for x in range(ow):
                    a = argmax[b, ch, y, x]
                    gx[b, ch, a // wp, a % wp] += g[b, ch, y, x]


@takes(lambda g, argmax, hp, wp, *window: _float(g))
def max_pool2d_backward(g, argmax, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int):
    gx = np.zeros(g.shape[:2] + (hp, wp), dtype=g.dtype)
    _max_pool2d_backward(g, argmax, gx)
    return gx
