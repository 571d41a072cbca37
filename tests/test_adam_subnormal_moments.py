"""Adam's CPU loop on float32 moments in the subnormal range (kernels/cpu.py, SUBNORMAL_SPAN): the spans whose
exp_avg holds a subnormal run their multiplications and divisions in float64 and round once to float32, which
must give the float32 operations' bits exactly (double rounding through float64 is innocuous), with subnormals
kept and flushed; the reference's bits as before."""
import itertools

import numpy as np
import pytest

pytest.importorskip("numba")

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
from tinygrad_opt.kernels import cpu, denormal, reference  # noqa: E402

from subnormal_floats import X86, any_floats, keep_subnormals, small_floats  # noqa: E402,F401

OPTION_SETS = list(itertools.product([0, 1, 2], [False, True]))  # (decay_mode, amsgrad)


@pytest.fixture(autouse=True)
def _keep_subnormals(keep_subnormals):
    """Every test here with subnormals kept (flushing off), the mode restored after it."""


def constants(step: int = 7, lr: float = 1e-3, weight_decay: float = 0.01) -> np.ndarray:
    beta1, beta2 = 0.9, 0.999
    return np.array([1 - beta1, 1 - beta2, beta2, weight_decay, 1 - lr * weight_decay, lr / (1 - beta1**step),
                     (1 - beta2**step) ** 0.5, 1e-8], np.float32)


def run_loop(options: tuple, arrays: list, k: np.ndarray, wide: np.ndarray) -> None:
    """The loop of one option set on whole arrays (one block), with the float64 constants given."""
    loop = cpu._loop_for(cpu._ADAM_LOOPS, cpu._adam_loop, options)
    p, g, m, v, vmax = arrays
    loop(p, g, m, v, vmax, k, wide, np.zeros(1, np.int64), 0, max(p.size, 1))


def float64_spans_and_float32_loop(options: tuple, start: list, k: np.ndarray, steps: int = 1) -> tuple:
    """Copies of `start` after `steps` of the loop with its float64 spans on (wide) and of the float32 loop alone
    on the same subnormals (narrow), whose bits they must have."""
    wide, narrow = [a.copy() for a in start], [a.copy() for a in start]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            run_loop(options, wide, k, cpu._widened(k))
            run_loop(options, narrow, k, cpu._NOT_WIDENED)
    return wide, narrow


def bits(arrays: list) -> list:
    return [a.view(np.uint32).copy() for a in arrays]


def assert_same_bits_but_where_two_nans_met(got: list, want: list) -> None:
    """Every bit, a NaN's sign and payload too, except which NaN an operation on two NaNs gives (x86 gives its
    first operand's, and LLVM may swap the operands of an addition: the float32 loop itself differs from
    NumPy there)."""
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_array_equal(a.view(np.uint32)[~np.isnan(a)], b.view(np.uint32)[~np.isnan(b)])


@pytest.mark.parametrize("decay_mode,amsgrad", OPTION_SETS)
@pytest.mark.parametrize("values", [any_floats, small_floats])
def test_the_float64_spans_give_the_float32_loops_bits(decay_mode, amsgrad, values):
    n = 4099  # spans of SUBNORMAL_SPAN and a remainder
    start = [values(n, seed) for seed in range(5)]
    start[3] = np.abs(start[3])  # v, v_max: second moments are >= 0
    start[4] = np.abs(start[4])
    k = constants()
    wide, narrow = float64_spans_and_float32_loop((decay_mode, amsgrad), start, k, steps=3)
    assert_same_bits_but_where_two_nans_met(wide, narrow)


@X86
@pytest.mark.parametrize("values", [any_floats, small_floats])
def test_with_subnormals_flushed_the_float64_spans_give_the_float32_loops_bits(values):
    """A thread that flushes (set by another library, or before the engine knew) may still take the float64 spans."""
    start = [values(2053, seed) for seed in range(5)]
    start[3], start[4] = np.abs(start[3]), np.abs(start[4])
    k = constants()
    tg.set_flush_denormal(True)
    wide, narrow = float64_spans_and_float32_loop((2, True), start, k, steps=3)
    assert_same_bits_but_where_two_nans_met(wide, narrow)


