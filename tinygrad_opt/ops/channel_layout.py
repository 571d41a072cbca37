"""Channel blocks: an (N, C, *spatial) array as a C-contiguous (A, C, L) array without a copy.

A convolution's GEMM leaves its output channel-major in memory, (C, N, H, W) seen as
(N, C, H, W) through a transpose; everything else is usually NCHW (C-contiguous). Per-channel
kernels (batch norm) and per-plane kernels (pooling) work on either without copying:
    NCHW          -> (N, C, H*W)          blocks[a, c] is image a's plane of channel c
    channel-major -> (1, C, N*H*W)        blocks[0, c] is all of channel c
and they write their result in the same layout, so a chain of such ops never transposes.
Any other strides are copied to NCHW first.
"""
from __future__ import annotations

from ..backend import array_module


def channel_major(x) -> bool:
    """Whether x (N, C, ...) is laid out as a C-contiguous (C, N, ...) array."""
    return x.ndim >= 2 and x.swapaxes(0, 1).flags.c_contiguous and not x.flags.c_contiguous


def to_blocks(x):
    """(blocks (A, C, L), channel_major): x as channel blocks, a view unless x had other strides."""
    n, c = x.shape[:2]
    if channel_major(x):
        return x.swapaxes(0, 1).reshape(1, c, -1), True
    if not x.flags.c_contiguous:
        x = array_module(x).ascontiguousarray(x)
    return x.reshape(n, c, -1), False


def from_blocks(blocks, shape: tuple, channel_major_layout: bool):
    """The (N, C, *spatial) array `shape` whose memory is `blocks` (laid out as to_blocks gave it)."""
    if channel_major_layout:
        return blocks.reshape((shape[1], shape[0]) + tuple(shape[2:])).swapaxes(0, 1)
    return blocks.reshape(shape)


def like_blocks(g, channel_major_layout: bool):
    """g (N, C, ...) as channel blocks in the given layout (a copy only where g's layout differs)."""
    xp = array_module(g)
    n, c = g.shape[:2]
    if channel_major_layout:
        return xp.ascontiguousarray(g.swapaxes(0, 1)).reshape(1, c, -1)
    return xp.ascontiguousarray(g).reshape(n, c, -1)
