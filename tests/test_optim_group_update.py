"""One optimizer-kernel call per parameter group (its job: cpu._run_job), its blocks of elements shared with a second
thread (the spinning team's, kernels/spin_team.py, or parallel.share's resident helper): every bit as one call per
parameter, whichever thread took a block."""
import itertools
import threading
import time

import numpy as np
import pytest

pytest.importorskip("numba")

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
from tinygrad_opt.kernels import cpu, parallel, reference, spin_team  # noqa: E402

from test_kernels_update_options import bits, hard_values  # noqa: E402

# the first array: long enough that the helper wakes while blocks are left; several blocks each once blocks
# are small; one array of a single element
SIZES = (300_000, 7, 1, 5000)
BLOCK = 1024


@pytest.fixture(params=["team", "resident helper"])
def shared_blocks(request, monkeypatch):
    """Small blocks, small groups shared, and room for the helper: Adam's updates on the spinning team (as where
    its helper polls) or on parallel.share's resident helper (as where it sleeps)."""
    monkeypatch.setattr(parallel, "SHARE_FROM", 64)
    monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", BLOCK)
    monkeypatch.setattr(parallel, "machine_has_room", lambda: True)
    monkeypatch.setattr(spin_team, "spinning", lambda: request.param == "team")
    return request.param


def values(dtype, n: int, seed: int) -> np.ndarray:
    """hard_values (zeros, subnormals, huge values, inf, NaN among normal ones) where there is room for them, and
    NaNs of both signs in about a third of the elements, so that some meet where a range's loop ends."""
    if n < 8:
        return np.random.default_rng(seed).standard_normal(n).astype(dtype)
    a = hard_values(dtype, n, seed)
    rng = np.random.default_rng(seed + 1000)
    nans = rng.random(n) < 0.3
    a[nans] = np.where(rng.random(nans.sum()) < 0.5, np.nan, -np.nan)
    return a


def group_arrays(dtype, seed: int):
    params = [values(dtype, n, seed + i) for i, n in enumerate(SIZES)]
    grads = [values(dtype, n, seed + 10 + i) for i, n in enumerate(SIZES)]
    state = [[np.abs(values(dtype, n, seed + 20 * s + i)) for i, n in enumerate(SIZES)] for s in (1, 2, 3)]
    return params, grads, state


