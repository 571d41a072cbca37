"""Adam's group plan (kernels/cpu.AdamGroupPlan, kept per parameter group by optim.Adam): the checks and flat views
of the parameters and moments made once. Every step must give the bits of the unplanned kernel call, and the plan
must follow whatever replaces the arrays it planned for: p.data, the state, load_state_dict, new groups, option
changes, copies of the optimizer, gradients the loops cannot take."""
import copy
import pickle

import numpy as np
import pytest

pytest.importorskip("numba")

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import kernels, optim  # noqa: E402
from tinygrad_opt.kernels import cpu, parallel  # noqa: E402

SHAPES = ((40, 30), (30,), (5, 40), (1,))


class Unplanned(optim.Adam):
    """Adam without the plan: the kernel called as before it existed."""

    def _group_plan(self, *_):
        return None


@pytest.fixture(autouse=True)
def compiled_kernels(compiled_loops):
    """The compiled loops from the first call (conftest.py): a loop compiling in the background has no plan."""


@pytest.fixture
def plan_calls(monkeypatch):
    """The results of every plan call (True: the plan updated the group)."""
    results = []
    call = cpu.AdamGroupPlan.__call__

    def counted(self, *args):
        results.append(call(self, *args))
        return results[-1]

    monkeypatch.setattr(cpu.AdamGroupPlan, "__call__", counted)
    return results


def make_params(dtype=np.float32, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [tg.Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def set_grads(params, seed):
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = tg.Tensor(rng.standard_normal(p.shape).astype(p.dtype))


def same_bits(a_params, b_params):
    for a, b in zip(a_params, b_params):
        np.testing.assert_array_equal(a.data.view(np.uint8), b.data.view(np.uint8))


def pair(dtype=np.float32, **options):
    """The same parameters under a planned and an unplanned Adam."""
    a, b = make_params(dtype), make_params(dtype)
    return a, optim.Adam(a, **options), b, Unplanned(b, **options)


def step_both(a, opt_a, b, opt_b, seed):
    set_grads(a, seed)
    set_grads(b, seed)
    opt_a.step()
    opt_b.step()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True},
                                     {"amsgrad": True}, {"maximize": True}])
def test_planned_steps_give_the_unplanned_bits(plan_calls, dtype, options):
    a, opt_a, b, opt_b = pair(dtype, lr=1e-2, **options)
    for seed in range(4):
        step_both(a, opt_a, b, opt_b, seed)
    same_bits(a, b)
    assert plan_calls and all(plan_calls)  # the plan updated every step


def test_a_shared_group_gives_the_unplanned_bits_and_follows_the_block_settings(plan_calls, monkeypatch):
    monkeypatch.setattr(parallel, "machine_has_room", lambda: True)
    a, opt_a, b, opt_b = pair(lr=1e-2)
    for seed, (share_from, block) in enumerate([(64, 256), (64, 256), (1 << 30, 256), (64, 1024)]):
        monkeypatch.setattr(parallel, "SHARE_FROM", share_from)
        monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", block)
        step_both(a, opt_a, b, opt_b, seed)
        same_bits(a, b)
    assert all(plan_calls)


def test_plan_follows_a_replaced_parameter_array(plan_calls):
    a, opt_a, b, opt_b = pair(lr=1e-2)
    step_both(a, opt_a, b, opt_b, 0)
    old = a[0].data
    kept = old.copy()
    for p in (a[0], b[0]):
        p.data = np.full((40, 30), 0.5, np.float32)
    step_both(a, opt_a, b, opt_b, 1)
    same_bits(a, b)
    assert not np.array_equal(a[0].data, np.full((40, 30), 0.5, np.float32))  # the new array was updated
    np.testing.assert_array_equal(old, kept)  # the replaced one was not


def test_plan_follows_replaced_state_arrays(plan_calls):
    a, opt_a, b, opt_b = pair(lr=1e-2)
    step_both(a, opt_a, b, opt_b, 0)
    for params, opt in ((a, opt_a), (b, opt_b)):
        opt.state[params[1]]["exp_avg"] = np.full(30, 0.25, np.float32)
        opt.state[params[2]]["exp_avg_sq"] = np.full((5, 40), 2.0, np.float32)
    step_both(a, opt_a, b, opt_b, 1)
    same_bits(a, b)
    for params, opt in ((a, opt_a), (b, opt_b)):
        assert not np.array_equal(opt.state[params[1]]["exp_avg"], np.full(30, 0.25, np.float32))
    np.testing.assert_array_equal(opt_a.state[a[1]]["exp_avg"], opt_b.state[b[1]]["exp_avg"])
    assert all(plan_calls)


