"""kernels/tile_gemm.py: W @ x^T and g^T @ x for a batch of up to 64 rows in register tiles, each element summed in
order without fused multiply-adds: the same bits on the team, on one thread, on two threads at once and in the
NumPy twin, and the engine's forward and weight gradient at such a batch computed there."""
from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.kernels import gemm_job, spin_team, tile_gemm
from tinygrad_opt.kernels import get as kernel
from tinygrad_opt.ops import linear

# (rows of W, inner, batch): the seed's layer, short tails of rows (m % ROWS) and of the packed blocks (k % 16)
SHAPES = [(256, 784, 64), (256, 784, 16), (250, 100, 48), (8, 1, 16), (37, 513, 32), (9, 17, 64)]
# (units, batch, inputs) of a weight gradient g^T @ x: the seed's, short tails of rows and of column vectors
GRADIENT_SHAPES = [(256, 64, 784), (250, 17, 48), (9, 1, 16), (37, 64, 32), (16, 3, 784)]


def operands(rows, inner, batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, inner)).astype(np.float32), rng.standard_normal((batch, inner)).astype(np.float32)


def twin(w, x):
    c = np.empty((w.shape[0], x.shape[0]), np.float32)
    tile_gemm.twin_rows(w, np.ascontiguousarray(x.T), c)
    return c


