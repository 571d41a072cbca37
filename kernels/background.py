"""Compiling a kernel's Numba loop on a background thread while its first calls run a twin with the loop's bits.

A cold first training step spends most of its time in Numba compiles, one kernel after another
(benchmarks/first_step.py). A kernel registered with a `first_call` twin (kernels/first_call.py:
plain NumPy giving the loop's results bit for bit) need not wait for its loop: its first call
hands the loop to this module's one worker thread, with zero-filled scratch arrays of the call's
dtypes and layouts, and runs the twin; once the worker has compiled (or loaded from the cache) and
run the loop on the scratch arrays, later calls run the loop. Numba compiles one function at a
time, but its LLVM passes release the GIL, and the caller's NumPy work goes on meanwhile: the
compile leaves the caller's critical path instead of being added to it.

Numba compiles one function at a time, and a compile cannot be interrupted: a kernel without a twin
that the caller needs while the worker compiles waits for that compile. So the worker starts a
compile only when no other thread has compiled for QUIET_S (it listens to Numba's "numba:compile"
events): during a cold first step the caller's compiles follow each other within milliseconds, and
the worker's go after them, while the step runs the twins. A call whose arrays
are large (over MAX_SCRATCH_BYTES together), read-only, misaligned or not contiguous, or which
passes containers, is not handed over: its loop compiles on the caller's thread as before.

Numba's type inference records warnings with warnings.catch_warnings, which swaps the process's
warning filters and `showwarning` for a moment: done on a second thread, that takes or reroutes the
warnings of the caller's thread (a `pytest.warns` or `catch_warnings(record=True)` there misses
them). So on the worker thread that recording is skipped (a warning of a compile there is emitted
as it comes); where Numba has no such hook to adjust (another version), the worker compiles nothing
and each loop compiles on the caller's thread at its next call.

In a fresh process the worker's first loop also imports Numba and sets up its CPU target
(kernels/lazy_jit.py: about a third of a second, most of a first training step with a warm on-disk
cache): the caller's thread runs the twins meanwhile and never imports Numba for them.

On by default: TINYGRAD_OPT_BACKGROUND_COMPILE=0 (or set_enabled(False)) turns it off. The worker runs
its scratch calls alone (parallel.keep_to_this_thread): a scratch group update on it once started
the resident update helper, which restarted OpenBLAS's threads from the worker while the caller's
thread was inside a product, and OpenBLAS hung in its thread shutdown; only the main thread
restarts them now. A fork waits for the compile or Numba's start in progress (the child
must not inherit Numba's compiler lock, or the start's and the import system's, held by a thread it
does not have) and the child drops the queue; interpreter exit drops the queue and waits for the
compile or start in progress.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from typing import Callable

import numpy as np

from . import blas_threads, environment, lazy_jit, parallel

ENV_VAR = "TINYGRAD_OPT_BACKGROUND_COMPILE"
MAX_SCRATCH_BYTES = 8 << 20
QUIET_S = 0.05  # the worker compiles once no other thread has compiled for this long
POLL_S = 0.005


class Job:
    """One loop handed to the worker; `done` turns True when the caller's thread may run the loop itself."""

    __slots__ = ("done",)

    def __init__(self, done: bool = False):
        self.done = done


def enabled_by_environment() -> bool:
    """On unless TINYGRAD_OPT_BACKGROUND_COMPILE=0 (1 or unset: on; anything else is an error)."""
    return environment.read(ENV_VAR)


_enabled: bool | None = None  # None until first asked: then the environment's (enabled)
_cond = threading.Condition()
_pending: list = []  # (function, args, kwargs, job), oldest first
_busy = False
_closing = False
_thread: threading.Thread | None = None
_worker_ident: int | None = None
_listening = False
_foreground = {"compiling": 0, "last": 0.0}  # other threads' compiles in progress, and when the last one ended


def enabled() -> bool:
    global _enabled
    if _enabled is None:
        _enabled = enabled_by_environment()
    return _enabled


def set_enabled(on: bool) -> None:
    """Whether first calls hand their loop to the worker (tests and benchmarks compare both)."""
    global _enabled
    _enabled = bool(on)


def _scratch(value):
    if type(value) is np.ndarray:
        return np.zeros_like(value)
    if type(value) in (list, tuple):  # a group kernel's lists of arrays
        return type(value)(np.zeros_like(v) if type(v) is np.ndarray else v for v in value)
    return value


def _flattened(values):
    for v in values:
        if type(v) in (list, tuple):
            yield from v
        else:
            yield v


def _can_hand_over(values) -> bool:
    """True when zero-filled copies of the call's arrays (alone or in lists) give Numba the same argument
    types, at a small cost."""
    total = 0
    for v in _flattened(values):
        if type(v) is np.ndarray:
            flags = v.flags
            if not (flags.writeable and flags.aligned and (flags.c_contiguous or flags.f_contiguous)):
                return False
            total += v.nbytes
        elif isinstance(v, (np.ndarray, list, tuple, dict, set)):  # a subclass or a nested container: its own types
            return False
    return total <= MAX_SCRATCH_BYTES


