"""A second thread that waits for work by spinning, so that work handed to it starts within a microsecond.

A small-batch training step is a handful of pieces of a few hundred microseconds each (the two large
matrix products, the optimizer's update), with Python in between. Two threads halve each piece only if
the second one starts at once; waking a thread blocked on a lock costs a good part of such a piece on a
virtual machine (benchmarks/README.md), and any hand-off through Python also waits for the GIL. So the
team's helper thread, after each piece, keeps polling a mailbox in native code (no GIL, x86 `pause`
between looks) for about a millisecond (SPIN_PAUSES) before it blocks on its lock; the next `run` within
that time finds it there.

A piece of work is a *job*: a C function `void job(int64 args_address)` (a Numba cfunc) that both threads
call with the same argument block. The job divides itself: each thread takes parts by an atomic claim on a
counter in the block (block_claims.claim) until none is left, so a helper that comes late, or not at
all, only leaves more parts to the caller, and the parts' boundaries (not who ran them) decide the bits.
A job runs without the GIL and touches no Python object; it reports errors in its argument block.

The mailbox (`_Team.box`, an int64 array; the slots the two threads write sit on separate cache lines):
  OPEN    the ticket of the job open to the helper, 0 when none; JOB, ARGS, MODE beside it
  INSIDE  1 while the helper runs a job (or is about to look whether it may)
  AWAKE   1 while the helper polls the mailbox, 0 while it sleeps on its lock
Joining and closing are Dekker's handshake, all sequentially consistent: the helper sets INSIDE, then looks
at OPEN again and runs the job only if it is still open; the caller closes OPEN, then waits until INSIDE
is 0. Either the caller sees the helper inside (and waits for it) or the helper sees the job closed (and
leaves it): so when `run` returns, no thread runs the job and its argument block may be reused.

The helper runs each job in the caller's float mode: the caller's MXCSR travels in MODE (x86; denormal.py
sets it per thread), so a job's bits do not depend on which thread ran a part.
"""
from __future__ import annotations

import ctypes
import os
import platform
import threading

import numpy as np

from . import background, lazy_jit
from .blas_threads import engine_threads, machine_overloaded
from .block_claims import _slot, pause
from .parallel import _short_blas_spin

_X86 = platform.machine().lower() in {"x86_64", "amd64", "i386", "i686", "x86"}

OPEN, JOB, ARGS, MODE = 0, 1, 2, 3
INSIDE = 8
AWAKE = 16
_BOX_SLOTS = 24

SPIN_PAUSES = 1 << 15  # the helper's polls after its last job before it sleeps: about a millisecond
WAIT_PAUSES = 1 << 12  # the caller's polls for the helper to leave a job between yields of its core

# Numba's names and the float-mode access, bound when Numba starts (lazy_jit: this module imports without it)
ir = types = intrinsic = numba = _float_mode = _set_float_mode = None


def _bind_numba() -> None:
    global ir, types, intrinsic, numba, _float_mode, _set_float_mode
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)
    from llvmlite import ir  # noqa: PLC0415
    from numba import types  # noqa: PLC0415
    from numba.extending import intrinsic  # noqa: PLC0415

    if _X86:  # the MXCSR, as denormal.py sets it
        from .mxcsr_cpu import _ldmxcsr as _set_float_mode, _stmxcsr as _float_mode  # noqa: PLC0415
    else:  # no float mode to carry
        _float_mode = numba.njit(lambda: 0)
        _set_float_mode = numba.njit(lambda mode: None)


lazy_jit.on_start(_bind_numba)
_intrinsic = lazy_jit.deferred(lambda fn: intrinsic(fn))


def _compile(fn):
    """numba.njit without the GIL and Numba's runtime, cached on disk where a cache location is usable."""
    return lazy_jit.cached(numba.njit, fn, nogil=True, error_model="numpy", _nrt=False)


_native = lazy_jit.deferred(_compile)


def _box_type_ok(box, slot) -> bool:
    return (isinstance(box, types.Array) and box.dtype == types.int64 and box.ndim == 1
            and isinstance(slot, types.Integer))