def gradient_operands(units, batch, inputs, seed=0):
    """(g^T, x): g^T a transposed view of the C-contiguous (batch, units) gradient, x C-contiguous rows."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((batch, units)).astype(np.float32)
    return g.T, rng.standard_normal((batch, inputs)).astype(np.float32)


def threads_at_once(threads: int):
    """A `run` for tile_gemm: the compiled job run by `threads` threads at once, each through ctypes (which
    releases the GIL)."""
    assert tile_gemm.wait_built()
    job = ctypes.CFUNCTYPE(None, ctypes.c_int64)(tile_gemm.job_address())
    start = threading.Barrier(threads)

    def run(_, args):
        def work():
            start.wait()
            job(args.ctypes.data)
        team = [threading.Thread(target=work) for _ in range(threads)]
        for thread in team:
            thread.start()
        for thread in team:
            thread.join()

    return run


def on_threads_product(a, b, threads: int):
    return tile_gemm.matmul(a, b, run=threads_at_once(threads))


def on_threads(w, x, threads: int):
    return tile_gemm.matmul(w, x.T, run=threads_at_once(threads))


def bits(a):
    return a.view(np.uint32)


@pytest.mark.parametrize("rows, inner, batch", SHAPES)
def test_one_thread_two_threads_the_team_and_the_twin_give_the_same_bits(rows, inner, batch):
    w, x = operands(rows, inner, batch)
    expected = twin(w, x)
    for threads in (1, 2):
        np.testing.assert_array_equal(bits(on_threads(w, x, threads)), bits(expected))
    np.testing.assert_array_equal(bits(tile_gemm.matmul(w, x.T, run=spin_team.run)), bits(expected))
    np.testing.assert_array_equal(bits(tile_gemm.matmul(w, x.T)), bits(expected))  # no run: the twin
    exact = w.astype(np.float64) @ x.T.astype(np.float64)
    magnitude = np.abs(w).astype(np.float64) @ np.abs(x.T).astype(np.float64)  # sum of |terms| per element
    assert np.all(np.abs(expected - exact) <= 2 * inner * 2.0**-24 * magnitude)  # two roundings a term, at most


@pytest.mark.parametrize("units, batch, inputs", GRADIENT_SHAPES)
def test_a_weight_gradient_reads_the_rows_as_they_are_and_gives_the_twins_bits(units, batch, inputs):
    gt, x = gradient_operands(units, batch, inputs)
    assert tile_gemm.layout(gt, x) is not None
    expected = np.empty((units, inputs), np.float32)
    tile_gemm.twin_rows(gt, x, expected)
    for threads in (1, 2):
        np.testing.assert_array_equal(bits(on_threads_product(gt, x, threads)), bits(expected))
    np.testing.assert_array_equal(bits(tile_gemm.matmul(gt, x, run=spin_team.run)), bits(expected))
    np.testing.assert_array_equal(bits(tile_gemm.matmul(gt, x)), bits(expected))
    exact = gt.astype(np.float64) @ x.astype(np.float64)
    magnitude = np.abs(gt).astype(np.float64) @ np.abs(x).astype(np.float64)
    assert np.all(np.abs(expected - exact) <= 2 * batch * 2.0**-24 * magnitude)


def fused_forward(w, x, b, run):
    y = np.full((x.shape[0], w.shape[0]), np.nan, np.float32)
    tiles = tile_gemm.layout(w, x.T)
    assert tile_gemm.takes_turned(tiles, b, y)
    h_t = tile_gemm.matmul(w, x.T, None, run, tiles, b, y)
    return h_t, y


@pytest.mark.parametrize("rows, inner, batch", SHAPES)
def test_the_forward_fused_with_its_bias_and_relu_gives_the_unfused_passes_bits(rows, inner, batch):
    """Each thread turns the rows of W @ x^T it computed into relu(. + b): the bits of the product, then kernel
    bias_relu_transposed's pass, on one thread, two, the team and the twin; signed zeros and NaNs as PyTorch's relu
    leaves them, columns of the output past a block of 16 units (rows % 16) included."""
    w, x = operands(rows, inner, batch, seed=21)
    b = np.random.default_rng(22).standard_normal(rows).astype(np.float32)
    w[0], b[0] = 0.0, -0.0  # a unit whose output is 0 + -0 = +0 ...
    b[min(1, rows - 1)] = np.nan  # ... one that is NaN throughout
    h_t = twin(w, x)
    expected = np.empty((batch, rows), np.float32)
    kernel("bias_relu_transposed", h_t)(h_t.copy(), b, expected)
    for run in (threads_at_once(1), threads_at_once(2), spin_team.run, None):
        got_h_t, got = fused_forward(w, x, b, run)
        np.testing.assert_array_equal(bits(got_h_t), bits(h_t))
        np.testing.assert_array_equal(bits(got), bits(expected))
    assert np.isnan(expected[:, min(1, rows - 1)]).all() and (expected >= 0).sum() > expected.size // 4


def test_the_fused_forward_takes_only_a_float32_bias_and_a_contiguous_output():
    w, x = operands(64, 32, 16)
    tiles = tile_gemm.layout(w, x.T)
    y = np.empty((16, 64), np.float32)
    assert tile_gemm.takes_turned(tiles, np.zeros(64, np.float32), y)
    assert not tile_gemm.takes_turned(tiles, np.zeros(64), y)  # float64 bias
    assert not tile_gemm.takes_turned(tiles, np.zeros(128, np.float32)[::2], y)  # strided bias
    assert not tile_gemm.takes_turned(tiles, np.zeros(64, np.float32), np.empty((64, 16), np.float32).T)
    assert not tile_gemm.takes_turned(tiles, np.zeros(64, np.float32), np.empty((16, 63), np.float32))
    gt, q = gradient_operands(64, 16, 32)
    assert not tile_gemm.takes_turned(tile_gemm.layout(gt, q), np.zeros(64, np.float32), np.empty((32, 64), np.float32))


def test_the_twin_sums_each_element_in_order_with_a_rounded_product_and_a_rounded_sum():
    w, x = operands(9, 21, 16, seed=3)
    w[0, :4] = [1e30, -1e30, 3e-8, -0.0]  # cancellation and a tiny addend: the order and the roundings show
    expected = np.empty((9, 16), np.float32)
    for i in range(9):
        for j in range(16):
            total = np.float32(0)
            for t in range(21):
                total = np.float32(total + np.float32(w[i, t] * x[j, t]))
            expected[i, j] = total
    np.testing.assert_array_equal(bits(twin(w, x)), bits(expected))
    np.testing.assert_array_equal(bits(on_threads(w, x, 2)), bits(expected))


def test_infinities_nans_and_signed_zeros_land_where_the_twin_puts_them():
    w, x = operands(64, 48, 32, seed=5)
    w[3, 7], w[10, :] = np.inf, -0.0
    x[5, 11], x[6, 2] = np.nan, -np.inf
    got, expected = on_threads(w, x, 2), twin(w, x)
    nan = np.isnan(expected)
    assert nan.any() and np.isinf(expected).any()
    np.testing.assert_array_equal(np.isnan(got), nan)  # a NaN's sign may depend on the operands' order
    np.testing.assert_array_equal(bits(got)[~nan], bits(expected)[~nan])
    finite = np.isfinite(x).all(axis=1)
    assert np.all(bits(expected[10, finite]) == 0)  # 0 + (-0 * x) = +0: sums start from +0


@pytest.mark.parametrize("w, xt, why", [
    (np.ones((64, 32)), np.ones((16, 32)).T, "float64"),
    (np.ones((64, 32), np.float32), np.ones((24, 32), np.float32).T, "a batch not a multiple of 16"),
    (np.ones((64, 32), np.float32), np.ones((80, 32), np.float32).T, "more than 64 columns"),
    (np.ones((64, 65), np.float32), np.ones((65, 16), np.float32), "rows of Q with more than 64 of them"),
    (np.ones((64, 32), np.float32), np.ones((32, 32), np.float32)[:, ::2], "Q's columns strided"),
    (np.ones((64, 32), np.float32), np.ones((32, 24), np.float32), "Q's rows not a multiple of 16 long"),
    (np.ones((4, 32), np.float32), np.ones((16, 32), np.float32).T, "fewer than two tiles of rows"),
    (np.ones((32, 64), np.float32)[:, ::2], np.ones((16, 32), np.float32).T, "W's columns strided"),
])
def test_other_products_stay_on_blas(w, xt, why):
    assert tile_gemm.layout(w, xt) is None, why


def test_the_switch_turns_the_tiles_off(monkeypatch):
    w, x = operands(64, 32, 16)
    assert tile_gemm.layout(w, x.T) is not None
    monkeypatch.setattr(tile_gemm, "enabled", False)
    assert tile_gemm.layout(w, x.T) is None


def test_two_python_threads_multiply_at_once_each_with_its_own_packing():
    pairs = [operands(256, 784, 64, seed=s) for s in (1, 2)]
    expected = [twin(w, x) for w, x in pairs]
    wrong = []

    def work(k):
        w, x = pairs[k]
        for _ in range(30):
            if not np.array_equal(tile_gemm.matmul(w, x.T, run=spin_team.run), expected[k]):
                wrong.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_the_layers_forward_at_batch_64_is_the_tiles_product(two_engine_threads, monkeypatch):
    """Linear and the fused Linear+ReLU take the first layer's product from the tiles (weight first), and both
    give its numbers: relu(tiles^T + b) bit for bit, against torch to float32's rounding of a 784-term sum."""
    calls = []
    real = tile_gemm.matmul
    monkeypatch.setattr(tile_gemm, "matmul", lambda a, *rest: calls.append(a.shape) or real(a, *rest))
    w, x = operands(256, 784, 64, seed=7)
    b = np.random.default_rng(8).standard_normal(256).astype(np.float32)
    layer = tg.nn.Linear(784, 256)
    layer.weight.data[...], layer.bias.data[...] = w, b
    fused = tg.nn.Sequential(layer, tg.nn.ReLU())(tg.Tensor(x)).data
    unfused = tg.nn.functional.relu(layer(tg.Tensor(x))).data
    assert calls == [(256, 784)] * 2
    expected = np.maximum(twin(w, x).T + b, np.float32(0))
    np.testing.assert_array_equal(bits(fused), bits(expected))
    np.testing.assert_array_equal(bits(unfused), bits(expected))
    torch = pytest.importorskip("torch")
    reference = torch.relu(torch.from_numpy(x) @ torch.from_numpy(w).T + torch.from_numpy(b)).numpy()
    terms = np.abs(x) @ np.abs(w).T  # each sum's |terms|: float32's rounding of a 784-term sum scales with it
    np.testing.assert_array_less(np.abs(fused - reference), 1e-6 * terms + 1e-30)


