"""The optimizer updates' jobs for the spinning team (cpu.adam_job, cpu.sgd_job): run by one thread or by two at once
on the same args block, they give the bits of the one-thread group update, whichever thread took which block."""
import ctypes
import itertools
import threading

import numpy as np
import pytest

pytest.importorskip("numba")

from tinygrad_opt.kernels import cpu, denormal, parallel, spin_team  # noqa: E402

from test_kernels_update_options import bits  # noqa: E402
from test_optim_group_update import BLOCK, SIZES, group_arrays  # noqa: E402

STEPS = (1, 2, 3)
OPTIONS = list(itertools.product([0, 1, 2], [False, True]))  # decay_mode (none, AdamW's, L2), amsgrad


def run_job(job, args, threads: int) -> None:
    """job(args) on `threads` Python threads at once (a ctypes call lets go of the GIL), each in the engine's
    float mode, as the team's threads are."""
    call = ctypes.CFUNCTYPE(None, ctypes.c_int64)(job.address)
    start = threading.Barrier(threads)

    def run():
        denormal.follow_flush_denormal()
        start.wait(10)
        call(args.ctypes.data)

    others = [threading.Thread(target=run) for _ in range(threads - 1)]
    for t in others:
        t.start()
    run()
    for t in others:
        t.join()


