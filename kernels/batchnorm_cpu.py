"""Numba versions of batchnorm_reference.py: statistics and forward in one pass each, backward in two per channel.

Same signatures as the reference and equal to it to rounding: the sums run channel block
by channel block in float64 (the reference lets NumPy choose its summation order), and
every per-element value is computed in float64 and rounded once, as there.
Each loop walks x3[a, c], a contiguous row, so LLVM vectorises it; float32 and float64
C-contiguous blocks are taken, anything else runs the reference (@takes).
"""
from __future__ import annotations

import numpy as np

from .cpu import _jit
from .parallel import map_split
from .registry import takes

GRAIN = 1 << 16  # elements below which a range of channels is not worth a thread of its own


def _blocks(*arrays) -> bool:
    """Float32/float64 (A, C, L) blocks of one dtype and shape, C-contiguous."""
    first = arrays[0]
    return (first.dtype.char in "fd" and first.ndim == 3
            and all(a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays))


@_jit(fastmath={"reassoc"}, nogil=True)
def _shifted_sums(x3, first, second, c0, c1):
    """Per channel c, with k = x3[0, c, 0]: first[c] = sum(x - k), second[c] = sum((x - k)**2) in float64.

    One pass; shifting by a sample of the channel keeps var = second/m - (first/m)**2 free of
    the cancellation that plain sums of squares suffer when the mean is large against the spread.
    """
    blocks, length = x3.shape[0], x3.shape[2]
    for c in range(c0, c1):
        k = np.float64(x3[0, c, 0])
        s1 = 0.0
        s2 = 0.0
        for a in range(blocks):
            row = x3[a, c]
            for i in range(length):
                d = np.float64(row[i]) - k
                s1 += d
                s2 += d * d
        first[c] = s1
        second[c] = s2


@takes(lambda x3: _blocks(x3) and x3.size > 0)
def batch_norm_stats(x3):
    channels = x3.shape[1]
    m = x3.shape[0] * x3.shape[2]
    first, second = np.empty(channels), np.empty(channels)
    map_split(lambda c0, c1: _shifted_sums(x3, first, second, c0, c1), channels, GRAIN // max(m, 1))
    shift_mean = first / m
    var = np.maximum(second / m - shift_mean * shift_mean, 0.0)
    return x3[0, :, 0].astype(np.float64) + shift_mean, var


@_jit(nogil=True)
def _affine(x3, scale, shift, relu, y3, c0, c1):
    blocks, length = x3.shape[0], x3.shape[2]
    for a in range(blocks):
        for c in range(c0, c1):
            s, t = scale[c], shift[c]
            row, out = x3[a, c], y3[a, c]
            if relu:
                for i in range(length):
                    v = np.float64(row[i]) * s + t
                    out[i] = 0.0 if v < 0.0 else v
            else:
                for i in range(length):
                    out[i] = np.float64(row[i]) * s + t


@takes(lambda x3, scale, shift, relu, out=None: _blocks(x3) if out is None else _blocks(x3, out))
def batch_norm_forward(x3, scale, shift, relu: bool, out=None):
    y3 = np.empty_like(x3) if out is None else out
    relu = bool(relu)
    map_split(lambda c0, c1: _affine(x3, scale, shift, relu, y3, c0, c1), x3.shape[1],
              GRAIN // max(x3.shape[0] * x3.shape[2], 1))
    return y3


@_jit(fastmath={"reassoc"}, nogil=True)
def _backward_sums(g3, x3, mean, invstd, scale, shift, relu, g_sum, gxhat_sum, c0, c1):
    blocks, length = x3.shape[0], x3.shape[2]
    for c in range(c0, c1):
        m, r, s, t = mean[c], invstd[c], scale[c], shift[c]
        sg = 0.0
        sgx = 0.0
        for a in range(blocks):
            grow, xrow = g3[a, c], x3[a, c]
            for i in range(length):
                x = np.float64(xrow[i])
                gv = np.float64(grow[i])
                if relu:
                    gv = 0.0 if x * s + t <= 0.0 else gv  # as relu_backward: a NaN y passes g
                sg += gv
                sgx += gv * ((x - m) * r)
        g_sum[c] = sg
        gxhat_sum[c] = sgx


@_jit(nogil=True)
def _backward_input(g3, x3, mean, invstd, scale, shift, relu, g_mean, gxhat_mean, gx3, c0, c1):
    """gx = scale * (gm - g_mean - xhat * gxhat_mean); the means are 0 outside training."""
    blocks, length = x3.shape[0], x3.shape[2]
    for a in range(blocks):
        for c in range(c0, c1):
            m, r, s, t = mean[c], invstd[c], scale[c], shift[c]
            gmc, gxc = g_mean[c], gxhat_mean[c]
            grow, xrow, out = g3[a, c], x3[a, c], gx3[a, c]
            for i in range(length):
                x = np.float64(xrow[i])
                gv = np.float64(grow[i])
                if relu:
                    gv = 0.0 if x * s + t <= 0.0 else gv  # as relu_backward: a NaN y passes g
                out[i] = s * (gv - gmc - (x - m) * r * gxc)


@_jit(nogil=True)
def _backward_by_channel(g3, x3, mean, invstd, scale, shift, relu, training, g_sum, gxhat_sum, g_mean, gxhat_mean,
                         gx3, c0, c1):
    """_backward_sums, then _backward_input, one channel at a time: the channel's g and x, which the sums
    read, are still in cache when the input pass reads them again (a channel of a batch-256 MNIST
    convolution is 0.8 MB each), where two passes over all channels read both from memory twice."""
    m = x3.shape[0] * x3.shape[2]
    for c in range(c0, c1):
        _backward_sums(g3, x3, mean, invstd, scale, shift, relu, g_sum, gxhat_sum, c, c + 1)
        g_mean[c] = g_sum[c] / m if training else 0.0
        gxhat_mean[c] = gxhat_sum[c] / m if training else 0.0
        _backward_input(g3, x3, mean, invstd, scale, shift, relu, g_mean, gxhat_mean, gx3, c, c + 1)


@takes(lambda g3, x3, *rest, out=None: _blocks(g3, x3) if out is None else _blocks(g3, x3, out))
def batch_norm_backward(g3, x3, mean, invstd, scale, shift, relu: bool, training: bool, want_gx: bool, out=None):
    channels = x3.shape[1]
    m = x3.shape[0] * x3.shape[2]
    relu = bool(relu)
    g_sum, gxhat_sum = np.empty(channels), np.empty(channels)
    if not want_gx:
        map_split(lambda c0, c1: _backward_sums(g3, x3, mean, invstd, scale, shift, relu, g_sum, gxhat_sum, c0, c1),
                  channels, GRAIN // max(m, 1))
        return None, g_sum, gxhat_sum
    g_mean, gxhat_mean = np.empty(channels), np.empty(channels)  # the sums / m in training, else 0
    gx3 = np.empty_like(g3) if out is None else out
    map_split(lambda c0, c1: _backward_by_channel(g3, x3, mean, invstd, scale, shift, relu, bool(training), g_sum,
                                                  gxhat_sum, g_mean, gxhat_mean, gx3, c0, c1),
              channels, GRAIN // max(m, 1))
    return gx3, g_sum, gxhat_sum
