"""Adam's and SGD's CPU loops are compiled once per option set (kernels/cpu.py, _loop_for): the reference's bits
(a NaN's sign too), Adam's the same as the one loop that took the options as run-time flags; each option set
compiled only when used, and each cached on disk apart."""
import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from tinygrad_opt.kernels import cpu, reference  # noqa: E402


@numba.njit(error_model="numpy", cache=True)
def flagged_adam_loop(param, grad, m_arr, v_arr, vmax_arr, k, neg, decay_mode, amsgrad):
    """The loop as it was before the split: every option a run-time flag (the oracle)."""
    c1, c2, beta2, wd, decay, step_size, bc2, eps = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
    for i in range(param.size):
        p = param[i]
        g = -grad[i] if neg else grad[i]
        if decay_mode == 1:
            p = p * decay
        elif decay_mode == 2:
            g = g + wd * p
        m = m_arr[i]
        m = m + c1 * (g - m)
        m_arr[i] = m
        v = v_arr[i] * beta2
        v = v + c2 * g * g
        v_arr[i] = v
        if amsgrad:
            vm = vmax_arr[i]
            if not (vm >= v or vm != vm):
                vm = v
            vmax_arr[i] = vm
            v = vm
        d = np.sqrt(v)
        d = d / bc2
        d = d + eps
        d = m / d
        d = d * step_size
        param[i] = p - d


def hard_values(dtype, n: int, seed: int) -> np.ndarray:
    """Normal values salted with zeros of both signs, subnormals, huge values, inf and NaN."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    specials = np.array([0.0, -0.0, tiny, -tiny * 3, np.finfo(dtype).max / 2, np.inf, -np.inf, np.nan], dtype)
    a[rng.choice(n, specials.size, replace=False)] = specials
    return a


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


OPTION_SETS = list(itertools.product([False, True], [(0.0, False), (0.1, False), (0.1, True)], [False, True]))


def run_adam(update, arrays, grad, maximize, weight_decay, decoupled, amsgrad) -> None:
    for step in (1, 2, 3):
        update(arrays[0], grad, *arrays[1:], step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decoupled)


def flagged_update(param, grad, m, v, vmax, *, step, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                   decoupled_weight_decay):
    k = np.array([1 - beta1, 1 - beta2, beta2, weight_decay, 1 - lr * weight_decay, lr / (1 - beta1**step),
                  (1 - beta2**step) ** 0.5, eps], param.dtype)
    decay_mode = 0 if weight_decay == 0 else (1 if decoupled_weight_decay else 2)
    flagged_adam_loop(param, grad, m, v, vmax if amsgrad else m, k, maximize, decay_mode, amsgrad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize,decay,amsgrad", OPTION_SETS)
def test_each_adam_option_set_gives_the_references_bits_and_the_flagged_loops_values(dtype, maximize, decay, amsgrad):
    n = 257
    param, grad = hard_values(dtype, n, 1), hard_values(dtype, n, 2)
    state = [np.abs(hard_values(dtype, n, s)) for s in (3, 4, 5)]
    ours, ref, flagged = ([param.copy()] + [s.copy() for s in state] for _ in range(3))
    with np.errstate(all="ignore"):
        run_adam(cpu.adam_update, ours, grad, maximize, *decay, amsgrad)
        run_adam(reference.adam_update, ref, grad, maximize, *decay, amsgrad)
    run_adam(flagged_update, flagged, grad, maximize, *decay, amsgrad)
    for got, want, old in zip(ours, ref, flagged):
        np.testing.assert_array_equal(bits(got), bits(want))  # every bit, a NaN's sign too
        # the flagged loop: the same bits but for the sign of a NaN, which LLVM's folding of -grad into the
        # L2 penalty's addition flipped there (maximize with weight decay); the reference's -grad keeps it
        np.testing.assert_array_equal(np.isnan(got), np.isnan(old))
        np.testing.assert_array_equal(bits(got)[~np.isnan(got)], bits(old)[~np.isnan(old)])


SGD_OPTION_SETS = list(itertools.product([False, True], [0.0, 0.05], [(0.0, 0.0, False), (0.9, 0.0, False),
                                                                      (0.9, 0.3, False), (0.9, 0.0, True)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize,weight_decay,momentum", SGD_OPTION_SETS)
def test_each_sgd_option_set_gives_the_references_bits(dtype, maximize, weight_decay, momentum):
    momentum, dampening, nesterov = momentum
    n = 257
    param, grad, buf = hard_values(dtype, n, 1), hard_values(dtype, n, 2), hard_values(dtype, n, 3)
    ours, ref = [param.copy(), buf.copy()], [param.copy(), buf.copy()]
    with np.errstate(all="ignore"):
        for step in (1, 2, 3):
            options = dict(lr=1e-2, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                           nesterov=nesterov, maximize=maximize, first_step=step == 1)
            cpu.sgd_update(ours[0], grad, ours[1], **options)
            reference.sgd_update(ref[0], grad, ref[1], **options)
    for got, want in zip(ours, ref):
        np.testing.assert_array_equal(bits(got), bits(want))


def test_only_the_option_sets_used_are_compiled():
    script = textwrap.dedent("""
        import json
        import numpy as np
        import tinygrad_opt as tg
        from tinygrad_opt import nn, optim
        from tinygrad_opt.kernels import cpu
        model = nn.Linear(4, 3)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        model(tg.ones(2, 4)).sum().backward()
        opt.step()
        sgd = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        sgd.step()
        sgd.step()
        from tinygrad_opt.kernels import background
        background.wait_idle()  # first calls compile their loop on a background thread
        print(json.dumps([[list(key) for key in cpu._ADAM_LOOPS], [list(key) for key in cpu._SGD_LOOPS]]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[[0, False]], [[False, True, False]]]


CACHE_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    from tinygrad_opt.kernels import cpu
    results = {}
    for maximize, decay, amsgrad in [(False, 0.0, False), (True, 0.1, True)]:
        p, g = np.linspace(-1, 1, 50), np.linspace(2, -2, 50)
        state = [np.full(50, 0.5) for _ in range(3)]
        cpu.adam_update(p, g, *state, step=1, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=decay,
                        amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
        job = cpu.adam_job(p.dtype, (0 if decay == 0 else 1, amsgrad))  # what the update ran (the loop inside)
        results[str((maximize, decay, amsgrad))] = [p.tolist(), job.cache_hits]
    print(json.dumps(results))
""")


def test_each_option_set_is_cached_on_disk_apart(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run() -> dict:
        done = subprocess.run([sys.executable, "-c", CACHE_SCRIPT], capture_output=True, text=True, timeout=300,
                              env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    cold, warm = run(), run()
    for key in cold:
        assert cold[key][1] == 0, key  # compiled: nothing in the empty cache
        assert warm[key][1] == 1, key  # loaded from what the first process wrote
        assert warm[key][0] == cold[key][0]
    assert cold[str((False, 0.0, False))][0] != cold[str((True, 0.1, True))][0]  # two loops, not one twice
