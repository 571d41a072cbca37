"""How many threads BLAS may use for the engine's matrix products, so that they do not collapse under load.

OpenBLAS splits a product among its threads and waits for all of them. When other
processes keep every core busy, a worker thread that the scheduler has put aside stalls
the whole product until it runs again, once per product: on the 2-core development VM at
a load average of 6, the seed's training step at batch 64 ran about 100 times slower with
two BLAS threads than with one (benchmarks/README.md). One thread only loses its share.

Policies, set with `set_blas_threads(policy)` or the environment variable
TINYGRAD_OPT_BLAS_THREADS (read when the policy is first needed, environment.py):
  "auto"  (default) BLAS keeps its own thread count while the machine has room and drops
          to one thread when it is oversubscribed: (where Linux reports CPU pressure) tasks
          waited for a CPU more than 10% of the last 3 seconds, which notices a new
          competitor within seconds where the load average takes a minute, or the 1-minute
          load average exceeds the core count + 0.5 while tasks waited at least 3% (where no
          pressure is reported, the load average alone). The engine's own threads are part
          of both: alone with two BLAS threads on two cores the load stays near 2 and
          nothing waits; one other busy process makes it 3, where the collapse starts. It
          returns to its own count once the load is below the core count - 0.25 (with one
          BLAS thread the engine adds about 1, so the machine must be otherwise idle) and
          the pressure below 3%, so it does not flip on every small change; or, as both
          averages still count a competitor for a while after it has gone, once IDLE_LOOKS looks in a row
          found no task running beside the engine's one thread but what leaves BLAS's own
          count a core each (Linux's /proc/loadavg, at the moment of the look). All are read
          at most once a second. (At a load average of 2.0 and 16% pressure on the 2-core
          VM, one test suite beside it, a two-thread 64x784x256 product took 7 ms instead
          of 0.18: the collapse starts with the first competitor.)
  "off"   never touch BLAS's threads.
  N       always N threads (an int >= 1).
The engine applies the policy before its matrix products (ops.Linear, ops.LinearReLU,
ops.MatMul, ops.Conv2d); the setting is process-wide, as BLAS's own is.

Under "auto", Linear's and MatMul's products also report how long they took (after_gemm): a
two-thread product far slower than its arithmetic allows, slower than STALL_MACS_PER_S multiply-adds
a second and longer than STALL_SECONDS, waited for a BLAS worker that a competitor kept off its core
(on the 2-core VM beside busy processes a 64x784x256 product took 8-24 ms instead of 0.15, and the
seed's step at batch 64 ran 10x slower than on one thread). Two such products in a row give BLAS one
thread at once, as if the load average had said so (one alone may be a page fault or a daemon's
moment), and the usual look decides again a second later: the load average lags a new competitor by a
minute and the CPU pressure's 10-second average by a second or two, each product meanwhile that slow.
Stalls while the engine's own background compile runs (background.py, the first second of a process) are
not counted: that competitor leaves by itself, and one thread for a second would cost more than it.

The engine's own parallel loops (parallel.py: convolution chunks, batch norm, pooling) use
engine_threads(): N under a fixed policy, else every core, busy machine or not (they hand out
small pieces one at a time, so a thread put aside delays only its piece). Once they have run,
"auto" gives BLAS one thread for the rest of the process: OpenBLAS's idle workers spin for a
while after each product, and on two cores they took the cores the engine's threads needed
(a CNN step at batch 256 ran 1.5x slower with both pools than with the engine's alone). It needs threadpoolctl to
reach the BLAS library NumPy loaded; without it every policy leaves BLAS alone.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Union

from . import environment

ENV_VAR = "TINYGRAD_OPT_BLAS_THREADS"
CHECK_EVERY = 1.0  # seconds between two looks at the load average
CORES = os.cpu_count() or 1  # read once: os.cpu_count() reads a /sys file each call, and the updates ask every step
OVERLOADED_ABOVE = 0.5  # load average - cores above which BLAS gets one thread
ROOMY_BELOW = -0.25  # ... and below which it gets its own count back
PRESSURE_ABOVE = 10.0  # % of the last PRESSURE_WINDOW s in which some task waited for a CPU: one thread
PRESSURE_BELOW = 3.0  # ... and below which (with the load) BLAS gets its own count back
PRESSURE_FILE = "/proc/pressure/cpu"  # Linux's pressure stall information (PSI)
PRESSURE_WINDOW = 3.0  # seconds of it that a look reads (the file's own shortest average spans 10)
LOADAVG_FILE = "/proc/loadavg"  # its fourth field: the tasks running or runnable right now / all tasks
IDLE_LOOKS = 5  # looks in a row that found no other task running: the competitor has gone (_idle_again)
STALL_SECONDS = 2e-3  # a two-thread product longer than this ...
STALL_MACS_PER_S = 5e9  # ... and slower than this (far below one core's SGEMM rate) waited for a worker
STALL_HOLD = CHECK_EVERY  # seconds of one thread after two stalls before the load and pressure decide again
THREADED_FROM_MACS = 1 << 18  # OpenBLAS runs smaller products on the caller alone: nothing to time there

Policy = Union[str, int]


def _parse(policy: Any, where: str) -> Policy:
    if isinstance(policy, str) and policy.strip().lower() in ("auto", "off"):
        return policy.strip().lower()
    try:
        threads = int(policy)
    except (TypeError, ValueError):
        threads = 0
    if isinstance(policy, bool) or threads < 1 or (not isinstance(policy, str) and threads != policy):
        raise ValueError(f"{where}: BLAS thread policy must be 'auto', 'off' or a thread count >= 1, got {policy!r}")
    return threads


_policy: Policy | None = None  # None until first needed: then TINYGRAD_OPT_BLAS_THREADS's (get_blas_threads)
_controller: Any = None  # threadpoolctl's controller of NumPy's BLAS; False when there is none
_base: int | None = None  # BLAS's own thread count (what "auto" returns to)
_last_set: int | None = None  # the count this module last left BLAS at
_overloaded = False
_idle_looks = 0  # looks in a row, while overloaded, that found room for BLAS's own count (_idle_again)
_pressure_looks: list = []  # (time.monotonic(), PSI's total of us waited) of the recent looks (_cpu_pressure)
_engine_parallel = False  # the engine's own threads have run: "auto" leaves BLAS one thread
_next_check = 0.0
_stalls = 0  # stalled two-thread products in a row
_before_next_product: Any = None  # a function to run before the engine's next product (see run_before_next_product)


def set_blas_threads(policy: Policy) -> None:
    """"auto", "off" or a thread count for the engine's matrix products (see the module docstring)."""
    global _policy, _next_check
    _policy = _parse(policy, "set_blas_threads")
    _next_check = 0.0  # apply at the next product