ADAM_OPTIONS = list(itertools.product([False, True], [(0.0, False), (0.1, False), (0.1, True)], [False, True]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize,decay,amsgrad", ADAM_OPTIONS)
def test_adam_group_update_gives_the_bits_of_one_call_per_parameter(shared_blocks, monkeypatch, dtype, maximize, decay,
                                                                    amsgrad):
    params, grads, (m, v, vmax) = group_arrays(dtype, 3)
    whole, ref = ([[a.copy() for a in arrays] for arrays in (params, m, v, vmax)] for _ in range(2))
    options = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=decay[0], amsgrad=amsgrad,
                   maximize=maximize, decoupled_weight_decay=decay[1])
    with np.errstate(all="ignore"):
        for step in (1, 2, 3):
            cpu.adam_update_group(params, grads, m, v, vmax if amsgrad else [None] * len(SIZES), step=step,
                                  **options)
            for p, g, mm, vv, vm in zip(*ref[:1], grads, *ref[1:]):
                reference.adam_update(p, g, mm, vv, vm if amsgrad else None, step=step, **options)
        monkeypatch.setattr(parallel, "SHARE_FROM", 1 << 30)  # the loop over each whole array, as before blocks
        for step in (1, 2, 3):
            for p, g, mm, vv, vm in zip(*whole[:1], grads, *whole[1:]):
                cpu.adam_update(p, g, mm, vv, vm if amsgrad else None, step=step, **options)
    for got, one_call, want in zip((params, m, v, vmax), whole, ref):
        for a, b, c in zip(got, one_call, want):
            np.testing.assert_array_equal(bits(a), bits(b))  # every bit, a NaN's sign too
            # the reference's: the same numbers and NaNs (a NaN's sign may differ where both operands are NaN)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(c))
            np.testing.assert_array_equal(bits(a)[~np.isnan(a)], bits(c)[~np.isnan(c)])


SGD_OPTIONS = list(itertools.product([False, True], [0.0, 0.05], [(0.0, 0.0, False), (0.9, 0.0, False),
                                                                  (0.9, 0.3, False), (0.9, 0.0, True)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize,weight_decay,momentum", SGD_OPTIONS)
def test_sgd_group_update_gives_the_bits_of_one_call_per_parameter(shared_blocks, monkeypatch, dtype, maximize,
                                                                   weight_decay, momentum):
    momentum, dampening, nesterov = momentum
    params, grads, (buffers, _, _) = group_arrays(dtype, 5)
    whole, ref = ([[a.copy() for a in arrays] for arrays in (params, buffers)] for _ in range(2))

    def options(step):
        return dict(lr=1e-2, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                    maximize=maximize, first_step=step == 1)

    with np.errstate(all="ignore"):
        for step in (1, 2, 3):
            cpu.sgd_update_group(params, grads, buffers, **options(step))
            for p, g, b in zip(ref[0], grads, ref[1]):
                reference.sgd_update(p, g, b, **options(step))
        monkeypatch.setattr(parallel, "SHARE_FROM", 1 << 30)
        for step in (1, 2, 3):
            for p, g, b in zip(whole[0], grads, whole[1]):
                cpu.sgd_update(p, g, b, **options(step))
    for got, one_call, want in zip((params, buffers), whole, ref):
        for a, b, c in zip(got, one_call, want):
            np.testing.assert_array_equal(bits(a), bits(b))
            np.testing.assert_array_equal(np.isnan(a), np.isnan(c))
            np.testing.assert_array_equal(bits(a)[~np.isnan(a)], bits(c)[~np.isnan(c)])


def test_share_runs_the_work_on_the_caller_and_the_helper(shared_blocks):
    threads, helper_joined = set(), threading.Event()
    caller = threading.get_ident()

    def work():
        threads.add(threading.get_ident())
        if threading.get_ident() == caller:
            helper_joined.wait(10)  # as a kernel does, let go of the GIL until the helper runs (however loaded)
        else:
            helper_joined.set()

    parallel.share(work)
    assert caller in threads and len(threads) == 2


def test_a_large_group_runs_as_the_teams_job_and_each_block_is_claimed_once(shared_blocks, monkeypatch):
    """Adam's group update goes to the spinning team (kernels/spin_team.py, whose tests check that its helper
    joins), as its job for the group's dtype and options; every element is updated once, none twice or skipped."""
    if shared_blocks != "team":
        pytest.skip("the team's case")
    jobs, run = [], spin_team.run
    monkeypatch.setattr(spin_team, "run", lambda job, args: (jobs.append(job), run(job, args)))
    n = 2_000_000
    p, g = np.ones(n, np.float32), np.full(n, 0.5, np.float32)
    m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
    want = [a[:1].copy() for a in (p, m, v)]
    options = dict(step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
    cpu.adam_update_group([p], [g], [m], [v], [None], **options)
    assert jobs == [cpu.adam_job(np.dtype(np.float32), (0, False)).address]
    reference.adam_update(want[0], g[:1], want[1], want[2], None, **options)
    for got, one in zip((p, m, v), want):
        np.testing.assert_array_equal(got, np.full(n, one[0]))


def threads_of_a_shared_work() -> set:
    """The threads that ran a work shared next, each waiting until both are in (the helper serves on)."""
    threads = set()
    both = threading.Event()

    def note():
        threads.add(threading.get_ident())
        if len(threads) == 2:
            both.set()
        both.wait(10)

    parallel.share(note)
    return threads


def test_an_error_in_the_helpers_work_reaches_the_caller_and_the_helper_serves_on(shared_blocks):
    caller = threading.get_ident()
    helper_ran = threading.Event()

    def fail():  # the caller's part lasts until the helper has joined in, however late a loaded machine wakes it
        if threading.get_ident() == caller:
            helper_ran.wait(10)
        else:
            helper_ran.set()
            raise ValueError("in the helper")

    with pytest.raises(ValueError, match="in the helper"):
        parallel.share(fail)
    assert len(threads_of_a_shared_work()) == 2


def test_a_work_that_says_it_is_finished_returns_while_the_helper_leaves_it(shared_blocks):
    """share's `finished` (the kernels' count of written elements) spares the caller the wait until the helper is
    out of the work; the helper takes the next work once it is."""
    caller = threading.get_ident()
    helper_in, release, helper_out = threading.Event(), threading.Event(), threading.Event()

    def work():
        if threading.get_ident() == caller:
            helper_in.wait(10)
        else:
            helper_in.set()
            release.wait(10)
            helper_out.set()

    parallel.share(work, lambda: True)
    assert helper_in.is_set() and not helper_out.is_set()  # returned with the helper still inside
    release.set()
    assert len(threads_of_a_shared_work()) == 2 and helper_out.is_set()


def test_without_room_or_inside_a_parallel_region_the_caller_runs_the_work_alone(monkeypatch):
    monkeypatch.setattr(parallel, "machine_has_room", lambda: False)
    threads = []
    parallel.share(lambda: (threads.append(threading.get_ident()), time.sleep(0.005)))
    assert threads == [threading.get_ident()]
    monkeypatch.setattr(parallel, "machine_has_room", lambda: True)
    inner = []
    parallel.map_chunks(lambda a, b: parallel.share(lambda: (inner.append(a), time.sleep(0.005))), [(0, 1), (1, 2)])
    assert sorted(inner) == [0, 1]  # each chunk's work once: on the thread running the chunk
    outside = []
    worker = threading.Thread(target=parallel.share, args=(lambda: (outside.append(1), time.sleep(0.005)),))
    worker.start()
    worker.join()
    assert outside == [1]  # another thread than the main one: alone


def test_blocks_start_at_multiples_of_their_size_so_the_vectorised_loop_meets_the_same_elements():
    """A block that started elsewhere would leave other elements to the loop's scalar remainder, whose NaN signs
    may differ from the vector code's: the block size is a multiple of any vector width times unroll."""
    assert parallel.BLOCK_ELEMENTS % 1024 == 0


def seed_like_model(seed: int = 0):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 5))


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=0.01, amsgrad=True),
                                  lambda ps: optim.AdamW(ps, lr=1e-2, maximize=True),
                                  lambda ps: optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.1),
                                  lambda ps: optim.SGD(ps, lr=1e-2)])
