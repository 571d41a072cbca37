"""tg.set_flush_denormal: torch's switch, reaching every thread that runs the engine's CPU work."""
import platform
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.kernels import blas_threads, denormal, parallel

X86 = pytest.mark.skipif(not denormal.supported(), reason="FTZ/DAZ are x86 MXCSR bits")
SUBNORMAL = np.array([0x000AE398], np.uint32).view(np.float32)  # about 1e-39; built from bits, as a
HALF = np.float32(0.5)                                          # conversion under DAZ/FTZ would give 0


@pytest.fixture(autouse=True)
def _restore_mode():
    before = denormal.flush_denormal_enabled()
    yield
    if denormal.supported():
        tg.set_flush_denormal(before)


def halved_here() -> float:
    """A subnormal times 0.5 on the calling thread: 0 when subnormals flush, else a smaller subnormal."""
    return float((SUBNORMAL * HALF)[0])


@X86
def test_on_flushes_on_the_calling_thread_and_sets_both_mxcsr_bits():
    from tinygrad_opt.kernels.mxcsr_cpu import DENORMALS_ARE_ZERO, FLUSH_TO_ZERO, read_mxcsr

    assert tg.set_flush_denormal(True) is True
    assert read_mxcsr() & (FLUSH_TO_ZERO | DENORMALS_ARE_ZERO) == FLUSH_TO_ZERO | DENORMALS_ARE_ZERO
    assert denormal.flush_denormal_enabled()
    assert halved_here() == 0.0
    assert float(np.float32(1e-39)) == 0.0  # conversions flush too, as torch.tensor([1e-39]) does after torch's switch

    assert tg.set_flush_denormal(False) is True
    assert read_mxcsr() & (FLUSH_TO_ZERO | DENORMALS_ARE_ZERO) == 0
    assert not denormal.flush_denormal_enabled()
    assert 0.0 < halved_here() < 1.2e-38


@X86
def test_the_engines_worker_threads_follow_each_change(monkeypatch):
    monkeypatch.setattr(blas_threads, "_policy", 3)  # three threads, also on a one-core machine
    workers = blas_threads.engine_threads()

    def run_on_every_worker() -> dict:
        results, everyone_started = {}, threading.Barrier(workers)

        def chunk(start, stop):
            everyone_started.wait(timeout=30)  # each thread takes exactly one range
            results[threading.get_ident()] = halved_here()

        parallel.map_chunks(chunk, parallel.split(workers, workers))
        assert len(results) == workers  # the calling thread and workers - 1 pool threads
        return results

    run_on_every_worker()  # the workers exist before the mode changes, so they must be told
    tg.set_flush_denormal(True)
    assert set(run_on_every_worker().values()) == {0.0}
    tg.set_flush_denormal(False)
    assert all(0.0 < value < 1.2e-38 for value in run_on_every_worker().values())


def _openblas_pthreads() -> bool:
    blas = blas_threads._blas()
    return blas is not None and blas.internal_api == "openblas" and blas.threading_layer == "pthreads"


@X86
@pytest.mark.skipif(not _openblas_pthreads(), reason="needs threadpoolctl and NumPy's OpenBLAS (pthreads)")
def test_openblas_threads_follow_in_a_multithreaded_product():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    a = np.full((600, 300), 1e-20, np.float32)  # every product 1e-40 is subnormal; each sum of 300 is normal
    b = np.full((300, 600), 1e-20, np.float32)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        a @ b  # the pool runs before the mode changes
        tg.set_flush_denormal(True)
        assert np.count_nonzero(a @ b) == 0  # every thread's share flushed
        tg.set_flush_denormal(False)
        assert np.all(a @ b > 0)


@X86
@pytest.mark.parametrize("mode", [True, False])
def test_adam_moments_of_a_parameter_without_gradient_flush_as_torchs(mode):
    """The case that matters for speed: a dead unit's Adam moments decay by beta1 each step."""
    torch = pytest.importorskip("torch")

    def final_moments(make_param, make_optimizer, zero_grad, set_grad):
        param = make_param()
        opt = make_optimizer(param)
        for step in range(900):  # 0.1 * 0.9**900 is about 7e-43: subnormal
            zero_grad(opt)
            set_grad(param, 1.0 if step == 0 else 0.0)
            opt.step()
        return opt.state[param]["exp_avg"]

    tg.set_flush_denormal(mode)
    ours = final_moments(
        lambda: nn.Parameter(tg.ones(4)), lambda p: tg.optim.Adam([p], lr=1e-3), lambda o: o.zero_grad(),
        lambda p, g: setattr(p, "grad", tg.full((4,), g)))
    tg.set_flush_denormal(False)
    torch.set_flush_denormal(mode)
    try:
        theirs = final_moments(
            lambda: torch.nn.Parameter(torch.ones(4)), lambda p: torch.optim.Adam([p], lr=1e-3),
            lambda o: o.zero_grad(), lambda p, g: setattr(p, "grad", torch.full((4,), g)))
    finally:
        torch.set_flush_denormal(False)
    ours, theirs = np.asarray(ours), theirs.numpy()  # the engine keeps optimizer state as arrays
    if mode:
        # torch's lerp reaches 0; the engine's m + (1 - beta1) * (g - m) stops near 1e-37, where the
        # increment itself would be subnormal and flushes: no subnormal is left either way
        assert not subnormal(ours).any() and np.all(theirs == 0)
    else:
        assert subnormal(ours).all() and subnormal(theirs).all()


def subnormal(a: np.ndarray) -> np.ndarray:
    return (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)


@pytest.mark.parametrize("mode", [1, 0, "yes", None, np.bool_(True)])
def test_mode_must_be_a_bool(mode):
    with pytest.raises(TypeError, match=r"set_flush_denormal\(mode\): mode must be a bool.*got"):
        tg.set_flush_denormal(mode)


def test_other_cpus_get_false_and_nothing_changes(monkeypatch):
    before = halved_here()
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert tg.set_flush_denormal(True) is False
    assert not denormal.flush_denormal_enabled()
    monkeypatch.undo()
    assert halved_here() == before


@X86
def test_the_context_manager_restores_the_previous_mode():
    tg.set_flush_denormal(False)
    with denormal.flush_denormal(True) as supported:
        assert supported and halved_here() == 0.0
    assert halved_here() > 0.0
    tg.set_flush_denormal(True)
    with denormal.flush_denormal(False):
        assert halved_here() > 0.0
    assert halved_here() == 0.0


def test_no_engine_kernel_runs_on_numbas_own_threads():
    """The mode reaches the engine's pool and OpenBLAS; Numba's threading layer must then stay unused."""
    script = textwrap.dedent("""
        import numba.np.ufunc.parallel as numba_threads
        import tinygrad_opt as tg
        from tinygrad_opt import nn
        tg.set_flush_denormal(True)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(4 * 13 * 13, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))
        for opt in (tg.optim.Adam, tg.optim.SGD, tg.optim.RMSprop, tg.optim.AdamW):
            o = opt(model.parameters(), lr=1e-3)
            loss = nn.functional.cross_entropy(model(tg.randn(8, 1, 28, 28)), tg.randint(0, 10, (8,)))
            loss.backward()
            tg.optim.clip_grad_norm_(model.parameters(), 1.0)
            o.step()
        print(numba_threads._is_initialized)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