def get_blas_threads() -> Policy:
    global _policy
    if _policy is None:
        _policy = environment.read(ENV_VAR)
    return _policy


def _blas() -> Any:
    """threadpoolctl's controller of the BLAS library NumPy loaded, or None."""
    global _controller
    if _controller is None:
        _controller = False
        try:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415
        except ImportError:
            return None
        libs = ThreadpoolController().select(user_api="blas").lib_controllers
        numpy_blas = [lib for lib in libs if "numpy" in lib.filepath or "openblas" in lib.filepath.lower()]
        if numpy_blas or libs:
            _controller = (numpy_blas or libs)[0]
    return _controller or None


def _load_above_cores() -> float:
    try:
        return os.getloadavg()[0] - CORES
    except (OSError, AttributeError):  # no load average on this platform: never overloaded
        return float("-inf")


def _cpu_pressure() -> float | None:
    """% of the last PRESSURE_WINDOW seconds or more in which some runnable task waited for a CPU, from Linux's
    running total of that time ("some avg10=51.26 avg60=... avg300=... total=<us>"); its 10-second average
    until a look that old exists; None where not reported."""
    try:
        with open(PRESSURE_FILE) as f:
            fields = dict(field.partition("=")[::2] for field in f.readline().split()[1:])
        average, total = float(fields["avg10"]), int(fields["total"])
    except (OSError, KeyError, ValueError):
        return None
    now = time.monotonic()
    _pressure_looks.append((now, total))
    while len(_pressure_looks) > 1 and now - _pressure_looks[1][0] >= PRESSURE_WINDOW:
        _pressure_looks.pop(0)  # keep the newest look at least PRESSURE_WINDOW old, and those after it
    then, before = _pressure_looks[0]
    if now - then < PRESSURE_WINDOW or now - then > 4 * PRESSURE_WINDOW:
        return average  # no look that old, or only a stale one (no product for a while)
    return min(100.0, (total - before) / (now - then) / 1e4)  # us waited per s of wall time, in %


def _others_running() -> int | None:
    """Tasks running or waiting for a CPU at this moment besides the calling thread (Linux's /proc/loadavg), None
    where not reported."""
    try:
        with open(LOADAVG_FILE) as f:
            return int(f.read().split()[3].partition("/")[0]) - 1
    except (OSError, IndexError, ValueError):
        return None


def _idle_again() -> bool:
    """Whether the last IDLE_LOOKS looks in a row found no more tasks running than leave BLAS's own count a core
    each (the engine runs one thread meanwhile: the team and the shared updates wait too, so any other task
    is a competitor's). The load average and the pressure's 10-second average, decaying averages, still count a
    competitor for a while after it has gone."""
    global _idle_looks
    others = _others_running()
    room = others is not None and others <= CORES - (_base or CORES)
    _idle_looks = _idle_looks + 1 if room else 0
    return _idle_looks >= IDLE_LOOKS


def run_before_next_product(fn: Any) -> None:
    """Have before_gemm call `fn()` before the engine's matrix products until it is replaced (None: nothing).

    denormal.py's deferred restart of BLAS's threads: `fn` unregisters itself once it has run."""
    global _before_next_product
    _before_next_product = fn


def before_gemm() -> None:
    """Apply the policy before a matrix product; between checks this is one clock read."""
    global _next_check
    if _before_next_product is not None:
        _before_next_product()
    now = time.monotonic()
    if now < _next_check:
        return
    _next_check = now + CHECK_EVERY
    if get_blas_threads() != "off":
        apply_policy()


