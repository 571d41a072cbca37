"""CuPy RawKernels for conv_reference.py on CUDA arrays: im2col, col2im and max pooling.

One thread per output element, in grid-stride loops. col2im and the max-pool backward
gather instead of scattering: each input element sums the window elements that read it,
so there are no atomics and the result does not depend on thread scheduling. The GEMMs
around them stay with cuBLAS (ops/conv.py calls cupy.matmul).

col2im adds its terms in the reference's order (kernel offset (i, j) ascending) and
everything is compiled with --fmad=false, so im2col, col2im and the max-pool forward equal
the reference bit for bit; the max-pool backward accumulates in double as the reference's
np.bincount does, but in another order, so it agrees to rounding.
"""
from __future__ import annotations

import cupy as cp
import numpy as np

from .registry import takes

_OPTIONS = ("--fmad=false",)
_THREADS = 256
_MAX_BLOCKS = 65535
_kernels: dict[str, object] = {}

_GEOMETRY = "int kh, int kw, int sh, int sw, int dh, int dw, long long oh, long long ow"

_IM2COL = r"""
extern "C" __global__ void tg_im2col_${T}(const ${T}* x, ${T}* cols, long long n, long long c, long long hp,
                                          long long wp, """ + _GEOMETRY + r""", long long total) {
    long long columns = n * oh * ow;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long col = k % columns, row = k / columns;
        long long xo = col % ow, yo = (col / ow) % oh, b = col / (ow * oh);
        long long j = row % kw, i = (row / kw) % kh, ch = row / (kw * kh);
        cols[k] = x[((b * c + ch) * hp + yo * sh + i * dh) * wp + xo * sw + j * dw];
    }
}
"""

_COL2IM = r"""
extern "C" __global__ void tg_col2im_${T}(const ${T}* cols, ${T}* gx, long long n, long long c, long long hp,
                                          long long wp, """ + _GEOMETRY + r""", long long total) {
    long long columns = n * oh * ow;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long x = k % wp, y = (k / wp) % hp, ch = (k / (wp * hp)) % c, b = k / (wp * hp * c);
        ${T} sum = 0;
        for (int i = 0; i < kh; ++i) {
            long long ty = y - (long long)i * dh;
            if (ty < 0 || ty % sh) continue;
            long long yo = ty / sh;
            if (yo >= oh) continue;
            for (int j = 0; j < kw; ++j) {
                long long tx = x - (long long)j * dw;
                if (tx < 0 || tx % sw) continue;
                long long xo = tx / sw;
                if (xo >= ow) continue;
                sum += cols[((ch * kh + i) * kw + j) * columns + (b * oh + yo) * ow + xo];
            }
        }
        gx[k] = sum;
    }
}
"""

_MAX_POOL_FORWARD = r"""
extern "C" __global__ void tg_max_pool_fwd_${T}(const ${T}* x, ${T}* out, long long* argmax, long long hp,
                                                long long wp, """ + _GEOMETRY + r""", long long total) {
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long xo = k % ow, yo = (k / ow) % oh, plane = k / (ow * oh);
        const ${T}* p = x + plane * hp * wp;
        long long y0 = yo * sh, x0 = xo * sw;
        ${T} best = p[y0 * wp + x0];
        long long where = y0 * wp + x0;
        for (int i = 0; i < kh; ++i) {
            for (int j = 0; j < kw; ++j) {
                long long at = (y0 + (long long)i * dh) * wp + x0 + (long long)j * dw;
                ${T} v = p[at];
                if (v > best || (v != v && best == best)) { best = v; where = at; }  // the first NaN wins
            }
        }
        out[k] = best;
        argmax[k] = where;
    }
}
"""

