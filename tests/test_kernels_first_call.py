"""First calls run a twin with the loop's bits while the loop compiles in the background (kernels/first_call.py,
kernels/background.py, the registry's `first_call`): each twin against its loop, bit for bit on hard values; the
hand-over (scratch arrays, what is not handed over, the switch to the loop); a cold training run's numbers with
the background compile on and off, and the thread that imports Numba."""
import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_opt import kernels
from tinygrad_opt.kernels import background, first_call, registry

pytest.importorskip("numba")
from tinygrad_opt.kernels import cpu, linear_cpu  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# the hard values make NumPy warn (inf - inf and the like); the loops and twins must agree on them silently
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)


def hard(rng, shape, dtype, nan: bool = True) -> np.ndarray:
    """Normal values salted with zeros of both signs, subnormals, infinities and NaNs of both signs."""
    a = rng.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1)
    tiny = np.finfo(dtype).smallest_subnormal
    specials = np.array([0.0, -0.0, tiny, -tiny, np.inf, -np.inf] + ([np.nan, -np.nan] if nan else []), dtype)
    picks = rng.choice(flat.size, min(flat.size, rng.integers(0, 9)), replace=False)
    flat[picks] = rng.choice(specials, picks.size)
    return a


def bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def agree(twin_result, loop_result) -> None:
    """The twin gives the loop's bits, or declines (NotImplemented) where NaNs come in."""
    if twin_result is NotImplemented:
        return
    if isinstance(loop_result, tuple):
        for got, want in zip(twin_result, loop_result):
            same_bits(got, want)
    elif loop_result is not None:
        same_bits(twin_result, loop_result)


def same_bits(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(bits(got), bits(want))


# ---- each twin gives its loop's bits --------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(seed=SEEDS, rows=st.integers(1, 40), cols=st.integers(1, 40), dtype=DTYPES, nan=st.booleans())
def test_the_linear_twins_give_the_loops_bits(seed, rows, cols, dtype, nan):
    rng = np.random.default_rng(seed)
    h, b, g = (hard(rng, shape, dtype, nan) for shape in ((rows, cols), cols, (rows, cols)))
    if rng.integers(2):
        b[0] = -0.0
        h[0, 0] = -0.0  # -0 + -0: the one sum whose zero keeps its sign
    agree(first_call.bias_relu(h.copy(), b), linear_cpu.bias_relu(h.copy(), b))
    h_t = np.ascontiguousarray(h.T)
    agree(first_call.bias_relu_transposed(h_t, b, np.empty((rows, cols), dtype)),
          linear_cpu.bias_relu_transposed(h_t, b, np.empty((rows, cols), dtype)))
    y = first_call.relu(h)  # ReLU and its backward select, they compute nothing: NaNs pass as they are
    same_bits(y, cpu.relu(h))
    same_bits(first_call.relu_backward(g, y), cpu.relu_backward(g, y))
    agree(first_call.bias_grad(g), cpu.bias_grad(g))
    agree(first_call.relu_backward_bias_grad(g, y), linear_cpu.relu_backward_bias_grad(g, y))
    agree(first_call.relu_backward_bias_grad_live(g, y), linear_cpu.relu_backward_bias_grad_live(g, y))
    if not nan:  # inf - inf inside still gives the loops' bits: every NaN made inside is the one default NaN
        assert first_call.bias_grad(g) is not NotImplemented
        assert first_call.bias_relu(h.copy(), b) is not NotImplemented


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, rows=st.integers(1, 40), units=st.integers(1, 40), cols=st.integers(1, 30), dtype=DTYPES,
       nan=st.booleans())
