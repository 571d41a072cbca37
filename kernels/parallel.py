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

from . import environment
from .blas_threads import (_blas, engine_threads, engine_threads_started, machine_overloaded, restart_blas_threads,
                           single_blas_thread)
from .denormal import blas_threads_restarted, follow_flush_denormal

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None  # a forked child cannot use its parent's worker threads: it makes its own


class _Region(threading.local):
    """.active: this thread is running chunks of a map_chunks call (or keeps its work to itself)."""

    active = False  # every thread's starting value; a class attribute, so reading it never raises AttributeError


_region = _Region()


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
    if threads <= 1 or _region.active:
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


# ---- one piece of work run by the caller and a resident helper thread at once -------------------------
# The optimizer updates: one pass over every parameter of a group, a few hundred microseconds at most.
# A pool task costs tens of microseconds to hand out and to wait for; a resident helper woken through a
# lock costs less, but on a virtual machine still tens of microseconds each way, so the caller does not
# wait to be woken at the end: the work reports its own end (share's `finished`). The work coordinates itself: a Numba loop that claims blocks of elements from an
# atomic counter (kernels/cpu.py), so each thread makes one call that releases the GIL for its whole
# share (threads that handed the GIL back and forth between small pieces queued for it instead of
# working), and the caller starts at once: a helper that comes late only finds fewer blocks left.
# BLAS keeps its threads: this runs between products.

SHARE_FROM = 1 << 16  # elements below which an update runs on the caller alone (the hand-off costs more)
# On unless TINYGRAD_OPT_SHARED_UPDATES=0 (benchmarks/README.md, "The optimizer step"); None until first asked.
SHARE_ENV_VAR = "TINYGRAD_OPT_SHARED_UPDATES"
shared_updates: bool | None = None
# Blocks are this many elements and start at multiples of it: LLVM's vectorised loop then runs over the
# same groups of elements as over the whole array, and its scalar remainder over the same last few, so a
# NaN's sign (which the two code paths may choose differently) is the same as in one call.
BLOCK_ELEMENTS = 1 << 14


class _Helper:
    """A daemon thread that joins the caller on its current work whenever it wakes (see share).

    `go` released means "look at the current work"; the helper takes that work only while the caller has
    not closed it, under `state`, so a helper that wakes late finds nothing to do and the caller never
    waits for one that has not started: it waits (on `done`) only for one that is running it, and not even
    then where the work says by itself that it is done (share's `finished`). A helper still leaving a work
    the caller no longer waited for takes the next one when it is back; an error it raised there reaches
    the caller at its next close."""

    def __init__(self) -> None:
        self.go, self.done, self.state = threading.Lock(), threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.work: Callable[[], None] | None = None
        self.active = False  # the helper is running a work
        self.waiting = False  # the caller waits on `done` for the helper to leave it
        self.error: BaseException | None = None
        threading.Thread(target=self._serve, name="tinygrad_opt-ranges", daemon=True).start()

    def _serve(self) -> None:
        while True:
            self.go.acquire()
            with self.state:
                work = self.work
                self.active = work is not None
            if work is None:
                continue
            error = None
            try:
                _in_flush_mode(work)
            except BaseException as caught:  # noqa: BLE001 - handed to the caller, which raises it
                error = caught
            with self.state:
                self.active = False
                self.error = self.error or error
                if self.waiting:
                    self.waiting = False
                    self.done.release()

    def offer(self, work: Callable[[], None]) -> None:
        with self.state:
            self.work = work
        if self.go.locked():  # else a wake-up is pending still: the helper will find this work
            self.go.release()

    def close(self, wait: bool = True) -> BaseException | None:
        """Take the work back; wait for the helper if it is running it (unless not `wait`). Returns an error the
        helper raised (in this work, or in one left earlier without waiting)."""
        with self.state:
            self.work = None
            self.waiting = wait and self.active
            if not self.waiting:
                error, self.error = self.error, None
                return error
        self.done.acquire()
        with self.state:
            error, self.error = self.error, None
        return error


