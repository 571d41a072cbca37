"""When a team job's C function gets compiled: off the caller's thread where it can, so that a first step runs on.

A job for the spinning team (kernels/spin_team.py) is a Numba cfunc, and compiling one takes from a few
milliseconds (Numba's on-disk cache) to a second or more (a cold cache). Where its module has a NumPy twin with
the job's bits, the twin runs until then: `JobBuild.address()` answers None meanwhile; its first ask after Numba's start
(lazy_jit.started: the engine starts Numba on the background thread, not on a training step's) hands the compile
to kernels/background.py's worker, or compiles here where that worker is off; `hand()` only hands it (a job
without a twin, which the layer asks for ahead of its first use: live_gemm's). `wait()` builds it on the calling
thread, or waits for the worker's compile of it (a twin that declines an input; a job without a twin; tests).
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from . import background, lazy_jit


class JobBuild:
    """The compile of one job: `compile_job()` returns the cfunc (and sets up whatever else the job's caller
    needs first); `first` queues it ahead of what waits on the background worker already."""

    def __init__(self, compile_job: Callable[[], Any], first: bool = False) -> None:
        self._compile_job = compile_job
        self._first = first
        self.job: Any = None  # the cfunc, once built
        self._asked: object = None  # the background worker's Job, once handed
        self._ask_lock = threading.Lock()
        self._build_lock = threading.Lock()  # one compile: a caller that needs the job waits for the worker's

    def build_now(self) -> None:
        """Compile the job on this thread, or wait for the compile another thread is running."""
        with self._build_lock:
            if self.job is None:
                self.job = self._compile_job()

    def address(self) -> int | None:
        """The job's address once compiled, else None (module docstring: when the compile starts)."""
        job = self.job
        if job is not None:
            return job.address
        if not lazy_jit.started():  # the engine starts Numba where no import of its own is under way
            return None
        if not self.hand():  # no background worker: compile here
            self.build_now()
        return None if self.job is None else self.job.address

    def hand(self) -> bool:
        """Hand the compile to the background worker at the first call (later calls: nothing); False where no
        worker takes it (the background thread off), and nothing was handed. Needs Numba started."""
        with self._ask_lock:
            if self._asked is None:
                handed = background.compile_later(self.build_now, (), {}, first=self._first)
                if handed is None:
                    return False
                self._asked = handed
        return True

    def wait(self) -> int:
        """The job's address, built on this thread first if it is not (Numba started here if it is not), or once
        the background worker's compile of it has finished."""
        if self.job is None:
            lazy_jit.start()
            self.build_now()
        return self.job.address