def test_the_dead_unit_twins_give_the_loops_bits(seed, rows, units, cols, dtype, nan):
    rng = np.random.default_rng(seed)
    g = hard(rng, (rows, units), dtype, nan)
    g[:, rng.random(units) < 0.4] = rng.choice(np.array([0.0, -0.0], dtype), (rows, 1))  # dead units
    live = first_call.live_columns(g)
    np.testing.assert_array_equal(live, linear_cpu.live_columns(g))
    twin_turned, loop_turned = first_call.live_columns_turned(g, live), linear_cpu.live_columns_turned(g, live)
    same_bits(twin_turned, loop_turned)
    assert twin_turned.strides == loop_turned.strides  # one layout: BLAS's product of either has the same bits
    part = hard(rng, (live.size, cols), dtype, nan)
    twin_out, loop_out = np.full((units, cols), 7, dtype), np.full((units, cols), 7, dtype)
    finite = first_call.place_live_rows(part, live, twin_out)
    assert finite == linear_cpu.place_live_rows(part, live, loop_out) == bool(np.isfinite(part).all())
    if finite:  # otherwise out is unspecified: the caller computes the whole product into it
        same_bits(twin_out, loop_out)


def test_twins_that_compute_decline_nan_inputs_and_a_column_sum_declines_tall_arrays():
    g = np.ones((4, 3), np.float32)
    g[1, 2], g[2, 2] = np.nan, -np.nan  # which NaN wins depends on operand order
    assert first_call.bias_grad(g) is NotImplemented
    assert first_call.bias_relu(g.copy(), np.zeros(3, np.float32)) is NotImplemented
    assert first_call.bias_grad(np.ones((first_call.MAX_SUM_ROWS + 1, 2), np.float32)) is NotImplemented


def test_a_column_of_negative_zeros_sums_to_positive_zero_as_the_loop_does():
    g = np.full((3, 2), -0.0, np.float32)
    same_bits(first_call.bias_grad(g), cpu.bias_grad(g))
    assert not np.signbit(first_call.bias_grad(g)).any()


def test_where_the_twin_declines_the_registry_runs_the_loop(monkeypatch):
    g = np.ones((4, 3), np.float32)
    g[1, 2], g[2, 2] = np.nan, -np.nan
    kernel = registry._compiled_in_background("bias_grad", cpu.bias_grad, first_call.bias_grad, lambda g: "reference")
    same_bits(kernel(g), cpu.bias_grad(g))
    same_bits(kernel(g), cpu.bias_grad(g))  # still pending or ready: the loop either way



# float32 inputs where exp rounded from float64 differs from the C library's expf: close calls for any float32 exp
EXPF_SENSITIVE = [-9.6355550e-05, -2.7007531e-04, -3.1652095e-04, -3.3440816e-04, -3.7835244e-04]


@settings(max_examples=80, deadline=None)
@given(seed=SEEDS, rows=st.integers(0, 70), cols=st.integers(1, 40), dtype=DTYPES,
       scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4, 1e38]))
def test_the_softmax_cross_entropy_twin_gives_the_loops_bits(seed, rows, cols, dtype, scale):
    rng = np.random.default_rng(seed)
    z = np.clip(rng.standard_normal((rows, cols)) * scale, -3e38, 3e38).astype(dtype)  # finite: z - max may not be
    if rows and cols > 1:
        z[0, 0], z[0, 1] = 0.0, -0.0  # the max's zero sign
        z[rows - 1, :] = np.resize(np.array([0.0] + EXPF_SENSITIVE, dtype), cols)
    target = rng.integers(0, cols, rows)
    got = first_call.softmax_cross_entropy(z, target, 0.0)
    assert got is not NotImplemented
    for got_part, want in zip(got, cpu.softmax_cross_entropy(z, target, 0.0)):
        same_bits(got_part, want)


