"""The CPU optimizer loops besides Adam's on float32 state in the subnormal range (kernels/cpu.py,
SUBNORMAL_SPAN): where the state that decays without a gradient (SGD's momentum buffer, ...) holds a
subnormal, the loop multiplies and divides it in float64 and rounds once to float32, which must give the
float32 loop's bits exactly, with subnormals kept and flushed; float64 arrays take the float32 path unchanged."""
import itertools
import re

import numpy as np
import pytest

pytest.importorskip("numba")

import numba  # noqa: E402

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
from tinygrad_opt.kernels import cpu, denormal, reference  # noqa: E402

from subnormal_floats import X86, any_floats, keep_subnormals, small_floats  # noqa: E402,F401

TINY = np.finfo(np.float32).smallest_subnormal


@pytest.fixture(autouse=True)
def _keep_subnormals(keep_subnormals):
    """Every test here with subnormals kept (flushing off), the mode restored after it."""


def mixed_floats(n: int, seed: int) -> np.ndarray:
    """Ordinary magnitudes with runs of subnormals: both the widened spans and the float32 ones in one array."""
    a = (np.random.default_rng(seed).standard_normal(n) * 1e-2).astype(np.float32)
    a[n // 4:n // 2] = small_floats(n // 2 - n // 4, seed + 100)
    return a


def assert_same_bits_but_where_two_nans_met(got: list, want: list) -> None:
    """Every bit, a NaN's sign and payload too, except which NaN an operation on two NaNs gives (x86 gives its
    first operand's, and LLVM may swap the operands of an addition)."""
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_array_equal(a.view(np.uint32)[~np.isnan(a)], b.view(np.uint32)[~np.isnan(b)])


# ---- SGD with momentum ------------------------------------------------------------------------------------

SGD_OPTIONS = [(wd, True, nesterov) for wd, nesterov in itertools.product([False, True], [False, True])]


def sgd_constants(dtype=np.float32, dampening: float = 0.0) -> np.ndarray:
    return np.array([1e-2, 1e-4, 0.9, 1 - dampening], dtype)


def run_sgd_loop(options: tuple, arrays: list, k: np.ndarray, wide: np.ndarray, first: bool = False) -> None:
    loop = cpu._loop_for(cpu._SGD_LOOPS, cpu._sgd_loop, options)
    p, g, b = arrays
    loop(p, g, b, k, wide, first, np.zeros(1, np.int64), 0, max(p.size, 1))


@pytest.mark.parametrize("options", SGD_OPTIONS)
@pytest.mark.parametrize("dampening", [0.0, 0.3])
@pytest.mark.parametrize("values", [any_floats, small_floats, mixed_floats])
def test_sgd_float64_spans_give_the_float32_loops_bits(options, dampening, values):
    n = 4099  # spans of SUBNORMAL_SPAN and a remainder
    start = [values(n, seed) for seed in range(3)]
    k = sgd_constants(dampening=dampening)
    wide, narrow = [a.copy() for a in start], [a.copy() for a in start]
    with np.errstate(all="ignore"):
        for _ in range(3):
            run_sgd_loop(options, wide, k, cpu._sgd_wide(k))
            run_sgd_loop(options, narrow, k, cpu._NOT_WIDENED)
    assert_same_bits_but_where_two_nans_met(wide, narrow)


@X86
@pytest.mark.parametrize("values", [any_floats, small_floats])
def test_sgd_with_subnormals_flushed_the_float64_spans_give_the_float32_loops_bits(values):
    """A thread that flushes (set by another library, or before the engine knew) may still take the float64 spans."""
    start = [values(2053, seed) for seed in range(3)]
    k = sgd_constants()
    wide_k = cpu._sgd_wide(k)  # taken while subnormals are kept: the switch on
    wide, narrow = [a.copy() for a in start], [a.copy() for a in start]
    tg.set_flush_denormal(True)
    with np.errstate(all="ignore"):
        for _ in range(3):
            run_sgd_loop((True, True, True), wide, k, wide_k)
            run_sgd_loop((True, True, True), narrow, k, cpu._NOT_WIDENED)
    assert_same_bits_but_where_two_nans_met(wide, narrow)


def test_sgd_spans_are_switched_on_for_float32_with_subnormals_kept_only():
    assert cpu._sgd_wide(sgd_constants())[0] == 1.0
    assert cpu._sgd_wide(sgd_constants(np.float64))[0] == 0.0
    if denormal.supported():
        tg.set_flush_denormal(True)
        assert cpu._sgd_wide(sgd_constants())[0] == 0.0


@pytest.mark.parametrize("nesterov,weight_decay,maximize", list(itertools.product([False, True], [0.0, 1e-3],
                                                                                   [False, True])))
def test_sgd_momentum_decayed_into_subnormals_updates_as_the_reference(nesterov, weight_decay, maximize):
    """Dead rows (no gradient, buffer subnormal) beside live ones, through sgd_update as the optimizer calls it."""
    rng = np.random.default_rng(5)
    param = rng.standard_normal((40, 100)).astype(np.float32)
    grad = (rng.standard_normal((40, 100)) * 1e-3).astype(np.float32)
    buf = (rng.standard_normal((40, 100)) * 1e-4).astype(np.float32)
    dead = rng.choice(40, 15, replace=False)
    grad[dead] = 0.0
    buf[dead] = (rng.integers(-5, 6, (15, 100)) * TINY).astype(np.float32)
    ours, ref = [param.copy(), buf.copy()], [param.copy(), buf.copy()]
    options = dict(lr=1e-2, momentum=0.9, dampening=0.1, weight_decay=weight_decay, nesterov=nesterov,
                   maximize=maximize)
    with np.errstate(all="ignore"):
        for step in range(1, 6):
            cpu.sgd_update(ours[0], grad, ours[1], first_step=False, **options)
            reference.sgd_update(ref[0], grad, ref[1], first_step=False, **options)
    if not weight_decay:  # a penalty gives the dead rows a gradient again
        assert np.count_nonzero((ours[1] != 0) & (np.abs(ours[1]) < np.finfo(np.float32).tiny)) > 1000
    for got, want in zip(ours, ref):
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_a_dead_units_sgd_momentum_keeps_the_reference_bits_over_900_steps():
    """End to end: a unit without gradient, whose momentum buffer decays past 2**-126, through optim.SGD."""
    model = nn.Linear(3, 4)
    opt = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    weight = model.weight.data.copy()
    buf = np.zeros_like(weight)
    for step in range(1, 901):
        grad = np.zeros_like(weight)
        grad[:] = 0.5 if step == 1 else 0.0
        grad[0] = 0.01 * (-1) ** step  # unit 0 stays alive
        model.weight.grad, model.bias.grad = tg.Tensor(grad), None
        opt.step()
        reference.sgd_update(weight, grad, buf, lr=1e-2, momentum=0.9, dampening=0.0, weight_decay=0.0,
                             nesterov=False, maximize=False, first_step=step == 1)
    ours = opt.state[model.weight]["momentum_buffer"]
    assert ((ours[1:] != 0) & (np.abs(ours[1:]) < np.finfo(np.float32).tiny)).all()
    np.testing.assert_array_equal(ours.view(np.uint32), buf.view(np.uint32))
    np.testing.assert_array_equal(model.weight.data.view(np.uint32), weight.view(np.uint32))


def llvm_ir(loop, *args) -> str:
    """The optimised LLVM IR of a fresh compile of `loop` (not from the disk cache) for these arguments."""
    fresh = numba.njit(error_model="numpy", nogil=True, _nrt=False)(loop.py_func)
    fresh(*args)
    return "".join(fresh.inspect_llvm().values())


@pytest.mark.parametrize("nesterov", [False, True])
def test_llvm_keeps_the_sgd_spans_in_float64(nesterov):
    """LLVM may turn float32(float64(a) * float64(b)) of float32 a, b back into a float32 multiplication, which
    would bring the microcode path back: the optimised loop must still multiply vectors of doubles."""
    a = np.ones(10, np.float32)
    k = sgd_constants()
    ir = llvm_ir(cpu._sgd_loop(False, True, nesterov), a, a.copy(), a.copy(), k, cpu._sgd_wide(k), False,
                 np.zeros(1, np.int64), 0, a.size)
    assert len(re.findall(r"fmul <\d+ x double>", ir)) >= (3 if nesterov else 2)


# ---- RMSprop, Adamax, NAdam, RAdam, Lion, Adadelta: whole-array loops, their `wide` from _wide_switch ----------------

def float32_path_only(monkeypatch) -> None:
    """Every loop that takes _wide_switch's constants gets the switch off: the float32 operations throughout."""
    monkeypatch.setattr(cpu, "_wide_switch", lambda k, picks: np.zeros(2 + len(picks)))


RMSPROP = [dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=wd, momentum=momentum, centered=centered,
                maximize=maximize)
           for wd, momentum, centered, maximize in itertools.product([0.0, 1e-3], [0.0, 0.9], [False, True],
                                                                     [False, True])]