@pytest.mark.parametrize("maximize,weight_decay,decoupled,amsgrad",
                         list(itertools.product([False, True], [0.0, 0.01], [False, True], [False, True])))
def test_moments_decayed_into_subnormals_update_as_the_reference(maximize, weight_decay, decoupled, amsgrad):
    """The case the float64 spans are for: rows of a weight without gradient, their exp_avg subnormal, beside
    rows with ordinary values; through adam_update as the optimizer calls it."""
    rng = np.random.default_rng(3)
    param = rng.standard_normal((40, 100)).astype(np.float32)
    grad = (rng.standard_normal((40, 100)) * 1e-3).astype(np.float32)
    exp_avg = (rng.standard_normal((40, 100)) * 1e-4).astype(np.float32)
    exp_avg_sq = (rng.random((40, 100)) * 1e-8).astype(np.float32)
    dead = rng.choice(40, 15, replace=False)
    grad[dead] = 0.0
    exp_avg[dead] = (rng.integers(-5, 6, (15, 100)) * np.finfo(np.float32).smallest_subnormal).astype(np.float32)
    exp_avg_sq[dead[:5]] = small_floats(500, 4).reshape(5, 100) ** 2  # some second moments subnormal too
    state = [param, exp_avg, exp_avg_sq, np.abs(exp_avg_sq[::-1]).copy()]
    ours, ref = [a.copy() for a in state], [a.copy() for a in state]
    options = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=weight_decay, amsgrad=amsgrad,
                   maximize=maximize, decoupled_weight_decay=decoupled)
    with np.errstate(all="ignore"):
        for step in range(1, 5):
            cpu.adam_update(ours[0], grad, ours[1], ours[2], ours[3] if amsgrad else None, step=step, **options)
            reference.adam_update(ref[0], grad, ref[1], ref[2], ref[3] if amsgrad else None, step=step, **options)
    if not weight_decay or decoupled:  # an L2 penalty gives the dead rows a gradient again
        assert np.count_nonzero((ours[1] != 0) & (np.abs(ours[1]) < np.finfo(np.float32).tiny)) > 1000
    for got, want in zip(bits(ours), bits(ref)):
        np.testing.assert_array_equal(got, want)


SPAN = cpu.SUBNORMAL_SPAN


def dead_spans(spans: int, seed: int) -> list:
    """Spans of a weight whose units are dead: exp_avg subnormal or 0 (stuck there), no gradient, second moments
    of a trained net, weights of ordinary size; the arrays as run_loop takes them."""
    rng = np.random.default_rng(seed)
    n = spans * SPAN
    tiny = np.finfo(np.float32).smallest_subnormal
    param = (rng.standard_normal(n) * 0.05).astype(np.float32)
    grad = np.zeros(n, np.float32)
    exp_avg = (rng.integers(-2**23 + 1, 2**23, n) * tiny).astype(np.float32)
    exp_avg[::7] = 0.0
    exp_avg_sq = (rng.random(n) * 1e-7).astype(np.float32)
    return [param, grad, exp_avg, exp_avg_sq, exp_avg_sq * 2]


def still_spans(arrays: list, k: np.ndarray, decay_mode: int, amsgrad: bool) -> list[bool]:
    """Which spans meet the conditions under which the loop skips the weights' division (STILL_WEIGHTS' comment),
    worked out here in NumPy from the arrays before the step."""
    p, g, m, v, vmax = (a.astype(np.float64) for a in arrays)
    c1, c2, beta2, wd, decay = (float(x) for x in k[:5])
    with np.errstate(all="ignore"):
        p_used = (p * decay).astype(np.float32) if decay_mode == 1 else p
        g_used = (g + wd * p).astype(np.float32) if decay_mode == 2 else g
        m_new = (m + (c1 * (g_used - m)).astype(np.float32)).astype(np.float32)
        v_new = ((v * beta2).astype(np.float32) + (c2 * g_used * g_used).astype(np.float32)).astype(np.float32)
        if amsgrad:
            v_new = np.where(np.isnan(vmax) | (vmax >= v_new), vmax, v_new)
        ok = (np.abs(m_new) < 2.0**-126) & (v_new >= 0) & (np.abs(p_used) >= np.float32(cpu._still_weights(k)))
    return [bool(ok[i:i + SPAN].all()) for i in range(0, ok.size, SPAN)]


