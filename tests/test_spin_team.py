"""kernels/spin_team.py: a job runs every part once, on the caller and the spinning helper, in the caller's float
mode, and no thread is inside it when run returns."""
import ctypes
import threading

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from numba import types  # noqa: E402

from tinygrad_opt.kernels import background, blas_threads, block_claims, lazy_jit, native_arrays, spin_team  # noqa: E402
from tinygrad_opt.kernels.denormal import flush_denormal, supported  # noqa: E402

lazy_jit.start()
_gettid = ctypes.CDLL(None).gettid
_gettid.restype = ctypes.c_int
_gettid.argtypes = []


@numba.cfunc(types.void(types.int64), nopython=True)
def _parts_job(args_address):
    """args: [claim counter, parts, address of `record`, busy iterations per part]; part i writes the running
    thread's id to record[3i], adds 1 to record[3i + 1] and writes its MXCSR to record[3i + 2]."""
    args = native_arrays.array_at(args_address, 4, np.int64)
    parts, busy = args[1], args[3]
    record = native_arrays.array_at(args[2], 3 * parts, np.int64)
    while True:
        part = block_claims.claim(args, 0)
        if part >= parts:
            return
        total = 0
        for i in range(busy):  # work the helper can join while the caller is on an earlier part
            total = total * 31 + (i ^ part)  # a recurrence: no closed form, no vector lanes
        record[3 * part] = _gettid()
        record[3 * part + 1] += 1 if total != -1 else 2  # keeps the busy loop: LLVM cannot tell total >= 0
        record[3 * part + 2] = spin_team._float_mode()


def _run_parts(parts: int, busy: int = 20000) -> np.ndarray:
    record = np.zeros((parts, 3), np.int64)
    args = np.array([0, parts, record.ctypes.data, busy], np.int64)
    spin_team.run(_parts_job.address, args)
    return record


@pytest.fixture
def two_threads():
    before = blas_threads.get_blas_threads()
    blas_threads.set_blas_threads(2)
    spin_team.ready()  # the first look hands the team's loops to the background compile
    background.wait_idle(120)
    assert spin_team.ready()
    yield
    blas_threads.set_blas_threads(before)


def test_every_part_runs_once_and_the_helper_joins(two_threads):
    caller = _gettid()
    runners = set()
    for _ in range(50):
        record = _run_parts(16)
        assert (record[:, 1] == 1).all()
        runners |= set(record[:, 0].tolist())
    assert caller in runners
    assert len(runners) == 2  # the helper took parts too


def test_no_thread_is_inside_the_job_when_run_returns(two_threads):
    """A fresh argument block each time, overwritten right after run: a thread still inside would write
    into parts already counted."""
    for parts in (1, 2, 3, 7, 64):
        for _ in range(100):
            record = _run_parts(parts, busy=500)
            counts = record[:, 1].copy()
            record[:] = 0
            assert (counts == 1).all()
    assert spin_team._team.box[spin_team.INSIDE] == 0


def test_before_its_loops_are_compiled_the_caller_runs_every_part(two_threads, monkeypatch):
    monkeypatch.setattr(spin_team, "_natives", background.Job(done=False))
    assert not spin_team.ready()
    record = _run_parts(16)
    assert set(record[:, 0].tolist()) == {_gettid()}
    assert (record[:, 1] == 1).all()


def test_with_one_engine_thread_the_caller_runs_every_part():
    before = blas_threads.get_blas_threads()
    blas_threads.set_blas_threads(1)
    try:
        assert not spin_team.ready()
        record = _run_parts(16)
    finally:
        blas_threads.set_blas_threads(before)
    assert set(record[:, 0].tolist()) == {_gettid()}
    assert (record[:, 1] == 1).all()


def test_another_thread_runs_its_job_alone(two_threads):
    found = {}

    def other() -> None:
        found["ready"] = spin_team.ready()
        found["record"] = _run_parts(16)
        found["tid"] = _gettid()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert not found["ready"]
    assert set(found["record"][:, 0].tolist()) == {found["tid"]}


@pytest.mark.skipif(not supported(), reason="flushing subnormals needs an x86 CPU")
@pytest.mark.parametrize("mode", [True, False])
def test_the_helper_runs_parts_in_the_callers_float_mode(two_threads, mode):
    from tinygrad_opt.kernels.mxcsr_cpu import read_mxcsr  # x86 only, as the skip says

    with flush_denormal(mode):
        caller_mode = read_mxcsr()
        records = [_run_parts(16) for _ in range(50)]
    modes = {m for record in records for m in record[:, 2].tolist()}
    runners = {t for record in records for t in record[:, 0].tolist()}
    assert len(runners) == 2
    assert modes == {caller_mode}
    flush_bits = (1 << 15) | (1 << 6)
    assert (caller_mode & flush_bits == flush_bits) == mode


def test_the_helper_sleeps_after_its_spin_and_wakes_for_the_next_job(two_threads, monkeypatch):
    monkeypatch.setattr(spin_team, "SPIN_PAUSES", 10)
    spin_team._team = None  # a new team, whose helper spins only 10 polls
    _run_parts(4)
    box = spin_team._team.box
    for _ in range(1000):
        if box[spin_team.AWAKE] == 0:
            break
        threading.Event().wait(0.001)
    assert box[spin_team.AWAKE] == 0
    runners = set()
    for _ in range(50):
        runners |= set(_run_parts(16, busy=200000)[:, 0].tolist())
    assert len(runners) == 2  # woken through its lock, it still joins long jobs
    spin_team._team = None


def test_a_sleeping_helper_is_woken_only_once_the_job_is_open(two_threads, monkeypatch):
    """Woken before the job opened, a helper could look, find nothing, and sleep again before the caller
    opened it (a preempted caller on a busy machine): so the open ticket is in the mailbox at the wake-up."""
    monkeypatch.setattr(spin_team, "SPIN_PAUSES", 10)
    spin_team._team = None
    _run_parts(4)
    team = spin_team._team
    for _ in range(1000):
        if team.box[spin_team.AWAKE] == 0 and team.wake.locked():
            break
        threading.Event().wait(0.001)
    assert team.box[spin_team.AWAKE] == 0 and team.wake.locked()

    class _SeenAtWake:
        def __init__(self, lock):
            self.lock, self.open_at_wake = lock, []

        def locked(self):
            return self.lock.locked()

        def release(self):
            self.open_at_wake.append(int(team.box[spin_team.OPEN]))
            self.lock.release()

        def acquire(self):
            return self.lock.acquire()

    team.wake = _SeenAtWake(team.wake)
    ticket = team.ticket
    _run_parts(16, busy=200000)
    assert team.wake.open_at_wake == [ticket + 1]
    spin_team._team = None


def test_spinning_says_whether_the_helper_polls(two_threads, monkeypatch):
    """True right after a job (the helper polls for SPIN_PAUSES), False once it sleeps on its lock."""
    monkeypatch.setattr(spin_team, "SPIN_PAUSES", 1 << 22)  # about 0.1 s of polls: long enough to look
    spin_team._team = None
    assert not spin_team.spinning()  # no team yet
    _run_parts(4)  # wakes the new helper through its lock: it polls once it is up
    for _ in range(1000):
        if spin_team.spinning():
            break
        threading.Event().wait(0.001)
    assert spin_team.spinning()
    for _ in range(5000):  # no job meanwhile: its polls run out and it sleeps
        if not spin_team.spinning():
            break
        threading.Event().wait(0.001)
    assert not spin_team.spinning()
    spin_team._team = None