ADAMAX = [dict(step=7, lr=2e-3, beta1=beta1, beta2=0.999, eps=eps, weight_decay=wd, maximize=maximize)
          for beta1, eps, wd, maximize in itertools.product([0.9, 0.3], [1e-8, 0.0], [0.0, 1e-3], [False, True])]
NADAM = [dict(step=7, lr=2e-3, beta1=beta1, beta2=0.999, eps=1e-8, weight_decay=wd, mu=0.95, mu_next=0.96,
              mu_product=0.4, decoupled_weight_decay=decoupled, maximize=maximize)
         for beta1, wd, decoupled, maximize in itertools.product([0.9, 0.3], [0.0, 1e-3], [False, True],
                                                                 [False, True])]
RADAM = [dict(step=step, lr=1e-3, beta1=beta1, beta2=0.999, eps=1e-8, weight_decay=wd,
              decoupled_weight_decay=decoupled, maximize=maximize)
         for step, beta1, wd, decoupled, maximize in itertools.product([3, 9], [0.9, 0.3], [0.0, 1e-3], [False, True],
                                                                       [False, True])]
LION = [dict(lr=1e-4, beta1=0.9, beta2=beta2, weight_decay=wd, maximize=maximize)
        for beta2, wd, maximize in itertools.product([0.99, 0.3], [0.0, 1e-2], [False, True])]