def adam_by_job(arrays, grads, threads: int, step: int, decay_mode: int, amsgrad: bool) -> None:
    """One step of the group update as the team path runs it: the group's split into blocks, its job, its args."""
    params, m, v, vmax = arrays
    weight_decay = 0.0 if decay_mode == 0 else 0.1
    options, k, _ = cpu._adam_step(grads, params[0].dtype, step, 1e-2, 0.9, 0.999, 1e-8, weight_decay, amsgrad, False,
                                   decay_mode == 1)
    sizes = [a.size for a in params]
    wide = cpu._wide_constants(k)
    args = cpu._filled_job_args(sizes, cpu._block_split(sizes), (params, grads, m, v, vmax if amsgrad else m), k, wide)
    run_job(cpu.adam_job(k.dtype, options), args, threads)
    counters = args[cpu.ARGS_COUNTERS:cpu.ARGS_COUNTERS + len(sizes) + 1]
    assert counters[-1] == sum(a.size for a in params)  # every element written once


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of BLOCK elements, groups from 64 elements split: the large arrays are many blocks."""
    monkeypatch.setattr(parallel, "SHARE_FROM", 64)
    monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", BLOCK)


@pytest.fixture(params=[False, True], ids=["subnormals kept", "flushed"])
def flush(request):
    if request.param and not denormal.supported():
        pytest.skip("no flush bits on this CPU")
    before = denormal.flush_denormal_enabled()
    denormal.set_flush_denormal(request.param)
    yield request.param
    denormal.set_flush_denormal(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decay_mode,amsgrad", OPTIONS)
def test_the_job_on_one_or_two_threads_gives_the_bits_of_the_one_thread_update(small_blocks, monkeypatch, flush,
                                                                             dtype, decay_mode, amsgrad):
    params, grads, state = group_arrays(dtype, 11)
    start = [params, *state]
    one_thread, two, one = ([[a.copy() for a in arrays] for arrays in start] for _ in range(3))
    options = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0 if decay_mode == 0 else 0.1,
                   amsgrad=amsgrad, maximize=False, decoupled_weight_decay=decay_mode == 1)
    with np.errstate(all="ignore"):
        monkeypatch.setattr(parallel, "machine_has_room", lambda: False)
        for step in STEPS:
            cpu.adam_update_group(one_thread[0], grads, *one_thread[1:3],
                                  one_thread[3] if amsgrad else [None] * len(SIZES), step=step, **options)
        for step in STEPS:
            adam_by_job(two, grads, 2, step, decay_mode, amsgrad)
            adam_by_job(one, grads, 1, step, decay_mode, amsgrad)
    kinds = ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")[:4 if amsgrad else 3]
    for kind, want, got_two, got_one in zip(kinds, one_thread, two, one):
        for j, (a, b, c) in enumerate(zip(want, got_two, got_one)):
            np.testing.assert_array_equal(bits(b), bits(a), err_msg=f"{kind}[{j}], two threads")
            np.testing.assert_array_equal(bits(c), bits(a), err_msg=f"{kind}[{j}], one thread")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decay_mode,amsgrad", OPTIONS)
@pytest.mark.parametrize("planned", [False, True], ids=["group call", "AdamGroupPlan"])
def test_the_group_update_on_the_team_gives_the_bits_of_one_thread(small_blocks, monkeypatch, flush, dtype, decay_mode,
                                                                   amsgrad, planned):
    params, grads, state = group_arrays(dtype, 13)
    options = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0 if decay_mode == 0 else 0.1,
                   amsgrad=amsgrad, maximize=False, decoupled_weight_decay=decay_mode == 1)
    jobs, run = [], spin_team.run
    monkeypatch.setattr(spin_team, "run", lambda job, args: (jobs.append(job), run(job, args)))
    monkeypatch.setattr(spin_team, "spinning", lambda: True)  # as after a job of the step: the team takes it
    results = []
    for room in (True, False):
        monkeypatch.setattr(parallel, "machine_has_room", lambda: room)
        p, m, v, vmax = ([a.copy() for a in arrays] for arrays in (params, *state))
        vmax = vmax if amsgrad else [None] * len(SIZES)
        plan = cpu.AdamGroupPlan(p, m, v, vmax)
        with np.errstate(all="ignore"):
            for step in STEPS:
                if planned:
                    assert plan(grads, step, **options)
                else:
                    cpu.adam_update_group(p, grads, m, v, vmax, step=step, **options)
        results.append([p, m, v, vmax if amsgrad else []])
    assert len(jobs) == len(STEPS)  # with room, every step ran on the team; without, none
    for team, one in zip(*results):
        for a, b in zip(team, one):
            np.testing.assert_array_equal(bits(a), bits(b))


SGD_OPTIONS = [(0.0, 0.0, 0.0, False), (0.9, 0.0, 0.0, False), (0.9, 0.3, 0.05, False), (0.9, 0.0, 0.05, True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,dampening,weight_decay,nesterov", SGD_OPTIONS)
def test_sgds_group_update_on_the_team_gives_the_bits_of_one_thread(small_blocks, monkeypatch, flush, dtype, momentum,
                                                                    dampening, weight_decay, nesterov):
    """The momentum buffers start subnormal-salted (hard values), so the widened spans run where kept; the first step
    (the buffer's copy) and two more."""
    params, grads, (buffers, _, _) = group_arrays(dtype, 17)
    jobs, run = [], spin_team.run
    monkeypatch.setattr(spin_team, "run", lambda job, args: (jobs.append(job), run(job, args)))
    monkeypatch.setattr(spin_team, "spinning", lambda: True)
    results = []
    for room in (True, False):
        monkeypatch.setattr(parallel, "machine_has_room", lambda: room)
        p, b = ([a.copy() for a in arrays] for arrays in (params, buffers))
        with np.errstate(all="ignore"):
            for step in STEPS:
                cpu.sgd_update_group(p, grads, b, lr=1e-2, momentum=momentum, dampening=dampening,
                                     weight_decay=weight_decay, nesterov=nesterov, maximize=False, first_step=step == 1)
        results.append(p + b)
    assert len(jobs) == len(STEPS)
    for a, b in zip(*results):
        np.testing.assert_array_equal(bits(a), bits(b))


def test_the_arrays_hold_subnormal_moments_so_the_float64_spans_run():
    """The case above meets the loop's widened spans: float32 exp_avg with subnormals, from the start."""
    _, _, (m, _, _) = group_arrays(np.float32, 11)
    tiny = np.finfo(np.float32).tiny
    assert any(((a != 0) & (np.abs(a) < tiny)).any() for a in m)


def test_a_job_is_made_once_per_dtype_and_option_set():
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    job = cpu.adam_job(f32, (1, True))
    assert cpu.adam_job(np.dtype("float32"), (1, True)) is job
    assert cpu.adam_job(f64, (1, True)) is not job and cpu.adam_job(f32, (2, True)) is not job
    assert cpu.sgd_job(f32, (False, True, False)) is cpu.sgd_job(f32, (False, True, False))
    assert isinstance(job.address, int) and job.address != 0


TEAM_FIRST = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_kernels_update_options import bits
from test_optim_group_update import group_arrays
from tinygrad_opt.kernels import cpu, parallel, spin_team
parallel.SHARE_FROM, parallel.BLOCK_ELEMENTS = 64, 1024
params, grads, (m, v, _) = group_arrays(np.float32, 3)
options = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, amsgrad=False, maximize=True)
results = []
for team in (True, False):  # the team's job first: loaded from the cache before the loop
    parallel.machine_has_room = spin_team.spinning = lambda: team
    p, mm, vv = ([a.copy() for a in arrays] for arrays in (params, m, v))
    with np.errstate(all="ignore"):
        for step in (1, 2, 3):
            cpu.adam_update_group(p, grads, mm, vv, [None] * len(p), step=step, **options)
    results.append(p + mm + vv)
print(sum(int((bits(a) != bits(b)).sum()) for a, b in zip(*results)))
"""


def test_a_job_run_before_its_loop_in_a_process_gives_the_loops_bits():
    """A fresh process whose first group update is the team's job (compiled, then loaded from the cache in the
    second process) against the loop called from Python afterwards: a job that carried its own copy of the loop
    gave other NaN signs where two NaNs meet."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = TEAM_FIRST.format(tests=str(Path(__file__).parent))
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "TINYGRAD_OPT_BACKGROUND_COMPILE": "0"})
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == "0"  # elements whose bits differ
