"""kernels/live_gemm.py: a weight gradient's live rows at a long batch in fused register tiles. Its bits are each
element's fused multiply-adds in order within blocks of INNER_BLOCK rows, the blocks' sums added in order (checked
against exact arithmetic), the same from one thread or two and whichever column blocks; the dead rows +0; a
non-finite x is reported; ops/linear.py takes it for a long batch (the steps' bits: test_dead_unit_weight_grad.py)."""
from fractions import Fraction

import numpy as np
import pytest

from tinygrad_opt.kernels import job_build, live_gemm, spin_team
from tinygrad_opt.ops import linear

from job_builds import handing_to

pytest.importorskip("numba", reason="Numba is not installed")
if not live_gemm.available():
    pytest.skip("this CPU has no fused multiply-add: live_gemm never runs here", allow_module_level=True)


@pytest.fixture(autouse=True)
def any_size(monkeypatch):
    """The kernel on small problems: FROM_MACS is where the layer starts to use it, not what it can compute."""
    monkeypatch.setattr(live_gemm, "FROM_MACS", 0)


def bits(a):
    return a.view(np.uint32)


def problem(rows, units, live_count, columns, seed=0):
    """g (rows, units) with the units not in `live` all zeros (+0 and -0), x (rows, columns), both float32."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((rows, units)).astype(np.float32)
    g[rng.random((rows, units)) < 0.5] = 0
    live = np.sort(rng.permutation(units)[:live_count]).astype(np.int64)
    dead = np.setdiff1d(np.arange(units), live)
    g[:, dead] = np.where(rng.random((rows, dead.size)) < 0.5, 0.0, -0.0)
    x = rng.standard_normal((rows, columns)).astype(np.float32)
    return g, x, live, dead


def assert_close_to_exact(got, g, x):
    """Within float32's rounding of the exact sums: an error bound relative to the sum of the terms' sizes."""
    exact = g.T.astype(np.float64) @ x.astype(np.float64)
    scale = np.abs(g).T.astype(np.float64) @ np.abs(x).astype(np.float64)
    assert (np.abs(got - exact) <= 1e-5 * scale).all()


def alone(job, args):
    spin_team.alone(job)(args.ctypes.data)


def nearest_float32(value: Fraction) -> np.float32:
    """value rounded to the nearest float32, ties to the even one (exact: no double rounding)."""
    guess = np.float32(float(value))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    return min(candidates, key=lambda c: (abs(Fraction(float(c)) - value), int(c.view(np.uint32)) & 1))


def fused_blocks(g_column, x_column):
    """One element as the module docstring defines it, in exact arithmetic and one rounding per operation."""
    total = None
    for start in range(0, g_column.size, live_gemm.INNER_BLOCK):
        acc = np.float32(0.0)
        for a, b in zip(g_column[start:start + live_gemm.INNER_BLOCK], x_column[start:start + live_gemm.INNER_BLOCK]):
            acc = nearest_float32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(acc)))
        total = acc if total is None else nearest_float32(Fraction(float(total)) + Fraction(float(acc)))
    return total


def test_the_bits_are_fused_terms_in_blocks_added_in_order():
    # 13 live rows: a tile of 8, one of 4 and one of 1 (AVX-512; 4, 4, 4, 1 with AVX2); 64 columns: whole tiles
    # and single vectors; two blocks of the batch
    g, x, live, _ = problem(live_gemm.INNER_BLOCK + 5, 16, 13, 64)
    out = np.empty((16, 64), np.float32)
    assert live_gemm.takes(g, x, live, out)
    assert live_gemm.matmul_live(g, x, live, out, alone)
    for column in (0, 17, 47, 48, 63):
        for unit in live:
            assert bits(out[unit, column]) == bits(fused_blocks(g[:, unit], x[:, column])), (unit, column)
    assert_close_to_exact(out, g, x)  # every element, not only the ones checked bit for bit


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_the_bits_do_not_depend_on_threads_or_column_blocks(monkeypatch, parts):
    g, x, live, _ = problem(1000, 64, 37, 160, seed=1)
    want = np.empty((64, 160), np.float32)
    assert live_gemm.matmul_live(g, x, live, want, alone)
    monkeypatch.setattr(live_gemm, "PARTS_WANTED", parts)
    for run in (alone, spin_team.run):
        got = np.full((64, 160), np.nan, np.float32)
        assert live_gemm.matmul_live(g, x, live, got, run)
        np.testing.assert_array_equal(bits(got), bits(want))


@pytest.mark.parametrize("rows, units, live_count, columns", [
    (65, 9, 1, 16),  # the shortest batch it takes, one live row, one vector of columns
    (300, 16, 15, 32),  # a block and a part, every row but one live, a single vector per column block
    (513, 40, 13, 48),  # three blocks, the last of one row
    (129, 300, 150, 784),  # the seed's inputs: whole tiles and a single vector at each column block's end
])
def test_edge_shapes_against_float64(rows, units, live_count, columns):
    g, x, live, dead = problem(rows, units, live_count, columns, seed=rows)
    got = np.full((units, columns), np.nan, np.float32)
    assert live_gemm.takes(g, x, live, got)
    assert live_gemm.matmul_live(g, x, live, got, spin_team.run)
    alone_too = np.empty_like(got)
    assert live_gemm.matmul_live(g, x, live, alone_too, alone)
    np.testing.assert_array_equal(bits(got), bits(alone_too))
    assert (bits(got[dead]) == 0).all()
    assert_close_to_exact(got, g, x)


def test_dead_rows_are_positive_zero_over_stale_values():
    g, x, live, dead = problem(300, 48, 20, 32, seed=2)
    out = np.full((48, 32), np.nan, np.float32)
    out[dead[0]] = -0.0
    assert live_gemm.matmul_live(g, x, live, out, spin_team.run)
    assert (bits(out[dead]) == 0).all()  # +0, as BLAS's whole product sums 0 * x
    assert_close_to_exact(out, g, x)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_input_is_reported_and_the_layer_takes_the_whole_product(bad):
    g, x, live, dead = problem(300, 48, 20, 32, seed=3)
    x[200, 5] = bad
    out = np.empty((48, 32), np.float32)
    assert not live_gemm.matmul_live(g, x, live, out, spin_team.run)
    got = linear._weight_grad(g, x)
    np.testing.assert_array_equal(bits(got), bits(linear._product(g.T, x)))
    assert np.isnan(got[dead, 5]).all()  # 0 * inf and 0 * NaN: the dead rows are NaN there, as torch's


def test_what_it_does_not_take():
    g, x, live, _ = problem(300, 48, 20, 32)
    out = np.empty((48, 32), np.float32)
    assert live_gemm.takes(g, x, live, out)
    refused = {
        "float64": (g.astype(np.float64), x, live, out),
        "a short batch": (g[:64].copy(), x[:64].copy(), live, out),
        "columns not a multiple of 16": (g, x[:, :30].copy(), live, np.empty((48, 30), np.float32)),
        "a strided x": (g, np.asfortranarray(x), live, out),
        "a strided g": (np.asfortranarray(g), x, live, out),
        "no unit live": (g, x, np.empty(0, np.int64), out),
        "int32 unit numbers": (g, x, live.astype(np.int32), out),
        "no out": (g, x, live, None),
        "a read-only out": (g, x, live, np.broadcast_to(out, out.shape)),
        "an out of the wrong shape": (g, x, live, np.empty((32, 48), np.float32)),
    }
    for reason, case in refused.items():
        assert not live_gemm.takes(*case), reason


def test_a_product_below_from_macs_is_left_to_blas(monkeypatch):
    monkeypatch.setattr(live_gemm, "FROM_MACS", 300 * 48 * 32 + 1)
    g, x, live, _ = problem(300, 48, 20, 32)
    assert not live_gemm.takes_operands(g, x)
    assert not live_gemm.takes(g, x, live, np.empty((48, 32), np.float32))
    monkeypatch.setattr(live_gemm, "FROM_MACS", 300 * 48 * 32)
    assert live_gemm.takes(g, x, live, np.empty((48, 32), np.float32))


def test_switched_off_it_takes_nothing(monkeypatch):
    g, x, live, _ = problem(300, 48, 20, 32)
    monkeypatch.setattr(live_gemm, "enabled", False)
    assert not live_gemm.takes(g, x, live, np.empty((48, 32), np.float32))


def spy(monkeypatch):
    calls = []
    original = live_gemm.matmul_live
    monkeypatch.setattr(live_gemm, "matmul_live", lambda g, x, live, out, run: calls.append(live.size) or
                        original(g, x, live, out, run))
    return calls


def test_the_layer_takes_it_for_a_long_batch(monkeypatch):
    calls = spy(monkeypatch)
    g, x, _, dead = problem(512, 96, 40, 80, seed=4)
    got = linear._weight_grad(g, x)
    takes_products = linear.gemm_job.takes_products() and linear.gemm_job.team_threads()
    assert calls == ([40] if takes_products else [])
    assert_close_to_exact(got, g, x)
    assert (bits(got[dead]) == 0).all()


def test_the_layer_hands_the_compile_to_the_background_once(monkeypatch):
    handed = []
    build = job_build.JobBuild(live_gemm._compile_job)
    monkeypatch.setattr(live_gemm, "_build", build)
    monkeypatch.setattr(job_build.background, "compile_later", handing_to(build, handed))
    g, x, _, _ = problem(linear.SKIP_DEAD_FROM_ROWS, 64, 60, 32)  # too few dead units for the skip: no product here
    for _ in range(2):
        linear._weight_grad(g, x)
    assert handed == [build.build_now]