def test_the_softmax_cross_entropy_twin_declines_what_it_does_not_repeat():
    z, target = np.zeros((4, 3), np.float32), np.array([0, 1, 2, 0])
    assert first_call.softmax_cross_entropy(z, target, 0.1) is NotImplemented  # label smoothing
    for bad in (np.inf, -np.inf, np.nan):
        z[1, 1] = bad
        assert first_call.softmax_cross_entropy(z, target, 0.0) is NotImplemented
    z[1, 1] = 0.0
    assert first_call.softmax_cross_entropy(z, np.array([0, 3, 0, 0]), 0.0) is NotImplemented  # the loop raises
    assert first_call.softmax_cross_entropy(z, np.array([0, -1, 0, 0]), 0.0) is NotImplemented
    big = np.zeros((first_call.MAX_SOFTMAX_ELEMENTS // 2 + 1, 2))  # float64: a C exp call per element
    assert first_call.softmax_cross_entropy(big, np.zeros(len(big), np.int64), 0.0) is NotImplemented
    assert first_call.softmax_cross_entropy(big[:8], np.zeros(8, np.int64), 0.0) is not NotImplemented
    tall = np.zeros((first_call.MAX_SOFTMAX_ELEMENTS + 1, 1), np.float32)  # float32: a C log call per row
    assert first_call.softmax_cross_entropy(tall, np.zeros(len(tall), np.int64), 0.0) is NotImplemented
    assert first_call.softmax_cross_entropy(big.astype(np.float32), np.zeros(len(big), np.int64), 0.0) \
        is not NotImplemented


ADAM_OPTIONS = list(itertools.product([False, True], [(0.0, False), (0.1, False), (0.1, True)], [False, True]))
SGD_OPTIONS = [(maximize, wd, momentum, dampening, nesterov)  # Nesterov needs a momentum and no dampening
               for maximize, wd, momentum, dampening, nesterov
               in itertools.product([False, True], [0.0, 0.1], [0.0, 0.9], [0.0, 0.5], [False, True])
               if not nesterov or (momentum and not dampening)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize,decay,amsgrad", ADAM_OPTIONS)
def test_adams_twin_gives_the_loops_bits(dtype, maximize, decay, amsgrad):
    rng = np.random.default_rng(3)
    start = [hard(rng, 257, dtype, nan=False) for _ in range(4)]  # inf - inf inside: default NaNs only
    start[2] = np.abs(start[2])  # the second moments are not negative
    start[3] = np.abs(start[3])
    grad = hard(rng, 257, dtype, nan=False)
    results = []
    for twin in (True, False):
        param, m, v, vmax = (a.copy() for a in start)
        for step in (1, 2, 3):  # as the registry calls them: the loop where the twin declines (NaNs made inside)
            options = dict(step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=decay[0],
                           amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decay[1])
            if not twin or first_call.adam_update(param, grad, m, v, vmax, **options) is NotImplemented:
                cpu.adam_update(param, grad, m, v, vmax, **options)
        results.append((param, m, v, vmax))
    for got, want in zip(*results):
        same_bits(got, want)
    with_nan = [a.copy() for a in results[1]]
    with_nan[1][0] = np.nan
    assert first_call.adam_update(with_nan[0], grad, *with_nan[1:], step=2, lr=1e-2, beta1=0.9, beta2=0.999,
                                  eps=1e-8, weight_decay=decay[0], amsgrad=amsgrad, maximize=maximize,
                                  decoupled_weight_decay=decay[1]) is NotImplemented
    same_bits(with_nan[0], results[1][0])  # declined before writing


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize,weight_decay,momentum,dampening,nesterov", SGD_OPTIONS)
def test_sgds_twin_gives_the_loops_bits(dtype, maximize, weight_decay, momentum, dampening, nesterov):
    rng = np.random.default_rng(4)
    start = [hard(rng, 129, dtype, nan=False) for _ in range(2)]
    start[1][:] = np.nan  # the first step does not read the buffer
    grad = hard(rng, 129, dtype, nan=False)
    results = []
    for twin in (True, False):
        param, buf = (a.copy() for a in start)
        for step in (1, 2, 3):  # as the registry calls them: the loop where the twin declines (NaNs made inside)
            options = dict(lr=1e-2, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                           nesterov=nesterov, maximize=maximize, first_step=step == 1)
            if not twin or first_call.sgd_update(param, grad, buf, **options) is NotImplemented:
                cpu.sgd_update(param, grad, buf, **options)
        results.append((param, buf))
    for got, want in zip(*results):
        same_bits(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad,momentum", [(False, 0.0), (True, 0.9)])
def test_the_group_twins_give_the_group_loops_bits(dtype, amsgrad, momentum):
    rng = np.random.default_rng(5)
    sizes = (257, 3, 40000)  # the last one in blocks (and shared with the helper where that is on)
    start = [[hard(rng, n, dtype, nan=False) for n in sizes] for _ in range(5)]
    for arrays in start[2:4]:
        for a in arrays:
            np.abs(a, out=a)  # the second moments are not negative
    results = []
    for twin in (True, False):
        arrays = [[a.copy() for a in group] for group in start]
        for step in (1, 2, 3):
            adam = dict(step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, amsgrad=amsgrad,
                        maximize=False, decoupled_weight_decay=True)
            sgd = dict(lr=1e-2, momentum=momentum, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=True,
                       first_step=step == 1)
            if not twin or first_call.adam_update_group(*arrays[:4], arrays[4], **adam) is NotImplemented:
                cpu.adam_update_group(*arrays[:4], arrays[4], **adam)
            if not twin or first_call.sgd_update_group(arrays[4], arrays[1], arrays[2], **sgd) is NotImplemented:
                cpu.sgd_update_group(arrays[4], arrays[1], arrays[2], **sgd)
        results.append(arrays)
    for got_group, want_group in zip(*results):
        for got, want in zip(got_group, want_group):
            same_bits(got, want)


# the other optimizers' kernels: option sets as each optimizer passes them (`step` filled in per call)
OTHER_UPDATES = {
    "rmsprop_update": (3, (0,), [dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=wd, momentum=momentum,
                                      centered=centered, maximize=maximize)
                                 for wd, momentum, centered, maximize
                                 in itertools.product([0.0, 0.1], [0.0, 0.9], [False, True], [False, True])]),
    "adadelta_update": (2, (0, 1), [dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=wd, maximize=maximize)
                                    for wd, maximize in itertools.product([0.0, 0.1], [False, True])]),
    "adagrad_update": (1, (0,), [dict(lr=1e-2, lr_decay=decay, weight_decay=wd, eps=1e-10, maximize=maximize)
                                 for decay, wd, maximize in itertools.product([0.0, 0.1], [0.0, 0.1], [False, True])]),
    "adamax_update": (2, (1,), [dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=eps, weight_decay=wd, maximize=maximize)
                                for eps, wd, maximize in itertools.product([1e-8, 0.0], [0.0, 0.1], [False, True])]),
    "nadam_update": (2, (1,), [dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd, mu=0.95, mu_next=0.96,
                                    mu_product=0.4, decoupled_weight_decay=decoupled, maximize=maximize)
                               for wd, decoupled, maximize in itertools.product([0.0, 0.1], [False, True],
                                                                                [False, True])]),
    "radam_update": (2, (1,), [dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd,
                                    decoupled_weight_decay=decoupled, maximize=maximize)
                               for wd, decoupled, maximize in itertools.product([0.0, 0.1], [False, True],
                                                                                [False, True])]),
    "lion_update": (1, (), [dict(lr=1e-4, beta1=0.9, beta2=beta2, weight_decay=wd, maximize=maximize)
                            for beta2, wd, maximize in itertools.product([0.99, 0.3], [0.0, 0.1], [False, True])]),
    "schedule_free_adamw_update": (2, (1,), [dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd,
                                                  ckp1=ckp1, bias_correction2=0.002)
                                             for wd, ckp1 in itertools.product([0.0, 0.1], [0.25, 0.75])]),
}
TAKES_STEP = ("adagrad_update", "adamax_update", "nadam_update", "radam_update")
OTHER_CASES = [(name, options) for name, (_, _, option_sets) in OTHER_UPDATES.items() for options in option_sets]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,options", OTHER_CASES)
def test_the_other_optimizers_twins_give_their_loops_bits(dtype, name, options):
    n_state, second, _ = OTHER_UPDATES[name]
    rng = np.random.default_rng(6)
    start = [hard(rng, 257, dtype, nan=False) for _ in range(1 + n_state)]  # inf - inf inside: default NaNs only
    for j in second:
        np.abs(start[1 + j], out=start[1 + j])  # the second moments are not negative
    grad = hard(rng, 257, dtype, nan=False)
    twin, loop = getattr(first_call, name), getattr(cpu, name)
    results, declined = [], 0
    for use_twin in (True, False):
        arrays = [a.copy() for a in start]
        for step in (1, 2, 7):  # RAdam rectifies from step 6 on; as the registry calls them: the loop where
            call = dict(options, step=step) if name in TAKES_STEP else options  # the twin declines
            if not use_twin or twin(arrays[0], grad, *arrays[1:], **call) is NotImplemented:
                declined += use_twin
                loop(arrays[0], grad, *arrays[1:], **call)
        results.append(arrays)
    for got, want in zip(*results):
        same_bits(got, want)
    assert declined < 3  # the twin ran at least its first call

    with_nan = [a.copy() for a in results[1]]
    with_nan[1][0] = np.nan
    call = dict(options, step=2) if name in TAKES_STEP else options
    assert twin(with_nan[0], grad, *with_nan[1:], **call) is NotImplemented
    same_bits(with_nan[0], results[1][0])  # declined before writing