def test_plan_follows_load_state_dict(plan_calls):
    a, opt_a, b, opt_b = pair(lr=1e-2)
    step_both(a, opt_a, b, opt_b, 0)  # opt_a has a plan for its first moments
    source = make_params(seed=5)
    opt_source = optim.Adam(source, lr=1e-2)
    for seed in (7, 8):
        set_grads(source, seed)
        opt_source.step()
    for params, opt in ((a, opt_a), (b, opt_b)):
        for p, q in zip(params, source):
            p.data[...] = q.data
        opt.load_state_dict(opt_source.state_dict())
    for seed in (9, 10):
        step_both(a, opt_a, b, opt_b, seed)
        set_grads(source, seed)
        opt_source.step()
    same_bits(a, b)
    same_bits(a, source)
    np.testing.assert_array_equal(opt_a.state[a[0]]["exp_avg"], opt_source.state[source[0]]["exp_avg"])
    assert all(plan_calls)
    assert list(opt_a._plans) == [id(opt_a.param_groups[0])]  # the replaced group's plan (and arrays) let go


def test_plan_follows_option_changes(plan_calls):
    a, opt_a, b, opt_b = pair(lr=1e-2)
    changes = [{}, {"lr": 3e-3}, {"weight_decay": 0.05}, {"decoupled_weight_decay": True}, {"amsgrad": True},
               {"maximize": True}, {"betas": (0.8, 0.99), "eps": 1e-6}]
    for seed, change in enumerate(changes):
        opt_a.param_groups[0].update(change)
        opt_b.param_groups[0].update(change)
        step_both(a, opt_a, b, opt_b, seed)
        same_bits(a, b)
    assert len(plan_calls) == len(changes) and all(plan_calls)


def test_each_param_group_has_its_own_plan(plan_calls):
    a, opt_a, b, opt_b = pair(lr=1e-2)
    step_both(a, opt_a, b, opt_b, 0)
    extra_a, extra_b = make_params(seed=3, shapes=((7, 3),)), make_params(seed=3, shapes=((7, 3),))
    opt_a.add_param_group({"params": extra_a, "lr": 0.1})
    opt_b.add_param_group({"params": extra_b, "lr": 0.1})
    for seed in (1, 2):
        step_both(a + extra_a, opt_a, b + extra_b, opt_b, seed)
    same_bits(a + extra_a, b + extra_b)
    assert len(opt_a._plans) == 2 and all(plan_calls)


def test_gradient_the_loops_cannot_take_runs_the_kernel(plan_calls):
    a, opt_a, b, opt_b = pair(lr=1e-2)
    step_both(a, opt_a, b, opt_b, 0)
    for params in (a, b):
        set_grads(params, 1)
        params[0].grad = tg.Tensor(np.asfortranarray(params[0].grad.data))  # not C-contiguous
    opt_a.step()
    opt_b.step()
    same_bits(a, b)
    assert plan_calls == [True, False]


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_optimizer_updates_its_own_arrays(plan_calls, how):
    a, opt_a, b, opt_b = pair(lr=1e-2)
    step_both(a, opt_a, b, opt_b, 0)
    copied = copy.deepcopy(opt_a) if how == "deepcopy" else pickle.loads(pickle.dumps(opt_a))
    assert "_plans" not in copied.__dict__
    copied_params = copied.param_groups[0]["params"]
    before = [p.data.copy() for p in a]
    set_grads(copied_params, 1)
    copied.step()
    set_grads(b, 1)
    opt_b.step()
    same_bits(copied_params, b)
    same_bits(a, [tg.Tensor(x) for x in before])  # the original's parameters were left alone
    step_both(a, opt_a, b, opt_b, 2)
    step_both(copied_params, copied, b, opt_b, 3)
    assert all(plan_calls)


def test_reference_kernels_take_no_plan(plan_calls):
    kernels.set_kernels("reference")
    a, opt_a, b, opt_b = pair(lr=1e-2)
    for seed in (0, 1):
        step_both(a, opt_a, b, opt_b, seed)
    same_bits(a, b)
    assert not plan_calls and not opt_a.__dict__.get("_plans")