ADADELTA = [dict(lr=lr, rho=rho, eps=1e-6, weight_decay=wd, maximize=maximize)
            for lr, rho, wd, maximize in itertools.product([1.0, 0.1], [0.9, 0.3], [0.0, 1e-3], [False, True])]
# kernel, options, which state arrays are second moments (>= 0)
CASES = ([("rmsprop_update", o, (0,)) for o in RMSPROP] + [("adamax_update", o, (1,)) for o in ADAMAX]
         + [("nadam_update", o, (1,)) for o in NADAM] + [("radam_update", o, (1,)) for o in RADAM]
         + [("lion_update", o, ()) for o in LION] + [("adadelta_update", o, (0, 1)) for o in ADADELTA])
STATE_ARRAYS = {"rmsprop_update": 3, "adamax_update": 2, "nadam_update": 2, "radam_update": 2, "lion_update": 1,
                "adadelta_update": 2}


def run_kernel(name: str, options: dict, arrays: list, steps: int = 3) -> None:
    with np.errstate(all="ignore"):
        for _ in range(steps):
            getattr(cpu, name)(*arrays[:2], *arrays[2:], **options)


@pytest.mark.parametrize("name,options,second", CASES)
@pytest.mark.parametrize("values", [any_floats, small_floats, mixed_floats])
def test_the_float64_spans_give_the_float32_loops_bits(name, options, second, values, monkeypatch):
    n = 2 * cpu.SUBNORMAL_SPAN + 37
    start = [values(n, seed) for seed in range(2 + STATE_ARRAYS[name])]
    for j in second:
        start[2 + j] = np.abs(start[2 + j])
    wide, narrow = [a.copy() for a in start], [a.copy() for a in start]
    run_kernel(name, options, wide)
    float32_path_only(monkeypatch)
    run_kernel(name, options, narrow)
    assert_same_bits_but_where_two_nans_met(wide, narrow)


@X86
@pytest.mark.parametrize("name,options,second", [CASES[0], CASES[len(RMSPROP) - 1], CASES[len(RMSPROP)],
                                                 CASES[-1]])
def test_with_subnormals_flushed_the_float64_spans_give_the_float32_loops_bits(name, options, second, monkeypatch):
    """A thread that flushes (set by another library, or before the engine knew) may still take the float64 spans."""
    start = [small_floats(1031, seed) for seed in range(2 + STATE_ARRAYS[name])]
    for j in second:
        start[2 + j] = np.abs(start[2 + j])
    wide, narrow = [a.copy() for a in start], [a.copy() for a in start]
    tg.set_flush_denormal(True)
    monkeypatch.setattr(cpu.denormal, "flushing", lambda: False)  # the switch on although this thread flushes
    run_kernel(name, options, wide)
    float32_path_only(monkeypatch)
    run_kernel(name, options, narrow)
    assert_same_bits_but_where_two_nans_met(wide, narrow)