def test_with_the_team_products_off_the_forward_stays_on_blas(monkeypatch):
    monkeypatch.setattr(gemm_job, "team_products", False)
    w, x = operands(256, 784, 64, seed=9)
    np.testing.assert_array_equal(bits(linear._transposed_product(x, w)), bits(w @ x.T))


def dead_unit_gradient(units=256, batch=64, inputs=784, seed=11):
    """(g^T, x, live): about two in five units dead (g's column all zeros, some of them -0.0)."""
    gt, x = gradient_operands(units, batch, inputs, seed)
    g = gt.T
    dead = np.random.default_rng(seed).random(units) < 0.4
    g[:, dead] = 0.0
    g[::3, np.flatnonzero(dead)[:5]] = -0.0
    return gt, x, np.flatnonzero((g != 0).any(axis=0))


def live_on_threads(gt, x, live, threads: int):
    out = np.full((gt.shape[0], x.shape[1]), np.nan, np.float32)
    return tile_gemm.matmul_live(gt, x, live, out, run=threads_at_once(threads)), out


@pytest.mark.parametrize("units, batch, inputs", [(256, 64, 784), (250, 17, 48), (37, 5, 32)])
def test_the_live_rows_alone_give_the_whole_products_bits_and_the_dead_rows_positive_zeros(units, batch, inputs):
    gt, x, live = dead_unit_gradient(units, batch, inputs)
    assert 0 < live.size < units and tile_gemm.takes_live(gt, x, live, np.empty((units, inputs), np.float32))
    whole = tile_gemm.matmul(gt, x)  # the twin: every row multiplied
    for threads in (1, 2):
        finite, out = live_on_threads(gt, x, live, threads)
        assert finite
        np.testing.assert_array_equal(bits(out), bits(whole))
    out = np.full_like(whole, np.nan)
    assert tile_gemm.matmul_live(gt, x, live, out, run=spin_team.run)
    np.testing.assert_array_equal(bits(out), bits(whole))
    dead = np.setdiff1d(np.arange(units), live)
    assert np.all(bits(out[dead]) == 0)
    out = np.full_like(whole, np.nan)
    assert tile_gemm.matmul_live(gt, x, live, out)  # no run: the twin's whole product
    np.testing.assert_array_equal(bits(out), bits(whole))


