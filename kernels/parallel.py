"""Run a function over index ranges on the engine's threads: a convolution's image chunks, the
channels of a batch norm, the planes of a pooling.

Ranges are handed out one at a time, so a thread the scheduler puts aside on a busy machine
holds back only the range it is on (BLAS's static split would stall the whole product). The
calling thread takes ranges too, and each worker is woken once per call and then takes ranges
until none are left: handing each range to the pool as a task of its own cost a wake-up per
range, more than the smaller ranges take to run.
While the ranges run on several threads, each matrix product in them runs on its own thread.
The thread count is blas_threads.engine_threads() (every core unless a fixed policy says
otherwise; with one, the ranges run in order on the caller's thread). The Numba loops called
here are compiled with nogil=True, so they run in parallel with each other.
"""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from .blas_threads import engine_threads, engine_threads_started, single_blas_thread
from .denormal import follow_flush_denormal

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None  # a forked child cannot use its parent's worker threads: it makes its own
_region = threading.local()  # .active: this thread is running chunks of a map_chunks call


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid() or _pool._max_workers != threads:
        if _pool is not None and _pool_pid == os.getpid():
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tinygrad_opt")
        _pool_pid = os.getpid()
    return _pool


def map_chunks(fn: Callable[[int, int], object], chunks: Sequence[tuple[int, int]]) -> list:
    """[fn(start, stop) for each chunk], on the engine's threads (the caller's among them) when there
    are several chunks. No chunk is still running when it returns or raises (the first error).
    Called from inside a chunk, it runs its chunks in order on that thread."""
    threads = min(engine_threads(), len(chunks))
    if threads <= 1 or getattr(_region, "active", False):
        return [fn(start, stop) for start, stop in chunks]
    engine_threads_started()
    results: list = [None] * len(chunks)
    tickets = itertools.count()  # next() on it is atomic: each chunk goes to exactly one thread

    def take_chunks() -> None:
        _region.active = True
        try:
            for i in tickets:
                if i >= len(chunks):
                    return
                results[i] = fn(*chunks[i])
        finally:
            _region.active = False

    with single_blas_thread():
        pool = _executor(engine_threads() - 1)
        helpers = [pool.submit(_in_flush_mode, take_chunks) for _ in range(threads - 1)]
        try:
            take_chunks()
        finally:
            errors = [helper.exception() for helper in helpers]  # waits for each helper to finish
        for error in errors:
            if error is not None:
                raise error
    return results


def _in_flush_mode(work: Callable[[], None]) -> None:
    follow_flush_denormal()  # a worker keeps the float mode it was created with unless told otherwise
    work()


def split(count: int, parts: int) -> list[tuple[int, int]]:
    """range(count) as `parts` contiguous (start, stop) ranges of nearly equal size (fewer if count is small)."""
    parts = max(1, min(parts, count))
    return [(count * i // parts, count * (i + 1) // parts) for i in range(parts)]


def map_split(fn: Callable[[int, int], object], count: int, grain: int = 1) -> list:
    """fn over range(count) split into a few ranges per engine thread (none shorter than `grain`)."""
    threads = engine_threads()
    parts = 1 if threads <= 1 else min(4 * threads, max(1, count // max(grain, 1)))
    return map_chunks(fn, split(count, parts))