@pytest.mark.parametrize("decay_mode,amsgrad", OPTION_SETS)
def test_spans_whose_weights_no_step_can_move_keep_the_float32_loops_bits(decay_mode, amsgrad):
    """The float64 span skips the division where exp_avg is below 2**-126 and every weight is large enough that
    p - d rounds to p: each span here breaks one condition in one element (a small, subnormal, zero, infinite or
    NaN weight, a weight just below the bound, a NaN or negative second moment, a gradient or an exp_avg that is
    not small), beside spans that meet them all; the weights and moments keep the float32 loop's bits."""
    k = constants(step=3, lr=0.1)
    arrays = dead_spans(16, seed=decay_mode * 2 + amsgrad)
    p, g, m, v, vmax = arrays
    still = cpu._still_weights(k)
    assert 0 < still < 1e-20
    still = float(np.float32(still))  # as the loop takes it
    p[0 * SPAN + 5] = 1e-30
    p[1 * SPAN + 9] = np.finfo(np.float32).smallest_subnormal * 3
    p[2 * SPAN + 11] = -0.0
    p[3 * SPAN + 13] = np.inf
    p[4 * SPAN + 17] = np.nan
    p[5 * SPAN + 19] = np.nextafter(np.float32(still), np.float32(0))  # just below the bound
    p[6 * SPAN + 23] = np.float32(still)  # at it
    v[7 * SPAN + 29] = np.nan
    v[8 * SPAN + 31] = -1e-12
    vmax[8 * SPAN + 31] = -1e-12
    g[9 * SPAN + 37] = 1e-3
    m[10 * SPAN + 41] = 1e-20
    m[11 * SPAN:12 * SPAN] = np.finfo(np.float32).tiny * 0.999  # the largest subnormals, the largest steps
    v[11 * SPAN:12 * SPAN] = 0.0  # the smallest denominators: eps
    vmax[11 * SPAN:12 * SPAN] = 0.0
    signs = np.array([1, -1], np.float32)[np.arange(SPAN) % 2]
    p[11 * SPAN:12 * SPAN] = np.float32(still * 1.01) * signs  # 1.01: above the bound after AdamW's decay too
    expected_still = still_spans(arrays, k, decay_mode, amsgrad)
    if decay_mode == 2:  # an L2 penalty gives every weight a gradient: exp_avg is no longer small
        assert not any(expected_still)
    else:
        assert expected_still[11] and expected_still[12:] == [True] * 4 and sum(expected_still[:11]) <= 3
    wide, narrow = float64_spans_and_float32_loop((decay_mode, amsgrad), arrays, k)
    assert_same_bits_but_where_two_nans_met(wide, narrow)
    moved = (narrow[0] != arrays[0]) & ~np.isnan(arrays[0])
    if decay_mode != 1:  # the still spans' weights did not move; elsewhere some did
        assert not any(moved[i * SPAN:(i + 1) * SPAN].any() for i, ok in enumerate(expected_still) if ok)
        assert moved[0 * SPAN + 5] and moved[1 * SPAN + 9]


