"""Convolution and max-pooling kernels as plain array expressions (NumPy or CuPy).

The ground truth for conv_cpu.py (Numba) and conv_gpu.py (CuPy RawKernels), which have
the same signatures. Every kernel takes an already padded input plane (N, C, Hp, Wp) and
the window geometry: kernel (kh, kw), stride (sh, sw), dilation (dh, dw) and the output
size (oh, ow), which the caller has checked to fit inside the padded plane.

Column layout of im2col (the one that makes a convolution a single GEMM):
    cols[(c, i, j), (n, y, x)] = xpad[n, c, y * sh + i * dh, x * sw + j * dw]
a (C * kh * kw, N * oh * ow) matrix; the convolution is W (O, C*kh*kw) @ cols.
"""
from __future__ import annotations

from .reference import _xp


def _windows(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int):
    """A strided view (N, C, kh, kw, oh, ow) of every window element, no copy."""
    xp = _xp(xpad)
    sn, sc, sy, sx = xpad.strides
    n, c = xpad.shape[:2]
    return xp.lib.stride_tricks.as_strided(
        xpad, (n, c, kh, kw, oh, ow), (sn, sc, sy * dh, sx * dw, sy * sh, sx * sw)
    )


def im2col(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int):
    """cols (C * kh * kw, N * oh * ow), contiguous, laid out as the module docstring says."""
    xp = _xp(xpad)
    n, c = xpad.shape[:2]
    view = _windows(xpad, kh, kw, sh, sw, dh, dw, oh, ow).transpose(1, 2, 3, 0, 4, 5)
    return xp.ascontiguousarray(view).reshape(c * kh * kw, n * oh * ow)


def col2im(cols, n: int, c: int, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
           oh: int, ow: int):
    """The adjoint of im2col: gx[n, c, y*sh + i*dh, x*sw + j*dw] += cols[(c, i, j), (n, y, x)].

    Overlapping windows (stride < kernel) add up, which is what makes it the gradient of im2col.
    """
    xp = _xp(cols)
    gx = xp.zeros((n, c, hp, wp), dtype=cols.dtype)
    blocks = cols.reshape(c, kh, kw, n, oh, ow)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            gx[:, :, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw] += blocks[:, i, j].transpose(1, 0, 2, 3)
    return gx


def max_pool2d_forward(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int, out=None):
    """(out, argmax), both (N, C, oh, ow): each window's maximum and its flat index y * Wp + x in the plane.

    Ties go to the first element in row-major window order and NaN wins, as in torch.
    The padding must hold -inf so it never wins over a real value. `out`: an array to write
    the maxima into (a captured step's buffer), returned as the first result.
    """
    xp = _xp(xpad)
    n, c, hp, wp = xpad.shape
    view = _windows(xpad, kh, kw, sh, sw, dh, dw, oh, ow).transpose(0, 1, 4, 5, 2, 3)
    flat = view.reshape(n, c, oh, ow, kh * kw)
    k = flat.argmax(axis=-1)
    maxima = xp.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
    i, j = k // kw, k % kw
    y = xp.arange(oh).reshape(oh, 1) * sh + i * dh
    x = xp.arange(ow).reshape(1, ow) * sw + j * dw
    if out is not None:
        out[...] = maxima
        maxima = out
    return maxima, (y * wp + x).astype(xp.int64)


def max_pool2d_backward(g, argmax, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int):
    """gx (N, C, hp, wp): each output gradient added at its window's arg-max (overlaps add up).

    The window (kh, kw, sh, sw, dh, dw) is not needed here (argmax says where); the GPU version
    gathers over the windows that contain each element, and all versions share one signature.
    """
    xp = _xp(g)
    n, c = g.shape[:2]
    plane = xp.arange(n * c, dtype=xp.int64).reshape(n, c, 1, 1) * (hp * wp)
    gx = xp.bincount((argmax + plane).ravel(), weights=g.ravel(), minlength=n * c * hp * wp)
    return gx.astype(g.dtype, copy=False).reshape(n, c, hp, wp)
