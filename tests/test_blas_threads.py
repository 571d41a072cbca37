"""The BLAS thread policy: one thread while the machine is oversubscribed, BLAS's own count otherwise."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import kernels
from tinygrad_opt.kernels import blas_threads, gemm_job


class FakeBlas:
    def __init__(self, threads):
        self.threads, self.calls = threads, []

    def get_num_threads(self):
        return self.threads

    def set_num_threads(self, n):
        self.calls.append(n)
        self.threads = n


@pytest.fixture
def fake(monkeypatch):
    blas = FakeBlas(2)
    state = {"load": 0.0}
    monkeypatch.setattr(blas_threads, "_controller", blas)
    monkeypatch.setattr(blas_threads, "_last_set", None)
    monkeypatch.setattr(blas_threads, "_overloaded", False)
    monkeypatch.setattr(blas_threads, "_engine_parallel", False)
    monkeypatch.setattr(blas_threads, "_policy", "auto")
    monkeypatch.setattr(blas_threads, "_load_above_cores", lambda: state["load"])
    monkeypatch.setattr(blas_threads, "_cpu_pressure", lambda: state.get("pressure"))  # None: not reported
    monkeypatch.setattr(blas_threads, "_others_running", lambda: state.get("others"))  # None: not reported
    monkeypatch.setattr(blas_threads, "_idle_looks", 0)
    return blas, state


def test_auto_drops_to_one_thread_when_oversubscribed_and_returns_with_hysteresis(fake):
    blas, state = fake
    assert blas_threads.apply_policy() == 2 and blas.calls == []  # room: BLAS keeps its own count
    state["load"] = 0.4  # busy, but below the mark: stays
    assert blas_threads.apply_policy() == 2 and blas.calls == []
    state["load"] = 1.0  # another process beside the engine's own threads
    assert blas_threads.apply_policy() == 1 and blas.calls == [1]
    state["load"] = 0.0  # calmer, but not below the return mark: stays at one
    assert blas_threads.apply_policy() == 1
    state["load"] = -0.5
    assert blas_threads.apply_policy() == 2 and blas.calls == [1, 2]


def test_cpu_pressure_drops_to_one_thread_before_the_load_average_notices(fake):
    blas, state = fake
    state["load"] = -1.0  # the 1-minute load average has not risen yet
    state["pressure"] = 45.0  # a new competitor: tasks waited 45% of the last 10 s
    assert blas_threads.apply_policy() == 1
    state["pressure"] = 8.0  # still some waiting: stays at one thread
    assert blas_threads.apply_policy() == 1
    state["pressure"] = 1.0
    assert blas_threads.apply_policy() == 2


def test_auto_returns_once_looks_in_a_row_find_no_other_task_running(fake, monkeypatch):
    """The load average and the pressure's 10-second average lag a competitor that has gone by 30-60 s; the tasks
    running at the moment of each look do not: IDLE_LOOKS looks in a row with room give BLAS its count back."""
    blas, state = fake
    monkeypatch.setattr(blas_threads, "CORES", 2)
    state["load"] = 1.5  # a competitor
    assert blas_threads.apply_policy() == 1
    state["others"] = 1  # still there at the look
    assert blas_threads.apply_policy() == 1
    state["load"], state["pressure"], state["others"] = 0.4, 6.0, 0  # gone; the averages still high
    for _ in range(blas_threads.IDLE_LOOKS - 2):
        assert blas_threads.apply_policy() == 1
    state["others"] = 1  # seen once more: the count starts again
    assert blas_threads.apply_policy() == 1
    state["others"] = 0
    for _ in range(blas_threads.IDLE_LOOKS - 1):
        assert blas_threads.apply_policy() == 1
    assert blas_threads.apply_policy() == 2 and blas.calls == [1, 2]
    assert not blas_threads.machine_overloaded()
    state["others"] = None  # where /proc/loadavg is not read (and where no pressure is), only the averages decide
    state["load"] = 1.5
    assert blas_threads.apply_policy() == 1
    state["load"] = 0.4
    for _ in range(2 * blas_threads.IDLE_LOOKS):
        assert blas_threads.apply_policy() == 1


def test_room_for_blas_own_count_is_what_the_idle_looks_ask(fake, monkeypatch):
    """On 4 cores with BLAS's own count 2, two other tasks leave room; three do not."""
    blas, state = fake
    monkeypatch.setattr(blas_threads, "CORES", 4)
    state["load"], state["pressure"] = 1.0, 5.0
    assert blas_threads.apply_policy() == 1
    state["others"] = 3
    for _ in range(2 * blas_threads.IDLE_LOOKS):
        assert blas_threads.apply_policy() == 1
    state["others"] = 2
    for _ in range(blas_threads.IDLE_LOOKS - 1):
        assert blas_threads.apply_policy() == 1
    assert blas_threads.apply_policy() == 2


