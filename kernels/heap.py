"""Keep the pages of freed large arrays mapped for the next training step instead of handing them back.

glibc's malloc serves a large request from the heap once it has seen a block that size freed
(it raises its mmap threshold up to 32 MiB by itself), and returns the top of the heap to the
OS whenever more than its trim threshold (twice the mmap threshold) lies free there. A training
step frees nearly everything it allocated, so the top goes back to the OS after every step and
the next step touches fresh pages: every page of every activation and im2col chunk is a page
fault (about 3,700 per step of the default CNN at batch 64), and the kernel serialises a
process's faults, so they also keep a second thread from helping.

keep_freed_memory() fixes the two thresholds where glibc's own rule tops out for the mmap
threshold (32 MiB) and the trim threshold at 64 MiB: up to 64 MiB of freed heap stays mapped
and is reused by the next step. Blocks above 32 MiB are still mapped and unmapped one by one.
The engine calls it before its first convolution on the CPU (where steps allocate megabytes) and when
an optimizer is made for parameters on the CPU (an MLP step at batch 4096 faulted in about 6 MB a step);
the environment variable TINYGRAD_OPT_MALLOC=system leaves malloc as it is. It does nothing
where the C library has no mallopt (not glibc).
"""
from __future__ import annotations

import ctypes

from . import environment

ENV_VAR = "TINYGRAD_OPT_MALLOC"
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its sliding mmap threshold on 64-bit systems
TRIM_THRESHOLD = 64 << 20  # free bytes at the heap's top that stay mapped
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)

_applied: bool | None = None  # None: not tried yet


def _mallopt():
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to load, or not glibc
        return None


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; True if malloc now keeps freed memory for reuse."""
    global _applied
    if _applied is None:
        mallopt = _mallopt() if environment.read(ENV_VAR) == "keep" else None
        _applied = bool(mallopt and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    return _applied


def recycles_freed_memory(nbytes: int) -> bool:
    """Whether malloc now serves a block of nbytes from memory freed earlier in the process (keep_freed_memory
    applied and the block below the mmap threshold), not from pages the OS maps afresh."""
    return bool(_applied) and nbytes < MMAP_THRESHOLD
