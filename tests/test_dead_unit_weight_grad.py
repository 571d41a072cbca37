"""dL/dW without products for dead units (ops/linear.py _weight_grad): the rows of units whose gradient column is
all zeros are the whole product's +0 bit for bit, the live rows its sums, and a non-finite input or few dead units
take the whole product."""
import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.capture import CaptureWarning
from tinygrad_opt.kernels import head_backward, linear_reference, live_gemm
from tinygrad_opt.ops import linear

linear_cpu = pytest.importorskip("tinygrad_opt.kernels.linear_cpu", reason="Numba is not installed")

ROWS = linear.SKIP_DEAD_FROM_ROWS


def gradient(rows, units, dead_share, dtype=np.float32, seed=0):
    """A ReLU layer's masked gradient: about half its entries zero, `dead_share` of its columns all zero, with
    -0.0 among the zeros (a zero that still counts as no gradient)."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((rows, units)).astype(dtype)
    g[rng.random((rows, units)) < 0.5] = 0
    g[rng.random((rows, units)) < 0.1] = -0.0
    dead = rng.permutation(units)[:int(dead_share * units)]
    g[:, dead] = np.where(rng.random((rows, dead.size)) < 0.5, 0.0, -0.0)
    return g, np.sort(dead)


def inputs(rows, features, dtype=np.float32, seed=1):
    return np.random.default_rng(seed).standard_normal((rows, features)).astype(dtype)  # negative x: 0 * x is -0


def bits(a):
    return a.view(f"u{a.itemsize}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_live_columns_kernel_is_its_reference(dtype):
    g, dead = gradient(300, 37, 0.4, dtype)
    g[7, dead[0]] = np.nan  # a NaN gradient keeps its unit
    g[:, 3] = 0.0
    want = linear_reference.live_columns(g)
    got = linear_cpu.live_columns(g)
    np.testing.assert_array_equal(got, want)
    assert dead[0] in got and 3 not in got and set(dead[1:]).isdisjoint(got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_live_columns_turned_kernel_is_its_reference(dtype):
    g, dead = gradient(300, 37, 0.4, dtype)
    live = linear_reference.live_columns(g)
    got = linear_cpu.live_columns_turned(g, live)
    assert got.shape == (live.size, 300) and got.T.flags.c_contiguous  # the (rows, live) gather, seen turned
    np.testing.assert_array_equal(bits(got), bits(linear_reference.live_columns_turned(g, live)))
    np.testing.assert_array_equal(bits(got), bits(g[:, live].T))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [None, np.inf, -np.inf, np.nan])
def test_place_live_rows_kernel_is_its_reference(dtype, bad):
    rng = np.random.default_rng(4)
    live = np.sort(rng.permutation(40)[:23])
    part = rng.standard_normal((live.size, 17)).astype(dtype)
    part[3, 4] = -0.0
    if bad is not None:
        part[live.size - 1, 16] = bad  # the last entry: the check must reach it
    want, got = np.full((40, 17), np.nan, dtype), np.full((40, 17), np.nan, dtype)
    finite = linear_reference.place_live_rows(part, live, want)
    assert linear_cpu.place_live_rows(part, live, got) is finite is (bad is None)
    if finite:
        np.testing.assert_array_equal(bits(got), bits(want))
        np.testing.assert_array_equal(bits(got[live]), bits(part))
        assert not np.signbit(np.delete(got, live, axis=0)).any()  # the dead rows +0, as the whole product's


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [ROWS, 1000])
def test_dead_rows_are_the_whole_products_bits_and_live_rows_its_sums(dtype, rows):
    g, dead = gradient(rows, 96, 0.5, dtype)
    x = inputs(rows, 130, dtype)
    whole = g.T @ x
    got = linear._weight_grad(g, x)
    live = np.setdiff1d(np.arange(96), dead)
    assert (whole[dead] == 0).all()
    np.testing.assert_array_equal(bits(got[dead]), bits(whole[dead]))  # +0, as BLAS sums 0 * x
    # the narrower product as the engine computes it (OpenBLAS's, or the team's blocks: kernels/gemm_job.py)
    np.testing.assert_array_equal(bits(got[live]), bits(linear._product(np.ascontiguousarray(g[:, live].T), x)))
    np.testing.assert_allclose(got, whole, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_written_into_out_over_stale_values():
    g, dead = gradient(ROWS, 64, 0.5)
    x = inputs(ROWS, 40)
    out = np.full((64, 40), np.nan, np.float32)
    assert linear._weight_grad(g, x, out) is out
    np.testing.assert_array_equal(bits(out), bits(linear._weight_grad(g, x)))
    assert (out[dead] == 0).all()


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_input_takes_the_whole_product(bad):
    g, dead = gradient(ROWS, 64, 0.5)
    x = inputs(ROWS, 40)
    x[5, 7] = bad
    got = linear._weight_grad(g, x)
    np.testing.assert_array_equal(bits(got), bits(g.T @ x))
    assert np.isnan(got[dead, 7]).all()  # 0 * inf and 0 * NaN: the dead rows are NaN there, as torch's


@pytest.mark.parametrize("rows,dead_share", [(ROWS, 0.1), (ROWS - 1, 0.5), (ROWS, 1.0)])
def test_few_dead_units_short_batches_and_no_live_unit_take_the_whole_product(rows, dead_share):
    g, _ = gradient(rows, 64, dead_share)
    x = inputs(rows, 40)
    np.testing.assert_array_equal(bits(linear._weight_grad(g, x)), bits(g.T @ x))


@pytest.mark.parametrize("dtype, features", [(np.float64, 64), (np.float32, 40)])
def test_below_skip_dead_from_rows_only_the_fused_tiles_skip_dead_units(dtype, features):
    # 96 rows: float64 or inputs not a multiple of 16 keep the whole product (the gathered one through
    # OpenBLAS pays from SKIP_DEAD_FROM_ROWS rows only)
    g, _ = gradient(96, 64, 0.5, dtype)
    x = inputs(96, features, dtype)
    assert not linear._skips_dead_units(g, x)
    np.testing.assert_array_equal(bits(linear._weight_grad(g, x)), bits(g.T @ x))


def test_below_skip_dead_from_rows_the_fused_tiles_take_the_live_rows():
    g, dead = gradient(96, 256, 0.5)
    x = inputs(96, 128)  # 96 x 256 x 128 multiply-adds: above live_gemm.FROM_MACS
    takes = linear._live_tiles_take_operands(g, x)
    assert takes or not (live_gemm.available() and linear._team_takes_live_tiles())
    assert linear._skips_dead_units(g, x) is takes
    got = linear._weight_grad(g, x)
    if takes:
        want = np.empty_like(got)
        assert live_gemm.matmul_live(g, x, linear_reference.live_columns(g), want, linear.spin_team.run)
        np.testing.assert_array_equal(bits(got), bits(want))
    assert (bits(got[dead]) == 0).all()
    np.testing.assert_allclose(got, g.T.astype(np.float64) @ x, rtol=1e-4, atol=1e-5)


def spy_on_live_tiles(monkeypatch):
    """([live units of each live_gemm.matmul_live call], the unwrapped function)."""
    calls = []
    original = live_gemm.matmul_live
    monkeypatch.setattr(live_gemm, "matmul_live", lambda g, x, live, out, run: calls.append(live.size) or
                        original(g, x, live, out, run))
    return calls, original


@pytest.mark.parametrize("rows, dead_share, every_row", [(128, 0.0, True), (256, 0.1, True), (300, 0.1, False)])
def test_few_dead_units_in_the_fused_tiles_up_to_one_block_of_rows(monkeypatch, rows, dead_share, every_row):
    # up to live_gemm.EVERY_ROW_UP_TO rows the fused tiles take every row where few or no units are dead; beyond,
    # such a gradient is the whole product through BLAS
    calls, original = spy_on_live_tiles(monkeypatch)
    g, dead = gradient(rows, 256, dead_share)
    x = inputs(rows, 128)
    got = linear._weight_grad(g, x)
    if every_row and linear._live_tiles_take_operands(g, x):
        assert calls == [256 - dead.size]
        want = np.empty_like(got)
        assert original(g, x, linear_reference.live_columns(g), want, linear.spin_team.run)
        np.testing.assert_array_equal(bits(got), bits(want))
    else:
        assert calls == []
        np.testing.assert_array_equal(bits(got), bits(linear._product(g.T, x)))
    np.testing.assert_allclose(got, g.T.astype(np.float64) @ x, rtol=1e-4, atol=1e-5)


def dead_layer_batches(rows=ROWS, steps=4, seed=3, features=30):
    rng = np.random.default_rng(seed)
    return [(tg.Tensor(rng.random((rows, features), dtype=np.float32)), tg.Tensor(rng.integers(0, 5, rows)))
            for _ in range(steps)]


def model_with_dead_units(fused: bool, features=30, hidden=48):
    """features-hidden-5 with ReLU; half the hidden units dead on every (non-negative) input: a weight row <= 0,
    bias < 0."""
    tg.manual_seed(0)
    first = nn.Linear(features, hidden)
    first.weight.data[::2] = -np.abs(first.weight.data[::2])
    first.bias.data[::2] = -1.0
    layers = [first, nn.ReLU(), nn.Linear(hidden, 5)]
    return nn.Sequential(*layers) if fused else _Unfused(layers)


class _Unfused(nn.Module):
    """The same layers called one by one, so that Sequential does not fuse Linear and ReLU."""

    def __init__(self, layers):
        super().__init__()
        self.first, self.act, self.last = layers

    def forward(self, x):
        return self.last(self.act(self.first(x)))


def train(model, data, compiled=False):
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = tg.compile(step) if compiled else step
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        for x, y in data:
            run(x, y)
    if compiled:
        assert run.replaying, run.eager_reason
    return [p.data.copy() for p in model.parameters()] + [p.grad.data.copy() for p in model.parameters()]


def test_the_dead_units_are_skipped_in_the_step(monkeypatch):
    calls = []
    original = linear._product
    monkeypatch.setattr(linear, "_product", lambda a, b, out=None: calls.append(a.shape) or original(a, b, out))
    train(model_with_dead_units(True), dead_layer_batches(steps=1))
    live_rows = [rows for rows, inner in calls if inner == ROWS and rows < 48]
    assert live_rows and live_rows[0] <= 24  # the first layer's dW: its live units' rows only (half are dead)


@pytest.fixture
def pairs_only(monkeypatch):
    """nn.Sequential fuses Linear and ReLU as a pair, not with the head after them (ops.LinearReLULinear, whose
    backward has its own bits where kernels/head_backward.py runs: tests/test_linear_relu_linear.py)."""
    monkeypatch.setattr(head_backward, "MAX_OUTPUTS", 0)


def test_fused_unfused_and_replayed_steps_give_the_same_bits(pairs_only):
    data = dead_layer_batches()
    fused = train(model_with_dead_units(True), data)
    unfused = train(model_with_dead_units(False), data)
    replayed = train(model_with_dead_units(True), data, compiled=True)
    for a, b, c in zip(fused, unfused, replayed):
        np.testing.assert_array_equal(bits(a), bits(b))
        np.testing.assert_array_equal(bits(a), bits(c))


@pytest.mark.parametrize("rows", [48, 300])
def test_the_head_node_replays_its_own_bits_and_stays_near_the_unfused_numbers(rows):
    data = dead_layer_batches(rows=rows, steps=3)
    fused = train(model_with_dead_units(True), data)
    replayed = train(model_with_dead_units(True), data, compiled=True)
    for a, c in zip(fused, replayed):
        np.testing.assert_array_equal(bits(a), bits(c))
    x, y = data[0]
    grads = []
    for model in (model_with_dead_units(True), model_with_dead_units(False)):
        nn.CrossEntropyLoss()(model(x), y).backward()
        grads.append([p.grad.data for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert (grads[0][0][::2] == 0).all() and (bits(grads[0][0][::2]) == 0).all()  # dead units' rows: +0


@pytest.mark.parametrize("rows", [96, 256])
def test_fused_unfused_and_replayed_steps_give_the_same_bits_in_the_fused_tiles(monkeypatch, pairs_only, rows):
    # 128 inputs, 256 hidden units: the live rows in kernels/live_gemm.py's tiles (the team taking the products,
    # at least live_gemm.FROM_MACS), below SKIP_DEAD_FROM_ROWS too
    calls, original = spy_on_live_tiles(monkeypatch)
    data = dead_layer_batches(rows=rows, steps=3, features=128)
    fused = train(model_with_dead_units(True, 128, 256), data)
    if live_gemm.available() and linear.gemm_job.takes_products() and linear.gemm_job.team_threads():
        assert calls and calls[0] <= 128
    unfused = train(model_with_dead_units(False, 128, 256), data)
    replayed = train(model_with_dead_units(True, 128, 256), data, compiled=True)
    for a, b, c in zip(fused, unfused, replayed):
        np.testing.assert_array_equal(bits(a), bits(b))
        np.testing.assert_array_equal(bits(a), bits(c))


def test_the_step_matches_torch_with_dead_units():
    torch = pytest.importorskip("torch")
    data = dead_layer_batches(steps=1)
    model = model_with_dead_units(True)
    tmodel = torch.nn.Sequential(torch.nn.Linear(30, 48), torch.nn.ReLU(), torch.nn.Linear(48, 5))
    with torch.no_grad():
        for p, q in zip(model.parameters(), tmodel.parameters()):
            q.copy_(torch.from_numpy(p.data.copy()))
    x, y = data[0]
    nn.CrossEntropyLoss()(model(x), y).backward()
    torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x.data)), torch.from_numpy(y.data)).backward()
    for p, q in zip(model.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert (model[0].weight.grad.data[::2] == 0).all()