def test_every_cpu_optimizer_update_has_a_first_call_twin():
    """Without one, an optimizer's first training step waits for its loop's cold compile."""
    updates = [name for name in kernels.available() if name.endswith("_update") and registry._table[name]["cpu"]]
    assert "rmsprop_update" in updates and len(updates) >= 9
    assert [name for name in updates if registry._table[name]["first_call"] is None] == []


# ---- the hand-over --------------------------------------------------------------------

@pytest.fixture
def toy_kernel(monkeypatch):
    """A kernel "toy" whose fast version records its calls and whose twin is marked, in "auto" mode."""
    calls = {"fast": [], "twin": 0}

    @registry.takes(lambda a, out, *, scale: a.dtype == np.float32)
    def fast(a, out, *, scale):
        calls["fast"].append((a.dtype, a.shape, a.flags.c_contiguous, bool((a == 0).all()), scale))
        np.multiply(a, scale, out=out)
        return "fast"

    def twin(a, out, *, scale):
        calls["twin"] += 1
        np.multiply(a, scale, out=out)
        return "twin"

    mode = kernels.get_mode()
    kernels.set_kernels("auto")
    background.set_enabled(True)
    kernels.register("toy", reference=lambda a, out, *, scale: "reference", cpu=fast, first_call=twin)
    yield calls
    registry._table.pop("toy")
    registry._resolved_host.pop("toy", None)
    background.set_enabled(background.enabled_by_environment())
    kernels.set_kernels(mode)