def test_others_running_is_read_from_proc_loadavg(monkeypatch, tmp_path):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("2.32 1.87 1.78 3/109 20778\n")
    monkeypatch.setattr(blas_threads, "LOADAVG_FILE", str(loadavg))
    assert blas_threads._others_running() == 2  # the calling thread is one of the three
    loadavg.write_text("garbage\n")
    assert blas_threads._others_running() is None
    monkeypatch.setattr(blas_threads, "LOADAVG_FILE", str(tmp_path / "missing"))
    assert blas_threads._others_running() is None


def test_cpu_pressure_is_read_from_linux_psi(monkeypatch, tmp_path):
    psi = tmp_path / "cpu"
    psi.write_text("some avg10=51.26 avg60=36.23 avg300=58.78 total=2025384029\n"
                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    monkeypatch.setattr(blas_threads, "PRESSURE_FILE", str(psi))
    clock = [100.0]
    monkeypatch.setattr(blas_threads.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(blas_threads, "_pressure_looks", [])
    assert blas_threads._cpu_pressure() == 51.26  # no earlier look: the 10-second average
    clock[0] = 101.0
    psi.write_text("some avg10=40.00 avg60=36.23 avg300=58.78 total=2025884029\n")
    assert blas_threads._cpu_pressure() == 40.0  # the first look is only 1 s old
    clock[0] = 104.0  # 4 s after the first look, 2.0 s waited since: 50 %
    psi.write_text("some avg10=30.00 avg60=36.23 avg300=58.78 total=2027384029\n")
    assert blas_threads._cpu_pressure() == 50.0
    clock[0] = 105.0  # the newest look at least 3 s old is now the one at 101 s: 1.5 s waited in 4 s
    assert blas_threads._cpu_pressure() == 37.5
    clock[0] = 200.0  # the last look long ago: the 10-second average again
    assert blas_threads._cpu_pressure() == 30.0
    monkeypatch.setattr(blas_threads, "PRESSURE_FILE", str(tmp_path / "missing"))
    assert blas_threads._cpu_pressure() is None


def test_a_load_average_that_still_counts_a_gone_competitor_needs_waiting_tasks_to_go_with_it(fake):
    """Where CPU pressure is reported, a high load average alone no longer takes BLAS to one thread: the
    competitor it counts may have gone a minute ago; with tasks waiting now it does."""
    blas, state = fake
    state["load"], state["pressure"] = 1.9, 0.5
    assert blas_threads.apply_policy() == 2
    state["pressure"] = 4.0
    assert blas_threads.apply_policy() == 1


def test_a_count_set_by_someone_else_becomes_the_one_to_return_to(fake):
    blas, state = fake
    blas_threads.apply_policy()
    blas.threads = 4  # the user called threadpoolctl themselves
    state["load"] = 3.0
    assert blas_threads.apply_policy() == 1
    state["load"] = -1.0
    assert blas_threads.apply_policy() == 4


def test_pinned_count_and_off(fake):
    blas, state = fake
    kernels.set_blas_threads(3)
    try:
        state["load"] = 9.0
        assert blas_threads.apply_policy() == 3 and blas.threads == 3
        kernels.set_blas_threads("off")
        assert blas_threads.apply_policy() is None
        blas_threads.before_gemm()
        assert blas.calls == [3]  # "off" never touches BLAS
    finally:
        kernels.set_blas_threads("auto")


def test_before_gemm_looks_at_most_once_a_second(fake, monkeypatch):
    blas, state = fake
    clock = {"now": 100.0}
    monkeypatch.setattr(blas_threads.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(blas_threads, "_next_check", 0.0)
    state["load"] = 5.0
    blas_threads.before_gemm()
    assert blas.calls == [1]
    state["load"] = -5.0
    clock["now"] += 0.5
    blas_threads.before_gemm()
    assert blas.calls == [1]
    clock["now"] += 0.6
    blas_threads.before_gemm()
    assert blas.calls == [1, 2]


@pytest.mark.parametrize("bad", ["fast", 0, -1, 1.5, True, None])
def test_bad_policies_are_clear_errors(bad):
    with pytest.raises(ValueError, match="set_blas_threads: BLAS thread policy must be 'auto', 'off' or a thread"):
        kernels.set_blas_threads(bad)
    assert kernels.get_blas_threads() == "auto"


def test_the_policy_reaches_numpys_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = blas_threads._blas()
    if blas is None:
        pytest.skip("no BLAS library that threadpoolctl can control")
    before = blas.get_num_threads()
    kernels.set_blas_threads(1)
    try:
        w = tg.Tensor(np.ones((3, 4), np.float32), requires_grad=True)
        (tg.Tensor(np.ones((2, 4), np.float32)) @ w.T).sum().backward()  # a product applies the policy
        counts = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["filepath"] == blas.filepath]
        assert counts == [1]
    finally:
        kernels.set_blas_threads("auto")
        blas.set_num_threads(before)
        blas_threads._last_set = None


def test_auto_leaves_blas_one_thread_once_the_engine_runs_its_own(fake):
    blas, state = fake
    assert blas_threads.apply_policy() == 2 and blas.calls == []
    blas_threads.engine_threads_started()
    assert blas.calls == [1] and blas_threads.apply_policy() == 1
    assert blas_threads.engine_threads() == (__import__("os").cpu_count() or 1)
    blas_threads.set_blas_threads(3)  # a fixed count is the user's: it holds for both
    assert blas_threads.apply_policy() == 3 and blas_threads.engine_threads() == 3


# ---- a two-thread product that waited for a BLAS worker put aside: one thread at once ----------------------

def _stalled_product(macs: int = 12_845_056, seconds: float = 0.016):
    """after_gemm for a product of `macs` multiply-adds that took `seconds` (the 64x784x256 product stalled)."""
    blas_threads.after_gemm(blas_threads.time.perf_counter() - seconds, macs)


def test_two_stalled_products_in_a_row_give_blas_one_thread_before_the_load_says_so(fake, monkeypatch):
    blas, state = fake
    clock = {"now": 100.0}
    monkeypatch.setattr(blas_threads.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(blas_threads, "_stalls", 0)
    state["load"] = -1.0  # an idle machine: BLAS keeps its two threads
    blas_threads.before_gemm()
    assert blas.threads == 2
    _stalled_product()
    assert blas.calls == [] and not blas_threads.machine_overloaded()  # one alone may be a page fault
    _stalled_product()
    assert blas.calls == [1] and blas_threads.machine_overloaded()  # the shared updates stop sharing too
    clock["now"] += 0.5
    blas_threads.before_gemm()  # held until the next look, even though the load average sees nothing
    assert blas.calls == [1]
    clock["now"] += blas_threads.STALL_HOLD
    blas_threads.before_gemm()  # the machine really is roomy: BLAS gets its own count back
    assert blas.calls == [1, 2] and not blas_threads.machine_overloaded()


def test_a_normal_product_between_two_stalls_restarts_the_count(fake, monkeypatch):
    blas, state = fake
    monkeypatch.setattr(blas_threads, "_stalls", 0)
    blas_threads.apply_policy()
    _stalled_product()
    blas_threads.after_gemm(blas_threads.time.perf_counter() - 150e-6, 12_845_056)  # 0.15 ms: as expected
    _stalled_product()
    assert blas.calls == []


def test_stalls_while_the_engine_compiles_in_the_background_are_not_counted(fake, monkeypatch):
    """The background compile thread (kernels/background.py) takes a core for a moment at the start: not a
    competitor to give a BLAS thread up for."""
    from tinygrad_opt.kernels import background

    blas, state = fake
    monkeypatch.setattr(blas_threads, "_stalls", 0)
    monkeypatch.setattr(background, "busy", lambda: True)
    blas_threads.apply_policy()
    for _ in range(3):
        _stalled_product()
    assert blas.calls == [] and not blas_threads.machine_overloaded()
    monkeypatch.setattr(background, "busy", lambda: False)  # the compile is done: stalls count again
    _stalled_product()
    _stalled_product()
    assert blas.calls == [1]


@pytest.mark.parametrize("macs, seconds", [(12_845_056, 0.0015),  # short: under STALL_SECONDS whatever its size
                                           (822_083_584, 0.05)])  # 4096x784x256 in 50 ms: slow, but not stalled
def test_products_that_took_what_their_size_explains_change_nothing(fake, monkeypatch, macs, seconds):
    blas, state = fake
    monkeypatch.setattr(blas_threads, "_stalls", 0)
    blas_threads.apply_policy()
    for _ in range(3):
        _stalled_product(macs, seconds)
    assert blas.calls == [] and not blas_threads.machine_overloaded()


@pytest.mark.parametrize("policy", [2, "off"])
def test_only_auto_reacts_to_stalls(fake, monkeypatch, policy):
    blas, state = fake
    monkeypatch.setattr(blas_threads, "_stalls", 0)
    kernels.set_blas_threads(policy)
    try:
        blas_threads.apply_policy()
        calls = list(blas.calls)
        for _ in range(3):
            _stalled_product()
        assert blas.calls == calls
    finally:
        kernels.set_blas_threads("auto")


def test_linear_and_matmul_report_their_large_products(monkeypatch):
    from tinygrad_opt.ops import linear, matmul

    reported = []
    monkeypatch.setattr(linear, "after_gemm", lambda started, macs: reported.append(("linear", macs)))
    monkeypatch.setattr(matmul, "after_gemm", lambda started, macs: reported.append(("matmul", macs)))
    # off the spinning team (whose jobs, and register tiles, call no threaded BLAS to time), as an earlier test in
    # the run may have left it; before Numba's start the team's products ran as twins, unreported
    monkeypatch.setattr(gemm_job, "team_products", False)
    x = tg.Tensor(np.ones((64, 784), np.float32))
    layer = tg.nn.Linear(784, 256)
    layer(x).sum().backward()  # forward (weight first) and dW (dx: x needs no gradient)
    assert reported == [("linear", 64 * 784 * 256)] * 2
    reported.clear()
    a, b = tg.Tensor(np.ones((64, 784), np.float32), requires_grad=True), tg.Tensor(np.ones((784, 256), np.float32))
    (a @ b).sum().backward()
    assert reported == [("matmul", 64 * 784 * 256)] * 2
    reported.clear()
    (tg.Tensor(np.ones((8, 8), np.float32)) @ tg.Tensor(np.ones((8, 8), np.float32))).sum()  # small: BLAS's one thread
    assert reported == []
    (tg.Tensor(np.ones((64, 784), np.int64)) @ tg.Tensor(np.ones((784, 256), np.int64))).sum()  # no BLAS: not timed
    assert reported == []