def test_a_group_steps_as_each_parameter_steps(shared_blocks, make):
    """The group call and the per-parameter path (Optimizer._update_group's default) agree bit for bit."""
    models = [seed_like_model(), seed_like_model()]
    opts = [make(list(m.parameters())) for m in models]
    per_parameter = opts[1]
    per_parameter._update_group = lambda ready, group: optim.Optimizer._update_group(per_parameter, ready, group)
    x = tg.randn(8, 40)
    for _ in range(3):
        for model, opt in zip(models, opts):
            opt.zero_grad()
            y = model(x)
            (y * y).mean().backward()
            opt.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(bits(a.data), bits(b.data))
    state = opts[0].state[next(iter(models[0].parameters()))]
    assert state["step"] == 3 if isinstance(opts[0], optim.Adam) else ("momentum_buffer" in state) == bool(
        opts[0].param_groups[0]["momentum"])


def test_a_parameter_added_later_keeps_its_own_step_count():
    model = seed_like_model()
    first, second = list(model.parameters())[:2], list(model.parameters())[2:]
    opt = optim.Adam([{"params": first}], lr=1e-2)
    x = tg.randn(4, 40)
    model(x).sum().backward()
    opt.step()
    opt.param_groups[0]["params"] += second  # the same group now holds parameters at different steps
    before = [p.data.copy() for p in second]
    opt.step()
    assert [opt.state[p]["step"] for p in first] == [2, 2] and [opt.state[p]["step"] for p in second] == [1, 1]
    # their first step: Adam's first update moves each element by lr (to rounding) against its gradient's sign
    for p, old in zip(second, before):
        moved = old - p.data
        np.testing.assert_allclose(np.abs(moved)[p.grad.data != 0], 1e-2, rtol=1e-4)