@_intrinsic
def _load(typingctx, box, slot):
    """box[slot], read as one sequentially consistent atomic load."""
    if not _box_type_ok(box, slot):
        return None

    def codegen(context, builder, signature, args):
        where = _slot(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        return builder.load_atomic(where, "seq_cst", 8)

    return types.int64(box, slot), codegen


@_intrinsic
def _store(typingctx, box, slot, value):
    """box[slot] = value as one sequentially consistent atomic store."""
    if not (_box_type_ok(box, slot) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        where = _slot(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        builder.store_atomic(context.cast(builder, args[2], signature.args[2], types.int64), where, "seq_cst", 8)
        return context.get_dummy_value()

    return types.none(box, slot, value), codegen


@_intrinsic
def _call_job(typingctx, job, args):
    """Call the C function `void job(int64)` at address `job` with `args`."""
    if not (isinstance(job, types.Integer) and isinstance(args, types.Integer)):
        return None

    def codegen(context, builder, signature, values):
        function_type = ir.FunctionType(ir.VoidType(), [ir.IntType(64)])
        address = context.cast(builder, values[0], signature.args[0], types.int64)
        function = builder.inttoptr(address, function_type.as_pointer())
        builder.call(function, [context.cast(builder, values[1], signature.args[1], types.int64)])
        return context.get_dummy_value()

    return types.none(job, args), codegen


@_native
def _serve(box, spins):
    """The helper's poll of the mailbox: join each job opened while it looks, for `spins` idle polls after
    the last one; then say it sleeps (AWAKE 0) and return."""
    _store(box, AWAKE, 1)
    seen = 0
    idle = 0
    while True:
        ticket = _load(box, OPEN)
        if ticket != 0 and ticket != seen:
            seen = ticket
            _store(box, INSIDE, 1)
            if _load(box, OPEN) == ticket:  # still open: the caller has not yet looked at INSIDE
                mode = box[MODE]
                if _float_mode() != mode:
                    _set_float_mode(mode)
                _call_job(box[JOB], box[ARGS])
            _store(box, INSIDE, 0)
            idle = 0
        elif idle < spins:
            pause()
            idle += 1
        else:
            _store(box, AWAKE, 0)
            ticket = _load(box, OPEN)  # a job opened while it was deciding to sleep: join that one first
            if ticket == 0 or ticket == seen:
                return
            _store(box, AWAKE, 1)


@_native
def _open(box, ticket, job, args):
    """Open a job to the helper: what to call with which block (`args`, an int64 array: its address), in the
    caller's float mode, then its ticket."""
    box[JOB] = job
    box[ARGS] = args.ctypes.data
    box[MODE] = _float_mode()
    _store(box, OPEN, ticket)


@_native
def _run_and_close(box, job, args):
    """The caller's part of the open job: run it here, then close it to the helper."""
    _call_job(job, args.ctypes.data)
    _store(box, OPEN, 0)


@_native
def _lead(box, ticket, job, args):
    """The caller's side of one job while the helper polls: open it, run it here, close it."""
    _open(box, ticket, job, args)
    _run_and_close(box, job, args)


@_native
def _helper_left(box, spins):
    """Poll until the helper is out of the job just closed; False if it still is after `spins` polls."""
    for _ in range(spins):
        if _load(box, INSIDE) == 0:
            return True
        pause()
    return _load(box, INSIDE) == 0


@_native
def _awake(box):
    return _load(box, AWAKE) == 1


class _Team:
    """The mailbox and the helper thread polling it (see the module docstring)."""

    def __init__(self) -> None:
        self.box = np.zeros(_BOX_SLOTS, np.int64)
        self.ticket = 0
        self.wake = threading.Lock()
        self.wake.acquire()
        threading.Thread(target=self._serve_forever, name="tinygrad_opt-team", daemon=True).start()

    def _serve_forever(self) -> None:
        while True:
            self.wake.acquire()
            _serve(self.box, SPIN_PAUSES)

    def run(self, job: int, args: np.ndarray) -> None:
        box = self.box
        self.ticket += 1
        if not _awake(box) and self.wake.locked():
            # It sleeps on its lock: the job opens before the wake-up, so that the helper finds it open whenever
            # it first looks. Woken first, it could look, find nothing and go back to sleep before the caller
            # opened the job: a preempted caller on a busy machine, or a short SPIN_PAUSES, makes that likely.
            _open(box, self.ticket, job, args)
            self.wake.release()
            _run_and_close(box, job, args)
        else:
            _lead(box, self.ticket, job, args)
        while not _helper_left(box, WAIT_PAUSES):
            os.sched_yield()  # the helper was put aside inside the job: give it this core


_team: _Team | None = None
_team_pid: int | None = None
_running = threading.Lock()  # one run at a time uses the helper; another caller runs its job alone


def ready() -> bool:
    """Whether `run` may hand a job to the helper now: Numba has started and the team's own loops are compiled
    (or loaded from the cache) on the background thread (_natives_ready), the engine uses more than one thread,
    the machine is not overloaded (blas_threads' last look) and the caller is the main thread."""
    return (lazy_jit.started() and _natives_ready() and engine_threads() > 1 and not machine_overloaded()
            and threading.current_thread() is threading.main_thread())


_natives: background.Job | None = None  # the compile of the team's loops, once asked for


def _natives_ready() -> bool:
    """Whether the team's loops are compiled; the first call hands their compile to the background thread
    (kernels/background.py), or compiles them here where that thread is off, so that a first training
    step does not wait for them: its jobs run on the caller alone meanwhile."""
    global _natives
    if _natives is None:
        _natives = background.compile_later(_compile_natives, (), {}) or background.Job(done=_compile_natives())
    return _natives.done


def _compile_natives() -> bool:
    box, number = types.Array(types.int64, 1, "C"), types.int64  # the job's args block: an array like the box
    _serve.compile((box, number))
    _open.compile((box, number, number, box))
    _run_and_close.compile((box, number, box))
    _lead.compile((box, number, number, box))
    _helper_left.compile((box, number))
    _awake.compile((box,))
    return True


def spinning() -> bool:
    """Whether the helper polls the mailbox now (it ran a job within SPIN_PAUSES' time), so that a job run now
    starts on both threads at once. A caller whose work gains less than a wake-up through the lock costs may
    take the team only then: it keeps the helper polling no longer than the team's other jobs do."""
    team = _team
    return team is not None and _team_pid == os.getpid() and _natives_ready() and _awake(team.box)


def run(job: int, args: np.ndarray) -> None:
    """job(args.ctypes.data) on the calling thread and, where `ready()`, on the team's helper thread at the same
    time; returns once neither runs it. `job` is the address of a C function `void job(int64)` that takes
    its parts by atomic claims from `args` (see the module docstring); `args` is a C-contiguous int64 array
    the job reads its arrays' addresses from, kept alive by the caller until this returns."""
    if not ready() or not _running.acquire(blocking=False):
        alone(job)(args.ctypes.data)
        return
    try:
        _this_process_team().run(job, args)  # its address taken in native code, for less than .ctypes costs
    finally:
        _running.release()


_JOB_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int64)
_callable_jobs: dict[int, ctypes._CFuncPtr] = {}


def alone(job: int) -> ctypes._CFuncPtr:
    """The job at address `job` as a ctypes function for the calling thread alone (a call releases the GIL, so two
    Python threads may run it at once): no compiled loop of the team's is needed for it."""
    function = _callable_jobs.get(job)
    if function is None:
        function = _callable_jobs[job] = _JOB_TYPE(job)
    return function


def _this_process_team() -> _Team:
    """The team, made at the first run of this process (a forked child has no helper thread: it makes its own).
    OpenBLAS's idle workers then sleep right after a product instead of spinning for a tenth of a second on
    the core the helper polls from (parallel._short_blas_spin)."""
    global _team, _team_pid
    if _team is None or _team_pid != os.getpid():
        _team, _team_pid = _Team(), os.getpid()
        _short_blas_spin()
    return _team