_MAX_POOL_BACKWARD = r"""
extern "C" __global__ void tg_max_pool_bwd_${T}(const ${T}* g, const long long* argmax, ${T}* gx, long long hp,
                                                long long wp, """ + _GEOMETRY + r""", long long total) {
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long at = k % (hp * wp), plane = k / (hp * wp);
        long long x = at % wp, y = at / wp;
        double sum = 0;
        for (int i = 0; i < kh; ++i) {
            long long ty = y - (long long)i * dh;
            if (ty < 0 || ty % sh) continue;
            long long yo = ty / sh;
            if (yo >= oh) continue;
            for (int j = 0; j < kw; ++j) {
                long long tx = x - (long long)j * dw;
                if (tx < 0 || tx % sw) continue;
                long long xo = tx / sw;
                if (xo >= ow) continue;
                long long o = (plane * oh + yo) * ow + xo;
                if (argmax[o] == at) sum += (double)g[o];
            }
        }
        gx[k] = (${T})sum;
    }
}
"""


def _raw(name: str, source: str, dtype):
    ctype = "float" if dtype == np.float32 else "double"
    key = f"{name}_{ctype}"
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = cp.RawKernel(source.replace("${T}", ctype), key, options=_OPTIONS)
        _kernels[key] = kernel
    return kernel


def _launch(kernel, total: int, args: tuple) -> None:
    if total:
        blocks = min((total + _THREADS - 1) // _THREADS, _MAX_BLOCKS)
        kernel((blocks,), (_THREADS,), args + (np.int64(total),))


def _geometry(kh, kw, sh, sw, dh, dw, oh, ow) -> tuple:
    return tuple(np.int32(v) for v in (kh, kw, sh, sw, dh, dw)) + (np.int64(oh), np.int64(ow))


def _float(a) -> bool:
    return a.dtype in (np.float32, np.float64)


@takes(lambda xpad, *geometry: _float(xpad))
def im2col(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int):
    xpad = cp.ascontiguousarray(xpad)
    n, c, hp, wp = xpad.shape
    cols = cp.empty((c * kh * kw, n * oh * ow), dtype=xpad.dtype)
    _launch(_raw("tg_im2col", _IM2COL, xpad.dtype), cols.size,
            (xpad, cols, np.int64(n), np.int64(c), np.int64(hp), np.int64(wp), *_geometry(kh, kw, sh, sw, dh, dw,
                                                                                          oh, ow)))
    return cols


@takes(lambda cols, *geometry: _float(cols))
def col2im(cols, n: int, c: int, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
           oh: int, ow: int):
    cols = cp.ascontiguousarray(cols)
    gx = cp.empty((n, c, hp, wp), dtype=cols.dtype)
    _launch(_raw("tg_col2im", _COL2IM, cols.dtype), gx.size,
            (cols, gx, np.int64(n), np.int64(c), np.int64(hp), np.int64(wp), *_geometry(kh, kw, sh, sw, dh, dw,
                                                                                        oh, ow)))
    return gx


@takes(lambda xpad, *geometry, out=None: _float(xpad))
def max_pool2d_forward(xpad, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int, out=None):
    xpad = cp.ascontiguousarray(xpad)
    n, c, hp, wp = xpad.shape
    given = out
    out = out if out is not None and out.flags.c_contiguous else cp.empty((n, c, oh, ow), dtype=xpad.dtype)
    argmax = cp.empty((n, c, oh, ow), dtype=cp.int64)
    _launch(_raw("tg_max_pool_fwd", _MAX_POOL_FORWARD, xpad.dtype), out.size,
            (xpad, out, argmax, np.int64(hp), np.int64(wp), *_geometry(kh, kw, sh, sw, dh, dw, oh, ow)))
    if given is not None and given is not out:  # a given array of another layout
        given[...] = out
        out = given
    return out, argmax


@takes(lambda g, argmax, hp, wp, *window: _float(g))
def max_pool2d_backward(g, argmax, hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int):
    g, argmax = cp.ascontiguousarray(g), cp.ascontiguousarray(argmax)
    n, c, oh, ow = g.shape
    gx = cp.empty((n, c, hp, wp), dtype=g.dtype)
    _launch(_raw("tg_max_pool_bwd", _MAX_POOL_BACKWARD, g.dtype), gx.size,
            (g, argmax, gx, np.int64(hp), np.int64(wp), *_geometry(kh, kw, sh, sw, dh, dw, oh, ow)))
    return gx
