"""kernels/cpu.py's exp_nonpositive_float32: the vectorisable float32 exp on t <= 0, against float64's exp."""
import platform

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

numba = pytest.importorskip("numba")

from tinygrad_opt.kernels.cpu import exp_nonpositive_float32, exp_nonpositive_float32_array  # noqa: E402

SMALLEST_NORMAL = np.finfo(np.float32).tiny
SMALLEST_SUBNORMAL = np.float32(2.0**-149)


def _exp_loop(**options):
    @numba.njit(**options)
    def exp_all(t):
        out = np.empty_like(t)
        for i in range(t.size):
            out[i] = exp_nonpositive_float32(t[i])
        return out
    return exp_all


# as written, and as the log-softmax loop compiles it (fused multiply-adds where the CPU has them)
_exp_plain = _exp_loop()
_exp_fused = _exp_loop(fastmath={"contract"})
_exp_all = _exp_fused


def exact_exp(t):
    """exp in float64 (1e-16 relative error), the yardstick for a float32 result."""
    return np.exp(t.astype(np.float64))


def ulp_error(got, t):
    """|got - exp(t)| in units of the float32 spacing at exp(t) (normal results only)."""
    exact = exact_exp(t)
    spacing = np.spacing(exact.astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


@pytest.mark.parametrize("exp_all", [_exp_plain, _exp_fused], ids=["plain", "fused-multiply-add"])
def test_within_one_and_a_half_ulp_over_the_whole_normal_range(exp_all):
    t = np.random.default_rng(0).uniform(-87.3, 0.0, 2_000_000).astype(np.float32)
    got = exp_all(t)
    assert got.dtype == np.float32
    assert ulp_error(got, t).max() <= 1.5
    # and mostly the correctly rounded float32 (NumPy's own SIMD exp manages about 2 in 3)
    assert np.mean(got == exact_exp(t).astype(np.float32)) > 0.85


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-87.25, max_value=0.0, width=32))
def test_any_float32_in_the_normal_range(t):
    t = np.array([t], np.float32)
    assert ulp_error(_exp_all(t), t)[0] <= 1.5


def test_small_arguments_near_zero():
    t = -np.abs(np.random.default_rng(1).standard_normal(100_000) * 1e-3).astype(np.float32)
    assert ulp_error(_exp_all(t), t).max() <= 1.5


def test_subnormal_results_round_once():
    """exp(t) below float32's smallest normal comes out within one subnormal step, not flushed to 0."""
    t = np.random.default_rng(2).uniform(-103.9, -87.4, 100_000).astype(np.float32)
    got = _exp_all(t)
    exact = exact_exp(t)
    assert (got < SMALLEST_NORMAL).all()
    assert (np.abs(got.astype(np.float64) - exact) <= SMALLEST_SUBNORMAL).all()
    assert (got[exact > 2 * SMALLEST_SUBNORMAL] > 0).all()


def test_special_values():
    t = np.array([0.0, -0.0, -np.inf, np.nan, -104.0, -200.0, -1e30, -np.finfo(np.float32).max], np.float32)
    got = _exp_all(t)
    assert got[0] == 1.0 and got[1] == 1.0  # exp(0) exactly 1
    assert np.isnan(got[3])
    np.testing.assert_array_equal(got[[2, 4, 5, 6, 7]], 0.0)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="reads x86 assembly (packed mulps); other CPUs name their vector instructions differently")
def test_it_vectorises():
    """The point of the module: the loop compiles to packed SIMD arithmetic (no libm call per element)."""
    _exp_all(np.zeros(16, np.float32))
    asm = "\n".join(_exp_all.inspect_asm().values())
    assert "mulps" in asm and ("ymm" in asm or "zmm" in asm or "xmm" in asm)
    assert "expf" not in asm


def test_the_numpy_form_gives_the_plain_loops_bits():
    """first_call's softmax cross-entropy twin runs this before Numba starts: same bits as the loop compiled
    without fused multiply-adds, over normal and subnormal results and the special values."""
    rng = np.random.default_rng(3)
    t = np.concatenate([rng.uniform(-87.3, 0.0, 500_000), rng.uniform(-110.0, -87.0, 100_000),
                        -np.abs(rng.standard_normal(100_000) * 1e-3),
                        [0.0, -0.0, -np.inf, np.nan, -104.0, -200.0, -1e30, -np.finfo(np.float32).max]]).astype(np.float32)
    want = _exp_plain(t)
    got = exp_nonpositive_float32_array(t)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))