def apply_policy() -> int | None:
    """Set BLAS's thread count as the policy says now; returns the count (None: BLAS out of reach or "off")."""
    global _base, _last_set, _overloaded, _idle_looks
    blas = _blas()
    policy = get_blas_threads()
    if blas is None or policy == "off":
        return None
    current = blas.get_num_threads()
    if _last_set is None or current != _last_set:  # the first look, or someone else changed it since
        _base = current
    if isinstance(policy, int):
        wanted = policy
    else:
        excess, pressure = _load_above_cores(), _cpu_pressure()
        if pressure is None:  # not reported: the load average alone decides
            if _overloaded:
                _overloaded = excess >= ROOMY_BELOW
            else:
                _overloaded = excess > OVERLOADED_ABOVE
        elif _overloaded:
            _overloaded = (excess >= ROOMY_BELOW or pressure >= PRESSURE_BELOW) and not _idle_again()
        else:  # a load average that still counts a competitor gone since needs waiting tasks now to go with it
            _overloaded = pressure > PRESSURE_ABOVE or (excess > OVERLOADED_ABOVE and pressure >= PRESSURE_BELOW)
            _idle_looks = 0
        wanted = 1 if _overloaded or _engine_parallel else _base
    if wanted != current:
        blas.set_num_threads(wanted)
    _last_set = wanted
    return wanted


_own_compile_running: Callable[[], bool] = bool  # background.py registers its check (bool() is False)


def ignore_stalls_while(running: Callable[[], bool]) -> None:
    """While running() says so, stalled products are not counted (background.py's compile thread: the
    engine's own competitor for a moment, which leaves by itself)."""
    global _own_compile_running
    _own_compile_running = running


def after_gemm(started: float, macs: int) -> None:
    """A product that began at time.perf_counter() `started` and did `macs` multiply-adds has finished: under
    "auto", one that stalled on two or more BLAS threads gives BLAS one thread now (module docstring)."""
    global _stalls
    if _last_set is None or _last_set <= 1 or _policy != "auto":  # _last_set is set once the policy is known
        return
    took = time.perf_counter() - started
    if took <= STALL_SECONDS or took * STALL_MACS_PER_S <= macs:
        _stalls = 0
        return
    if _own_compile_running():  # the engine's own compile thread took the core for a moment: no competitor
        _stalls = 0
        return
    _stalls += 1
    if _stalls >= 2:
        _one_thread_now()


def _one_thread_now() -> None:
    """"auto" finds the machine oversubscribed now, without waiting for the next look."""
    global _overloaded, _last_set, _next_check, _stalls, _idle_looks
    blas = _blas()
    if blas is None:
        return
    _overloaded, _stalls, _idle_looks = True, 0, 0
    blas.set_num_threads(1)
    _last_set = 1
    _next_check = time.monotonic() + STALL_HOLD


def engine_threads() -> int:
    """How many threads the engine's own parallel loops use: N under a fixed policy, else every core."""
    policy = _policy if _policy is not None else get_blas_threads()  # the cached policy without a call
    return policy if isinstance(policy, int) else CORES


def blas_yields_to_engine_threads() -> bool:
    """Whether BLAS runs on one thread because the engine's own loops have run ("auto"): a large product may
    then share the engine's threads instead (split_gemm.py). Not on a merely busy machine, where taking
    the engine's threads would pin BLAS to one thread for good."""
    return _engine_parallel and _last_set == 1


def engine_threads_started() -> None:
    """The engine's own threads are about to run: under "auto", BLAS keeps one thread from now on."""
    global _engine_parallel, _next_check
    if not _engine_parallel:
        _engine_parallel = True
        _next_check = 0.0
        if get_blas_threads() == "auto":
            apply_policy()


def restart_blas_threads() -> bool:
    """Stop BLAS's worker threads and start new ones from the calling thread, so that they inherit its
    float environment (denormal.py's flush mode); False where BLAS is out of reach or not OpenBLAS's
    pthreads build. No other thread may be inside a BLAS call meanwhile."""
    blas = _blas()
    if blas is None or blas.internal_api != "openblas" or getattr(blas, "threading_layer", None) != "pthreads":
        return False
    library = blas.dynlib
    stop, start = getattr(library, "blas_thread_shutdown_", None), getattr(library, "blas_thread_init", None)
    if stop is None or start is None:
        return False
    stop()
    start()  # here, not at the next product, which might run on another thread
    return True


class single_blas_thread:
    """`with single_blas_thread():` BLAS runs each product on the calling thread (restored after),
    for loops that already run their products on several threads of their own."""

    def __enter__(self):
        blas = _blas()
        self._restore = blas.get_num_threads() if blas is not None else None
        if self._restore not in (None, 1):
            blas.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self._restore not in (None, 1):
            _blas().set_num_threads(self._restore)
        return False


def machine_overloaded() -> bool:
    """Whether "auto" found the machine oversubscribed at its last look (before_gemm, at most once a second);
    False under the other policies, which fix the thread counts."""
    return _overloaded and _policy == "auto"