_helper: _Helper | None = None
_helper_pid: int | None = None
_sharing = threading.Lock()  # one share() call at a time uses the helper; another runs alone


def _resident_helper() -> _Helper:
    global _helper, _helper_pid
    if _helper is None or _helper_pid != os.getpid():
        _helper, _helper_pid = _Helper(), os.getpid()
        _short_blas_spin()
    return _helper


def keep_to_this_thread() -> None:
    """From now on the calling thread runs map_chunks' chunks and share()'s work alone: no engine threads,
    no resident helper, no change to BLAS's threads (for a background thread such as the compile worker)."""
    _region.active = True


SPIN_ENV_VAR = "OPENBLAS_THREAD_TIMEOUT"
SHORT_SPIN = "4"  # OpenBLAS's least: an idle worker waits about 2**4 cycles before it sleeps


def _short_blas_spin() -> bool:
    """Have OpenBLAS's idle worker threads sleep right after a product instead of spinning on their cores for
    about 2**28 cycles (a tenth of a second): on two cores the spinning worker took the core the helper
    needs, and the shared update ran slower than the caller's alone. OpenBLAS reads the timeout from its
    environment when it starts its threads, so this sets it (unless the user did), has OpenBLAS read its
    environment again and restarts its threads from this thread. False where BLAS is not OpenBLAS."""
    blas = _blas()
    library = getattr(blas, "dynlib", None)
    read_env = getattr(library, "openblas_read_env", None)
    if read_env is None or blas.internal_api != "openblas":
        return False
    os.environ.setdefault(SPIN_ENV_VAR, SHORT_SPIN)
    read_env()
    if not restart_blas_threads():
        return False
    blas_threads_restarted()
    return True


def share(work: Callable[[], None], finished: Callable[[], bool] | None = None) -> None:
    """work() on the caller and, where the engine may use two threads (machine_has_room), on a resident
    helper thread at the same time; it returns once neither runs it. `work` must split itself between
    the two (claim pieces from a shared counter) and release the GIL while it works (a nogil Numba loop).

    `finished`, called after the caller's work(), may say that every piece is done (the helper's last ones
    included) without the GIL: then share returns at once, while the helper may still be on its way out
    of work() (it takes no more pieces), instead of waiting to be woken when it is out."""
    if not machine_has_room() or _region.active or not _on_main_thread() \
            or not _sharing.acquire(blocking=False):
        work()
        if finished is not None:  # true at once here; called all the same, so that a kernel's first run on
            finished()  # scratch arrays (kernels/background.py, alone) also prepares what the wait calls
        return
    try:
        helper = _resident_helper()
        helper.offer(work)
        done = False
        try:
            work()
            done = finished is not None and finished()
        finally:
            error = helper.close(wait=not done)
        if error is not None:
            raise error
    finally:
        _sharing.release()


def _on_main_thread() -> bool:
    """Only the main thread brings the helper in (and restarts OpenBLAS's threads the first time): another thread,
    such as kernels/background.py's compile worker running a loop on scratch arrays, may overlap the main
    thread's BLAS calls, which a restart must not."""
    return threading.current_thread() is threading.main_thread()


def machine_has_room() -> bool:
    """Whether a second thread may join: sharing is on (shared_updates), the engine uses more than one thread
    and the machine is not overloaded (blas_threads' last look), where a helper put aside would hold the
    caller back."""
    sharing = shared_updates if shared_updates is not None else shares_updates()  # the cached value without a call
    return sharing and engine_threads() > 1 and not machine_overloaded()


def shares_updates() -> bool:
    """Whether sharing the updates is on: `shared_updates`, from TINYGRAD_OPT_SHARED_UPDATES when first asked."""
    global shared_updates
    if shared_updates is None:
        shared_updates = environment.read(SHARE_ENV_VAR)
    return shared_updates