def test_step_errors_before_changing_any_parameter_of_the_group():
    model = seed_like_model()
    params = list(model.parameters())
    opt = optim.Adam(params, lr=1e-2)
    for p in params:
        p.grad = tg.ones(*p.shape)
    params[-1].grad = tg.ones(3)
    before = [p.data.copy() for p in params]
    with pytest.raises(tg.ShapeError, match="gradient of shape"):
        opt.step()
    for p, old in zip(params, before):
        np.testing.assert_array_equal(p.data, old)


def test_sgd_parameters_with_and_without_a_momentum_buffer_step_one_by_one():
    model = seed_like_model()
    params = list(model.parameters())
    opt = optim.SGD(params[:2], lr=1e-2, momentum=0.9)
    x = tg.randn(4, 40)
    model(x).sum().backward()
    opt.step()
    opt.param_groups[0]["params"] += params[2:]
    buffers = [opt.state[p]["momentum_buffer"].copy() for p in params[:2]]
    opt.step()
    for p, old in zip(params[:2], buffers):  # their second step: b = 0.9 b + g
        np.testing.assert_allclose(opt.state[p]["momentum_buffer"], 0.9 * old + p.grad.data, rtol=1e-6)
    for p in params[2:]:  # their first: b = g
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], p.grad.data)


@pytest.mark.parametrize("value,shared", [(None, True), ("1", True), ("0", False)])
def test_updates_are_shared_unless_the_environment_says_0(value, shared):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != parallel.SHARE_ENV_VAR}
    if value is not None:
        env[parallel.SHARE_ENV_VAR] = value
    code = "from tinygrad_opt.kernels import parallel; print(parallel.shares_updates())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(shared)


def test_the_helpers_start_has_openblas_idle_threads_sleep_soon_and_keeps_their_flush_mode():
    """A subprocess: its OpenBLAS threads are restarted once, with the short spin, in the caller's float mode."""
    import os
    import subprocess
    import sys

    code = """
import numpy as np
import tinygrad_opt as tg
from tinygrad_opt.kernels import denormal, parallel
tg.set_flush_denormal(True)
x = np.ones((300, 300), np.float32); x @ x
parallel.machine_has_room = lambda: True
parallel.share(lambda: None)
import os
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), denormal._blas_mode)
"""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    timeout, mode = done.stdout.split()
    assert mode == "True"  # restarted from a thread that flushes: BLAS's threads flush too
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return
    if any(info.get("internal_api") == "openblas" for info in threadpool_info()):
        assert timeout == parallel.SHORT_SPIN


def test_where_no_group_kernel_takes_the_arrays_each_parameter_runs_its_own_kernel():
    """The reference mode (and the GPU, which has no group version) runs kernel "adam_update" per parameter."""
    from tinygrad_opt import kernels

    mode = kernels.get_mode()
    try:
        tg.set_kernels("reference")
        group = kernels.get("adam_update_group", np.ones(2, np.float32))
        assert group.__name__ == "adam_update_each"
        params, grads, (m, v, _) = group_arrays(np.float32, 7)
        want = [[a.copy() for a in arrays] for arrays in (params, m, v)]
        options = dict(step=1, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                       maximize=False)
        with np.errstate(all="ignore"):
            group(params, grads, m, v, [None] * len(SIZES), **options)
            for p, g, mm, vv in zip(want[0], grads, want[1], want[2]):
                reference.adam_update(p, g, mm, vv, None, **options)
        for got, expected in zip((params, m, v), want):
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(bits(a), bits(b))
    finally:
        tg.set_kernels(mode)
