"""Shared by the optimizer loops' subnormal tests: float32 inputs that reach the subnormal range, and a fixture
that keeps subnormals (flushing off) for a test and restores the mode after it."""
import numpy as np
import pytest

from tinygrad_opt.kernels import denormal

import tinygrad_opt as tg

X86 = pytest.mark.skipif(not denormal.supported(), reason="FTZ/DAZ are x86 MXCSR bits")


@pytest.fixture
def keep_subnormals():
    before = denormal.flush_denormal_enabled()
    if denormal.supported():
        tg.set_flush_denormal(False)
    yield
    if denormal.supported():
        tg.set_flush_denormal(before)


def any_floats(n: int, seed: int) -> np.ndarray:
    """float32 values from random bits: every exponent (subnormals, infinities, NaNs with payloads) equally often."""
    return np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint32).view(np.float32)


def small_floats(n: int, seed: int) -> np.ndarray:
    """Magnitudes from 1e-45 to 1e-30 of both signs, zeros among them: results near and below 2**-126."""
    rng = np.random.default_rng(seed)
    a = (rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-45, -30, n)).astype(np.float32)
    a[rng.choice(n, n // 20, replace=False)] = 0.0
    return a