def test_the_switch_is_on_for_float32_with_subnormals_kept_only():
    k32 = np.array([0.5, 0.25, 3.0], np.float32)
    assert list(cpu._wide_switch(k32, (2, 0))) == [1.0, 1.0, 3.0, 0.5]
    assert not cpu._wide_switch(k32.astype(np.float64), (2, 0)).any()
    if denormal.supported():
        tg.set_flush_denormal(True)
        assert not cpu._wide_switch(k32, (2, 0)).any()


def dead_rows_state(rng, n_state: int, second: tuple) -> tuple:
    """A 40x100 weight, its gradient zero on 15 dead rows whose decaying state holds a few smallest subnormals."""
    param = rng.standard_normal((40, 100)).astype(np.float32)
    grad = (rng.standard_normal((40, 100)) * 1e-3).astype(np.float32)
    state = [(rng.standard_normal((40, 100)) * 1e-4).astype(np.float32) for _ in range(n_state)]
    dead = rng.choice(40, 15, replace=False)
    grad[dead] = 0.0
    for j, a in enumerate(state):
        if j in second:
            a[...] = np.abs(a) * 1e-4
            a[dead] = (rng.integers(1, 50, (15, 100)) * TINY).astype(np.float32)
        else:
            a[dead] = (rng.integers(-5, 6, (15, 100)) * TINY).astype(np.float32)
    return param, grad, state


@pytest.mark.parametrize("name,options,second", CASES)
def test_state_decayed_into_subnormals_updates_as_the_reference(name, options, second):
    rng = np.random.default_rng(11)
    param, grad, state = dead_rows_state(rng, STATE_ARRAYS[name], second)
    ours, ref = [param.copy()] + [a.copy() for a in state], [param.copy()] + [a.copy() for a in state]
    with np.errstate(all="ignore"):
        for _ in range(4):
            getattr(cpu, name)(ours[0], grad, *ours[1:], **options)
            getattr(reference, name)(ref[0], grad, *ref[1:], **options)
    decay_factors = (options.get("beta1"), options.get("beta2"), options.get("rho"))
    if not options["weight_decay"] and 0.3 not in decay_factors:  # m * 0.3 four times: 0
        subnormal = sum(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(np.float32).tiny)) for a in ours[1:])
        assert subnormal > 1000
    for got, want in zip(ours, ref):
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("loop,args,doubles", [
    (lambda: cpu._rmsprop_loop(True, True, True), lambda a, k, w: (a, a.copy(), a.copy(), a.copy(), a.copy(), k, w,
                                                                  False), r"sqrt\.v\d+f64"),
    (lambda: cpu._adamax, lambda a, k, w: (a, a.copy(), a.copy(), a.copy(), k, w, False, False, True),
     r"fdiv <\d+ x double>"),
    (lambda: cpu._nadam, lambda a, k, w: (a, a.copy(), a.copy(), a.copy(), k, w, False, 0, True),
     r"fdiv <\d+ x double>"),
    (lambda: cpu._radam, lambda a, k, w: (a, a.copy(), a.copy(), a.copy(), k, w, False, 0, True, True),
     r"fdiv <\d+ x double>"),
    (lambda: cpu._lion, lambda a, k, w: (a, a.copy(), a.copy(), k, w, False), r"fmul <\d+ x double>"),
    (lambda: cpu._adadelta_loop(True), lambda a, k, w: (a, a.copy(), a.copy(), a.copy(), k, w), r"fmul <\d+ x double>"),
])
def test_llvm_keeps_the_spans_in_float64(loop, args, doubles):
    """LLVM may narrow float32(float64(a) op float64(b)) of float32 a, b back to a float32 operation, which would
    bring the microcode path back: the optimised loops must still work on vectors of doubles."""
    a = np.ones(10, np.float32)
    k = np.full(11, 0.5, np.float32)
    ir = llvm_ir(loop(), *args(a, k, cpu._wide_switch(k, (0, 1, 2, 3, 4))))
    assert len(re.findall(r"fmul <\d+ x double>", ir)) >= 2
    assert re.search(doubles, ir)