def test_every_short_end_of_a_block_of_rows_gives_the_twins_bits():
    """A block whose rows are not a multiple of the tile's height ends with a tile over its last rows, overlapping
    the tile before it: every count of rows from one tile to three, whole products and live rows, on one thread
    and two, and the dead rows +0."""
    height = tile_gemm.UNPACKED_TILE[0]
    for units in range(2 * tile_gemm.ROWS, 3 * height + 1):
        gt, x = gradient_operands(units, 64, 48, seed=units)
        expected = np.empty((units, 48), np.float32)
        tile_gemm.twin_rows(gt, x, expected)
        for threads in (1, 2):
            np.testing.assert_array_equal(bits(on_threads_product(gt, x, threads)), bits(expected))
    for count in range(height - 1, 3 * height + 1):
        gt, x = gradient_operands(3 * height + 8, 64, 48, seed=count)
        dead = np.random.default_rng(count).permutation(gt.shape[0])[count:]
        gt[dead] = 0.0
        live = np.setdiff1d(np.arange(gt.shape[0]), dead)
        whole = tile_gemm.matmul(gt, x)
        for threads in (1, 2):
            finite, out = live_on_threads(gt, x, live, threads)
            assert finite
            np.testing.assert_array_equal(bits(out), bits(whole))
            assert np.all(bits(out[dead]) == 0)


def test_a_non_finite_input_is_reported_and_the_layer_takes_the_whole_product(two_engine_threads):
    gt, x, live = dead_unit_gradient()
    x[5, 7] = np.inf
    finite, _ = live_on_threads(gt, x, live, 2)
    assert not finite
    got = linear._weight_grad(np.ascontiguousarray(gt.T), x, None, live)
    whole = tile_gemm.matmul(gt, x)
    assert np.isnan(got[np.setdiff1d(np.arange(gt.shape[0]), live), 7]).all()  # the dead rows' 0 * inf
    np.testing.assert_array_equal(np.isnan(got), np.isnan(whole))
    np.testing.assert_array_equal(bits(got)[~np.isnan(whole)], bits(whole)[~np.isnan(whole)])


@pytest.mark.parametrize("live, why", [
    (np.arange(256), "every unit live"),
    (np.array([], np.int64), "no live unit"),
    (np.arange(0, 256, 2).astype(np.int32), "int32 numbers"),
    (np.arange(0, 256, 4)[::2], "a strided view"),
])
def test_live_rows_only_where_some_units_are_dead(live, why):
    gt, x, _ = dead_unit_gradient()
    assert not tile_gemm.takes_live(gt, x, live, np.empty((256, 784), np.float32)), why


def test_the_fused_layers_weight_gradient_skips_the_dead_units_with_the_unfused_bits(two_engine_threads, monkeypatch):
    calls = []
    real = tile_gemm.matmul_live
    monkeypatch.setattr(tile_gemm, "matmul_live", lambda *a, **k: calls.append(a[2].size) or real(*a, **k))
    w, x = operands(256, 784, 64, seed=12)
    b = np.full(256, -1e3, np.float32)  # two units in three dead on this batch (pre-activations about +-28)
    b[::3] = 0.0

    def weight_grad(fused: bool):
        layer = tg.nn.Linear(784, 256)
        layer.weight.data[...], layer.bias.data[...] = w, b
        out = tg.nn.Sequential(layer, tg.nn.ReLU())(tg.Tensor(x)) if fused else \
            tg.nn.functional.relu(layer(tg.Tensor(x)))
        (out * out).sum().backward()
        return layer.weight.grad.data

    fused = weight_grad(True)
    assert len(calls) == 1 and 0 < calls[0] < 256
    np.testing.assert_array_equal(bits(fused), bits(weight_grad(False)))