def test_the_first_call_runs_the_twin_and_the_loop_runs_on_scratch_zeros_in_the_background(toy_kernel):
    a, out = np.arange(1, 7, dtype=np.float32).reshape(2, 3), np.empty((2, 3), np.float32)
    kernel = kernels.get("toy", a)
    assert kernels.which("toy", a) == "cpu"
    assert kernel(a, out, scale=2.0) == "twin"
    np.testing.assert_array_equal(out, 2 * a)
    assert background.wait_idle(timeout=30)
    assert toy_kernel["fast"] == [(np.dtype(np.float32), (2, 3), True, True, 2.0)]  # zeros, not the caller's data
    assert kernel(a, out, scale=3.0) == "fast"  # ready: the loop itself from now on
    assert kernels.get("toy", a) is not kernel  # and `get` hands out the plain version
    assert kernels.get("toy", a)(a, out, scale=1.0) == "fast"
    wide = a.astype(np.float64)
    assert kernels.get("toy", wide)(wide, out, scale=1.0) == "reference"  # what fast does not take
    assert toy_kernel["twin"] == 1


@pytest.mark.parametrize("make", [
    lambda: np.zeros(background.MAX_SCRATCH_BYTES // 4 + 1, np.float32),  # too large to copy for the compile
    lambda: np.zeros((4, 6), np.float32)[:, ::2],  # not contiguous: another Numba type than its copy
    lambda: np.broadcast_to(np.zeros(3, np.float32), (2, 3)),  # read-only
])
def test_calls_that_cannot_be_handed_over_compile_on_the_callers_thread(toy_kernel, make):
    a = make()
    out = np.empty(a.shape, np.float32)
    assert kernels.get("toy", a)(a, out, scale=2.0) == "fast"
    assert toy_kernel["twin"] == 0


def test_lists_of_arrays_are_handed_over_as_lists_of_scratch_zeros(monkeypatch):
    monkeypatch.setattr(background, "_enabled", True)
    seen = []
    arrays = [np.ones(3, np.float32), np.ones((2, 2), np.float64)]
    job = background.compile_later(lambda group, scale: seen.append([(a.dtype, a.shape, a.any()) for a in group]),
                                   (arrays, 2.0), {})
    assert job is not None and background.wait_idle(timeout=30) and job.done
    assert seen == [[(np.dtype(np.float32), (3,), False), (np.dtype(np.float64), (2, 2), False)]]
    assert background.compile_later(lambda group: None, ([[np.ones(2)]],), {}) is None  # nested: not handed over


def test_a_compile_asked_first_runs_ahead_of_those_waiting(monkeypatch):
    monkeypatch.setattr(background, "_enabled", True)
    assert background.wait_idle(timeout=60)
    order, gate = [], threading.Event()
    jobs = [background.compile_later(lambda: gate.wait(30), (), {})]  # holds the worker while the others queue
    jobs += [background.compile_later(lambda name=name: order.append(name), (), {}) for name in ("a", "b")]
    jobs.append(background.compile_later(lambda: order.append("first"), (), {}, first=True))
    gate.set()
    assert background.wait_idle(timeout=30) and all(job.done for job in jobs)
    assert order == ["first", "a", "b"]


def test_the_worker_runs_its_scratch_calls_alone_and_never_touches_blas_threads(monkeypatch):
    """A scratch call on the worker that would share its work (a group update) must neither start the resident
    helper nor restart BLAS's threads: restarting them while the caller's thread is inside a product hangs
    OpenBLAS. The worker's calls run alone; only the main thread shortens BLAS's spin."""
    from tinygrad_opt.kernels import parallel

    monkeypatch.setattr(background, "_enabled", True)
    restarts = []
    monkeypatch.setattr(parallel, "_short_blas_spin", lambda: restarts.append("restart") or True)
    monkeypatch.setattr(parallel, "_helper", None)
    monkeypatch.setattr(parallel, "shared_updates", True)
    monkeypatch.setattr(parallel, "machine_has_room", lambda: True)
    seen = []

    def share_like_a_group_update(a):
        seen.append(getattr(parallel._region, "active", False))
        parallel.share(lambda: seen.append("work"))

    job = background.compile_later(share_like_a_group_update, (np.ones(3, np.float32),), {})
    assert job is not None and background.wait_idle(timeout=30) and job.done
    assert seen == [True, "work"] and restarts == []  # alone on the worker, BLAS untouched
    parallel.share(lambda: seen.append("main"))  # the main thread (this test's) brings the helper in
    assert restarts == ["restart"] and seen[2] == "main"


def test_a_background_compile_leaves_the_callers_warning_capture_alone(monkeypatch):
    """Numba's type inference swaps the process's warning filters to record warnings; from the worker thread
    that would take the warnings a `catch_warnings(record=True)` on the caller's thread is recording."""
    import time
    import warnings

    import numba

    monkeypatch.setattr(background, "_enabled", True)
    monkeypatch.setattr(background, "QUIET_S", 0.0)

    def fresh_kernel():  # a new function each time: nothing cached, so the worker compiles (type inference)
        @numba.njit
        def loop(a, out):
            for i in range(a.size):
                out[i] = a[i] * 2.0 if a[i] > 0 else a[i] - 1.0
        return lambda a, out: loop(a, out)

    before = (warnings.showwarning, list(warnings.filters))
    emitted = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jobs = [background.compile_later(fresh_kernel(), (np.ones(8), np.empty(8)), {}) for _ in range(4)]
        assert all(job is not None for job in jobs)
        while not all(job.done for job in jobs):
            warnings.warn(f"caller's warning {emitted}", UserWarning)
            emitted += 1
            time.sleep(0.0002)
        warnings.warn("last", UserWarning)
    mine = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert mine == [f"caller's warning {n}" for n in range(emitted)] + ["last"]
    assert (warnings.showwarning, list(warnings.filters)) == before


def test_turned_off_and_numba_mode_compile_at_the_first_call(toy_kernel):
    a, out = np.ones(3, np.float32), np.empty(3, np.float32)
    background.set_enabled(False)
    registry._resolved_host.pop("toy", None)
    assert kernels.get("toy", a)(a, out, scale=2.0) == "fast"
    background.set_enabled(True)
    kernels.set_kernels("numba")
    assert kernels.get("toy", a)(a, out, scale=2.0) == "fast"
    assert toy_kernel["twin"] == 0


def test_a_fork_while_the_worker_compiles_leaves_a_child_that_runs_the_kernels(toy_kernel):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    a, out = np.ones(3, np.float32), np.empty(3, np.float32)
    kernels.get("toy", a)(a, out, scale=2.0)
    pid = os.fork()
    if pid == 0:  # the child: its first calls compile on its own thread, or the queue would never drain
        code = 1
        try:
            got = kernels.get("toy", a)(a, out, scale=2.0)
            g = np.ones((4, 3), np.float32)
            code = 0 if got == "fast" and kernels.get("bias_grad", g)(g).tolist() == [4.0] * 3 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


FORK_DURING_START = """
import os, sys, time
import numpy as np
from tinygrad_opt import kernels
from tinygrad_opt.kernels import background, lazy_jit
g = np.ones((4, 3), np.float32)
kernels.get("bias_grad", g)(g)  # a twin runs; the worker starts Numba
while background._thread is None:
    time.sleep(0.0005)
time.sleep(0.02)  # the worker is a few ms into Numba's start, which takes about 0.3 s
pid = os.fork()  # waits for the start in progress
if pid == 0:
    code = 0 if lazy_jit.started() and kernels.get("log_softmax", g)(g)[0].shape == (4, 3) else 2
    os._exit(code)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print(os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("hung")
"""


def test_a_fork_while_the_worker_starts_numba_waits_for_the_start():
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TINYGRAD_OPT_KERNELS="auto", TINYGRAD_OPT_BACKGROUND_COMPILE="1")
    done = subprocess.run([sys.executable, "-c", FORK_DURING_START], capture_output=True, text=True, env=env,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0"]


# ---- a cold training run: the same numbers with the background compile on and off -------

RUN = """
import hashlib, importlib.machinery, json, sys, threading
class WhoImportsNumba:  # records the thread that runs Numba's __init__ (a look-up of its spec alone is no import)
    thread = None
    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path) if name == "numba" else None
        if spec is not None:
            run = spec.loader.exec_module
            def exec_module(module):
                WhoImportsNumba.thread = threading.current_thread().name
                run(module)
            spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, WhoImportsNumba())
sys.path.insert(0, {benchmarks!r})
import peers
import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, optim
model = nn.Sequential(nn.Linear(peers.IN, peers.HIDDEN), nn.ReLU(), nn.Linear(peers.HIDDEN, peers.OUT))
for p, w in zip(model.parameters(), peers.initial_weights()):
    p.data[...] = w
opt = optim.{optimizer}(model.parameters(), lr=peers.LR)
losses = []
for x, y in list(peers.batches(64))[:4]:
    loss = F.cross_entropy(model(tg.Tensor(x)), tg.Tensor(y))
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(float(loss.item()).hex())
from tinygrad_opt.kernels import background
print(json.dumps([losses, [hashlib.sha256(p.data.tobytes()).hexdigest() for p in model.parameters()],
                  background._thread is not None, WhoImportsNumba.thread]))
"""


@pytest.mark.parametrize("optimizer", ["Adam", "RMSprop"])
def test_a_cold_training_run_gives_the_same_numbers_with_the_background_compile_on_and_off(tmp_path, optimizer):
    results = {}
    for on in ("1", "0"):
        env = dict(os.environ, PYTHONPATH=str(ROOT), TINYGRAD_OPT_KERNELS="auto", NUMBA_CACHE_DIR=str(tmp_path / on),
                   TINYGRAD_OPT_BACKGROUND_COMPILE=on,
                   TINYGRAD_OPT_BLAS_THREADS="1")  # fixed: OpenBLAS's sums differ between thread counts
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(RUN.format(benchmarks=str(ROOT / "benchmarks"),
                                                                           optimizer=optimizer))],
                              capture_output=True, text=True, env=env, timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        *numbers, handed_over, numba_thread = json.loads(done.stdout.strip().splitlines()[-1])
        assert handed_over == (on == "1")  # the twins ran while the loops compiled, or not at all
        # every kernel of the step has a twin: Numba is imported on the background thread, not the step's
        assert numba_thread == ("tinygrad_opt-kernel-compile" if on == "1" else "MainThread")
        results[on] = numbers
    assert results["1"] == results["0"]
