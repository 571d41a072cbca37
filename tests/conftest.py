"""Shared fixtures: the device list (CUDA joins when CuPy and a GPU are present)."""
import os

import pytest
from hypothesis import HealthCheck, settings

import tinygrad_opt as tg
from tinygrad_opt import kernels
from tinygrad_opt.kernels import background, blas_threads, gemm_job

settings.register_profile(
    "default", deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
settings.register_profile("ci", deadline=None, max_examples=20, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("ci" if os.environ.get("CI") else "default")

CUDA_SKIP = pytest.mark.skipif(not tg.cuda_is_available(), reason="needs CuPy and a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=[CUDA_SKIP, pytest.mark.cuda])]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def compiled_loops(monkeypatch):
    """The kernels' compiled loops from their first call, in "auto" mode: no background compile, during which a
    kernel runs its first-call twin and Adam has no group plan."""
    monkeypatch.setattr(background, "_enabled", False)
    mode = kernels.get_mode()
    kernels.set_kernels("auto")
    yield
    kernels.set_kernels(mode)


@pytest.fixture(autouse=True)
def _seeded():
    tg.manual_seed(0)
    yield


@pytest.fixture
def two_engine_threads(monkeypatch):
    """The policy of the engine's products fixed at two threads (routes: the engine uses two), the switch on and
    the engine's own parallel loops not yet run in this process (an earlier test's convolution would leave BLAS
    to split_gemm.py)."""
    monkeypatch.setattr(gemm_job, "team_products", True)
    monkeypatch.setattr(blas_threads, "_engine_parallel", False)
    policy = tg.kernels.get_blas_threads()
    tg.kernels.set_blas_threads(2)
    yield
    tg.kernels.set_blas_threads(policy)