@pytest.mark.parametrize("decay_mode,amsgrad", OPTION_SETS)
def test_spans_where_only_some_weights_are_still_keep_the_float32_loops_bits(decay_mode, amsgrad):
    """A span whose subnormal exp_avg entries all belong to still weights (an input that is always 0, as MNIST's
    border pixels, leaves such entries in every row) runs its weights in float32 with those entries taken as 0;
    beside them a -0 exp_avg on a -0 weight, a NaN exp_avg, a 0 exp_avg with a NaN second moment, and a span
    where one subnormal exp_avg is a small weight's (the float64 path): the float32 loop's bits."""
    rng = np.random.default_rng(31 + decay_mode)
    n = 6 * SPAN
    param = (rng.standard_normal(n) * 0.05).astype(np.float32)
    grad = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    exp_avg = (rng.standard_normal(n) * 1e-4).astype(np.float32)
    exp_avg_sq = (rng.random(n) * 1e-7).astype(np.float32)
    arrays = [param, grad, exp_avg, exp_avg_sq, exp_avg_sq * 2]
    column = np.arange(n) % 11 == 3  # an input that is always 0: no gradient, exp_avg decayed into subnormals
    grad[column] = 0.0
    exp_avg[column] = (rng.integers(-2**20, 2**20, column.sum()) * np.finfo(np.float32).smallest_subnormal)
    param[1 * SPAN + 7] = exp_avg[1 * SPAN + 7] = grad[1 * SPAN + 7] = -0.0
    exp_avg[2 * SPAN + 8] = np.nan
    exp_avg[3 * SPAN + 9], grad[3 * SPAN + 9], exp_avg_sq[3 * SPAN + 9] = 0.0, 0.0, np.nan
    arrays[4][3 * SPAN + 9] = np.nan
    param[4 * SPAN + 2], exp_avg[4 * SPAN + 2] = 1e-36, -5e-39  # on the column, a weight its step moves
    k = constants(step=9, lr=1e-3)
    still = np.float32(cpu._still_weights(k))
    if decay_mode != 2:  # (an L2 penalty gives every weight a gradient)
        small = (exp_avg != 0) & (np.abs(exp_avg) < 2.0**-126)
        spans_with_small = [bool(small[i:i + SPAN].any()) for i in range(0, n, SPAN)]
        assert all(spans_with_small) and np.abs(param[small & (np.arange(n) // SPAN != 4)]).min() >= still
    wide, narrow = float64_spans_and_float32_loop((decay_mode, amsgrad), arrays, k, steps=2)
    assert_same_bits_but_where_two_nans_met(wide, narrow)
    assert np.isnan(narrow[0][2 * SPAN + 8]) and np.isnan(narrow[0][3 * SPAN + 9])


@pytest.mark.parametrize("lr,eps,step", [(1e-3, 1e-8, 1), (1.0, 1e-12, 5), (1e30, 1e-8, 2), (1e-3, 1e-45, 3),
                                         (1e-3, 0.0, 3), (1e-3, -1e-8, 3), (np.nan, 1e-8, 3), (np.inf, 1e-8, 3)])
def test_the_still_weights_bound_is_a_float32_value_or_nan_where_none_holds(lr, eps, step):
    k = constants(step=step, lr=lr)
    k[7] = eps
    still = cpu._still_weights(k)
    largest_step = 2.0**-126 / float(k[7]) * abs(float(k[5])) if float(k[7]) > 0 else np.inf
    if float(k[7]) > 0 and np.isfinite(float(k[5])) and largest_step * 2**27 < np.finfo(np.float32).max / 4:
        assert np.float32(still) >= largest_step * 2**26
    else:
        assert np.isnan(still)
    beta2_one = k.copy()
    beta2_one[6] = 0.0  # bias correction sqrt(1 - beta2**step) with beta2 = 1: 0/0 where v is 0
    assert np.isnan(cpu._still_weights(beta2_one))


@pytest.mark.parametrize("decay_mode,amsgrad", OPTION_SETS)
def test_random_dead_spans_at_any_step_size_keep_the_float32_loops_bits(decay_mode, amsgrad):
    """Many steps of dead spans whose weights and moments come from random bits in part, at step sizes from tiny
    to huge and eps from 1e-30 to 1: still or not, the float32 loop's bits."""
    rng = np.random.default_rng(17 + decay_mode)
    for trial in range(12):
        k = constants(step=int(rng.integers(1, 50)), lr=float(10.0 ** rng.uniform(-8, 8)))
        k[7] = np.float32(10.0 ** rng.uniform(-30, 0))
        arrays = dead_spans(4, seed=trial)
        mixed = rng.random(arrays[0].size) < 0.01
        for a in arrays[:1] + arrays[3:]:
            a[mixed] = any_floats(int(mixed.sum()), trial)
        wide, narrow = float64_spans_and_float32_loop((decay_mode, amsgrad), arrays, k, steps=3)
        assert_same_bits_but_where_two_nans_met(wide, narrow)


def test_the_float64_spans_are_switched_on_for_float32_with_subnormals_kept_only():
    k32, k64 = constants(), constants().astype(np.float64)
    assert cpu._wide_constants(k32)[3] == 1.0 and cpu._wide_constants(k64)[3] == 0.0
    assert cpu._wide_constants(k32)[4] == cpu._still_weights(k32) > 0
    if denormal.supported():
        tg.set_flush_denormal(True)
        assert denormal.flushing() and cpu._wide_constants(k32)[3] == 0.0
        tg.set_flush_denormal(False)
        assert not denormal.flushing()


def test_a_dead_units_adam_moments_keep_the_bits_of_the_reference_optimizer_over_900_steps():
    """The seed's situation end to end: a unit without gradient, whose exp_avg decays past 2**-126."""
    model = nn.Linear(3, 4)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    weight, bias = (p.data.copy() for p in model.parameters())
    ref_state = [np.zeros_like(a) for a in (weight, weight, bias, bias)]
    for step in range(1, 901):
        grad_w = np.zeros_like(weight)
        grad_b = np.zeros_like(bias)
        if step == 1:
            grad_w[:], grad_b[:] = 0.5, 0.25
        else:
            grad_w[0], grad_b[0] = 0.01 * (-1) ** step, 0.02  # unit 0 stays alive; the others are dead
        model.weight.grad, model.bias.grad = tg.Tensor(grad_w), tg.Tensor(grad_b)
        opt.step()
        reference.adam_update(weight, grad_w, ref_state[0], ref_state[1], None, step=step, lr=1e-3, beta1=0.9,
                              beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
        reference.adam_update(bias, grad_b, ref_state[2], ref_state[3], None, step=step, lr=1e-3, beta1=0.9,
                              beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
    exp_avg = opt.state[model.weight]["exp_avg"]
    assert ((exp_avg[1:] != 0) & (np.abs(exp_avg[1:]) < np.finfo(np.float32).tiny)).all()
    for got, want in ((model.weight.data, weight), (exp_avg, ref_state[0]), (model.bias.data, bias),
                      (opt.state[model.bias]["exp_avg"], ref_state[2])):
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("decay_mode,amsgrad", [(0, False), (1, True)])
def test_llvm_keeps_the_float64_spans_in_float64(decay_mode, amsgrad):
    """LLVM may turn float32(float64(a) * float64(b)) of float32 a, b back into a float32 multiplication, which
    would bring the microcode path back: the optimised loop must still multiply and divide vectors of doubles."""
    import re

    import numba

    loop = cpu._adam_loop(decay_mode, amsgrad)
    fresh = numba.njit(error_model="numpy", nogil=True, _nrt=False)(loop.py_func)  # not from the disk cache
    a = np.ones(10, np.float32)
    fresh(a, a.copy(), a.copy(), a.copy(), a.copy(), constants(), cpu._widened(constants()), np.zeros(1, np.int64),
          0, a.size)
    ir = "".join(fresh.inspect_llvm().values())
    assert len(re.findall(r"fmul <\d+ x double>", ir)) >= 3  # (1 - beta1) * (g - m), m * one, d * step size
    assert len(re.findall(r"fdiv <\d+ x double>", ir)) >= 1  # m / denominator