def _leave_warning_filters_alone() -> bool:
    """Make Numba's warning recording a no-op on the worker thread (see the module docstring); False if
    this Numba has no WarningsFixer.catch_warnings to wrap."""
    try:
        from numba.core.errors import WarningsFixer  # noqa: PLC0415
    except ImportError:
        return False
    original = getattr(WarningsFixer, "catch_warnings", None)
    if original is None:
        return False
    if getattr(original, "leaves_the_worker_alone", False):
        return True

    @contextlib.contextmanager
    def catch_warnings(self, filename=None, lineno=None):
        if threading.get_ident() == _worker_ident:
            yield
            return
        with original(self, filename, lineno):
            yield

    catch_warnings.leaves_the_worker_alone = True
    WarningsFixer.catch_warnings = catch_warnings
    return True


def compile_later(fn: Callable, args: tuple, kwargs: dict, first: bool = False) -> Job | None:
    """Queue `fn(*scratch args)` on the worker (`first`: ahead of what waits already); None when the caller should
    run `fn` itself now."""
    global _thread
    if not enabled() or not _can_hand_over(args) or not _can_hand_over(kwargs.values()):
        return None
    job = Job()
    item = (fn, tuple(_scratch(a) for a in args), {k: _scratch(v) for k, v in kwargs.items()}, job)
    with _cond:
        if _closing:
            return None
        if first:
            _pending.insert(0, item)
        else:
            _pending.append(item)
        if _thread is None:
            _thread = threading.Thread(target=_work, name="tinygrad_opt-kernel-compile", daemon=True)
            _thread.start()
        _cond.notify_all()
    return job


def _listen_to_compiles() -> None:
    """Count the compiles of threads other than the worker (Numba is imported: the kernel's module needs it)."""
    global _listening
    if _listening:
        return
    _listening = True
    try:
        from numba.core import event  # noqa: PLC0415
    except ImportError:
        return

    class Foreground(event.Listener):
        def on_start(self, ev):
            if threading.get_ident() != _worker_ident:
                _foreground["compiling"] += 1

        def on_end(self, ev):
            if threading.get_ident() != _worker_ident:
                _foreground["compiling"] = max(0, _foreground["compiling"] - 1)
                _foreground["last"] = time.monotonic()

    event.register("numba:compile", Foreground())


def _wait_for_quiet() -> None:
    while (_foreground["compiling"] or time.monotonic() - _foreground["last"] < QUIET_S) and not _closing:
        time.sleep(POLL_S)


def _work() -> None:
    global _busy, _worker_ident
    _worker_ident = threading.get_ident()
    parallel.keep_to_this_thread()  # the scratch calls must not start helpers or restart BLAS under the caller
    with _cond:
        _busy = True  # a fork waits for the start as for a compile: the child must not inherit its locks held
    try:
        lazy_jit.start()  # Numba imported and set up here, not on the caller's thread
    except Exception:  # noqa: BLE001 - nothing compiles here then; the caller's thread meets the error itself
        pass
    finally:
        with _cond:
            _busy = False
            _cond.notify_all()
    handing_over = _leave_warning_filters_alone()
    _listen_to_compiles()
    _foreground["last"] = time.monotonic()  # a compile may be under way unseen: count from now
    while True:
        with _cond:
            while not _pending and not _closing:
                _cond.wait()
            if not _pending:
                return
        _wait_for_quiet()
        with _cond:
            if not _pending:  # dropped meanwhile (exit)
                continue
            fn, args, kwargs, job = _pending.pop(0)
            _busy = True
        try:
            if handing_over:  # else the caller's thread compiles it at its next call
                with np.errstate(all="ignore"):  # scratch zeros: 0/0 and the like mean nothing here
                    fn(*args, **kwargs)
        except BaseException:  # noqa: BLE001 - the caller's thread runs fn next and meets any real error itself
            pass
        finally:
            job.done = True
            with _cond:
                _busy = False
                _cond.notify_all()


def busy() -> bool:
    """Whether the worker has a loop to compile or is compiling one (a moment's look, no lock)."""
    return bool(_pending) or _busy


blas_threads.ignore_stalls_while(lambda: busy())  # looked up at each call, so tests can stand in for busy


def wait_idle(timeout: float | None = None) -> bool:
    """Wait until the queue is empty and nothing compiles; False on timeout (tests, benchmarks)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _cond:
        while _pending or _busy:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            _cond.wait(left)
    return True


def _drop_pending() -> None:
    for _, _, _, job in _pending:
        job.done = True  # the caller's thread compiles these at their next call
    _pending.clear()


def _at_exit() -> None:
    global _closing
    with _cond:
        _closing = True
        _drop_pending()
        _cond.notify_all()
        while _busy:
            _cond.wait()


def _before_fork() -> None:
    _cond.acquire()  # held across the fork: the worker cannot start another compile meanwhile
    while _busy:
        _cond.wait()


def _after_fork_in_parent() -> None:
    _cond.release()


def _after_fork_in_child() -> None:
    global _cond, _thread, _busy
    _cond = threading.Condition()  # the parent's is held by the forking thread's copy: start afresh
    _thread, _busy = None, False
    _drop_pending()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
