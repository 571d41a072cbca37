"""kernels/job_build.py: when a team job's compile starts, where it runs, and that it runs once."""
import threading

from tinygrad_opt.kernels import job_build


class FakeJob:
    address = 1234


def counting_compile(calls, started=None, release=None):
    def compile_job():
        calls.append(threading.current_thread().name)
        if started is not None:
            started.set()
            release.wait(5)
        return FakeJob()
    return compile_job


def test_nothing_is_asked_before_numba_starts(monkeypatch):
    calls, handed = [], []
    monkeypatch.setattr(job_build.lazy_jit, "started", lambda: False)
    monkeypatch.setattr(job_build.background, "compile_later", lambda *a, **k: handed.append(a) or True)
    build = job_build.JobBuild(counting_compile(calls))
    assert build.address() is None and build.address() is None
    assert calls == [] and handed == []


def test_the_first_ask_hands_the_compile_to_the_worker_once(monkeypatch):
    calls, handed = [], []
    monkeypatch.setattr(job_build.lazy_jit, "started", lambda: True)
    monkeypatch.setattr(job_build.background, "compile_later",
                        lambda fn, args, kwargs, first=False: handed.append((fn, first)) or True)
    build = job_build.JobBuild(counting_compile(calls), first=True)
    assert build.address() is None and build.address() is None  # handed, not built yet
    assert handed == [(build.build_now, True)] and calls == []
    handed[0][0]()  # the worker runs it
    assert build.address() == 1234 and calls == [threading.current_thread().name]


def test_without_a_worker_the_first_ask_compiles_here(monkeypatch):
    calls = []
    monkeypatch.setattr(job_build.lazy_jit, "started", lambda: True)
    monkeypatch.setattr(job_build.background, "compile_later", lambda *a, **k: None)
    build = job_build.JobBuild(counting_compile(calls))
    assert build.address() == 1234 and build.address() == 1234 and len(calls) == 1


def test_wait_waits_for_the_workers_compile_instead_of_compiling_again(monkeypatch):
    calls, started, release = [], threading.Event(), threading.Event()
    monkeypatch.setattr(job_build.lazy_jit, "start", lambda: None)
    build = job_build.JobBuild(counting_compile(calls, started, release))
    worker = threading.Thread(target=build.build_now, name="worker")
    worker.start()
    assert started.wait(5)
    addresses = []
    waiter = threading.Thread(target=lambda: addresses.append(build.wait()))
    waiter.start()
    release.set()
    worker.join(5)
    waiter.join(5)
    assert addresses == [1234] and calls == ["worker"]


def test_hand_only_hands(monkeypatch):
    calls = []
    monkeypatch.setattr(job_build.background, "compile_later", lambda *a, **k: None)  # no worker
    build = job_build.JobBuild(counting_compile(calls))
    assert build.hand() is False and calls == []  # nothing compiled here: a later address() or wait() does
    assert build.wait() == 1234 and len(calls) == 1
