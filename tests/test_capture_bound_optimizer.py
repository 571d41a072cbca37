"""A replayed step calls Adam's step bound to its groups, state and group plans (optim/adam_bound.py).

Each test runs the same training twice in lockstep, eagerly and through tg.compile, makes the same change to
both between two steps, and checks that every step leaves the same bits in the parameters and the optimizer's
state; and that the bound step took every change it should follow (options read at each call) without
leaving the bound path, and fell back to Optimizer.step for a change it cannot take, binding again after it."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

pytest.importorskip("numba")

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import kernels, nn, optim  # noqa: E402
from tinygrad_opt.capture import CaptureWarning  # noqa: E402
from tinygrad_opt.kernels import blas_threads, parallel  # noqa: E402
from tinygrad_opt.optim import adam_bound, step_hooks  # noqa: E402
from tinygrad_opt.optim.adam_bound import BoundAdamStep  # noqa: E402

STEPS = 8
CHANGE_AT = 4  # the change comes after this many steps: two recorded, then replays on the bound step


@pytest.fixture(autouse=True)
def compiled_kernels(compiled_loops):
    """The compiled loops from the first call (conftest.py): a loop compiling in the background has no plan."""


@pytest.fixture
def generic_steps(monkeypatch):
    """How many times the bound step fell back to Optimizer.step."""
    calls = []
    generic = adam_bound._generic_step

    def counted(opt):
        calls.append(opt)
        return generic(opt)

    monkeypatch.setattr(adam_bound, "_generic_step", counted)
    return calls


def data(n=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [(tg.Tensor(rng.standard_normal((6, 10)).astype(np.float32)), tg.Tensor(rng.integers(0, 3, 6)))
            for _ in range(n)]


def setup(make_optimizer):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def bound_steps(compiled) -> list:
    return [v for v in compiled.plan.replay.__globals__.values() if isinstance(v, BoundAdamStep)]


def assert_same(model_e, opt_e, model_c, opt_c):
    for p, q in zip(model_e.parameters(), model_c.parameters()):
        assert p.data.tobytes() == q.data.tobytes()
        for key, value in opt_e.state[p].items():
            assert np.asarray(value).tobytes() == np.asarray(opt_c.state[q][key]).tobytes(), key


def lockstep(change, make_optimizer=lambda p: optim.Adam(p, lr=1e-2), after=None):
    """Train eagerly and compiled side by side; change(model, opt) on both after CHANGE_AT steps; `after` is
    called on the compiled copy at every later step. Returns the compiled step."""
    model_e, opt_e, step_e = setup(make_optimizer)
    model_c, opt_c, step_c = setup(make_optimizer)
    compiled = tg.compile(step_c)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        for n, (x, y) in enumerate(data()):
            if n == CHANGE_AT:
                assert compiled.replaying and bound_steps(compiled)
                change(model_e, opt_e)
                change(model_c, opt_c)
            assert step_e(x, y).data.tobytes() == compiled(x, y).data.tobytes()
            assert_same(model_e, opt_e, model_c, opt_c)
            if after is not None and n >= CHANGE_AT:
                after(compiled)
    assert compiled.replaying, compiled.eager_reason
    return compiled


def bound_again(compiled):
    assert all(b.groups is not None for b in bound_steps(compiled))


def test_the_replay_calls_the_bound_step_and_binds_once(generic_steps):
    compiled = lockstep(lambda model, opt: None, after=bound_again)
    assert any(line.strip() == f"r = e{n}()" for line in compiled.plan.source.splitlines() for n in range(20))
    assert len(generic_steps) == 1  # the first replay binds; every later one stays on the bound path


@pytest.mark.parametrize("key, value", [("lr", 3e-3), ("betas", (0.8, 0.99)), ("eps", 1e-6),
                                        ("weight_decay", 0.1), ("maximize", True)])
def test_options_changed_between_steps_are_read_at_each_call(generic_steps, key, value):
    def change(model, opt):
        opt.param_groups[0][key] = value

    lockstep(change, after=bound_again)
    assert len(generic_steps) == 1


def test_decoupled_weight_decay_switched_on(generic_steps):
    def change(model, opt):
        opt.param_groups[0].update(weight_decay=0.05, decoupled_weight_decay=True)

    lockstep(change, after=bound_again)
    assert len(generic_steps) == 1


def test_amsgrad_switched_on_falls_back_once_and_binds_again(generic_steps):
    def change(model, opt):
        opt.param_groups[0]["amsgrad"] = True

    lockstep(change, after=bound_again)
    assert len(generic_steps) == 2  # the first replay, and the step that makes max_exp_avg_sq


def test_a_learning_rate_schedule_stepped_between_calls(generic_steps):
    model_e, opt_e, step_e = setup(lambda p: optim.Adam(p, lr=1e-2))
    model_c, opt_c, step_c = setup(lambda p: optim.Adam(p, lr=1e-2))
    compiled = tg.compile(step_c)
    sched_e = optim.lr_scheduler.ExponentialLR(opt_e, gamma=0.7)
    sched_c = optim.lr_scheduler.ExponentialLR(opt_c, gamma=0.7)
    for x, y in data():
        step_e(x, y)
        compiled(x, y)
        sched_e.step()
        sched_c.step()
        assert_same(model_e, opt_e, model_c, opt_c)
    assert compiled.replaying and len(generic_steps) == 1
    bound_again(compiled)


@pytest.mark.parametrize("edit", ["reversed", "new_list", "add_group", "replace_groups"])
def test_param_groups_edited_fall_back_and_bind_again(generic_steps, edit):
    def change(model, opt):
        if edit == "reversed":  # the same tensors in another order, in the same list
            opt.param_groups[0]["params"].reverse()
        elif edit == "new_list":
            opt.param_groups[0]["params"] = list(opt.param_groups[0]["params"])
        elif edit == "add_group":
            tg.manual_seed(5)
            opt.add_param_group({"params": [tg.Tensor(np.ones((3,), np.float32), requires_grad=True)], "lr": 0.5})
        else:
            opt.param_groups = [dict(group) for group in opt.param_groups]

    lockstep(change, after=bound_again)
    assert len(generic_steps) == 2


def test_a_loaded_state_dict_falls_back_and_binds_again(generic_steps):
    saved = {}

    def change(model, opt):
        if "state" not in saved:  # the eager copy saves; both load the same saved state
            saved["state"] = opt.state_dict()
        opt.load_state_dict(copy.deepcopy(saved["state"]))

    lockstep(change, after=bound_again)
    assert len(generic_steps) == 2


def test_a_replaced_moment_array_falls_back_and_binds_again(generic_steps):
    def change(model, opt):
        p = next(iter(model.parameters()))
        opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"] * 0.5

    lockstep(change, after=bound_again)
    assert len(generic_steps) == 2


def test_a_replaced_state_dict_of_one_parameter_falls_back(generic_steps):
    def change(model, opt):
        p = next(iter(model.parameters()))
        opt.state[p] = {key: (np.copy(value) if isinstance(value, np.ndarray) else value)
                        for key, value in opt.state[p].items()}

    lockstep(change, after=bound_again)
    assert len(generic_steps) == 2


@pytest.mark.parametrize("where", ["own", "global"])
def test_step_hooks_added_run_at_replay_and_removed_let_it_bind_again(generic_steps, where):
    seen = {"eager": 0, "compiled": 0}
    handles = []

    def change(model, opt):
        name = "eager" if not handles else "compiled"

        def hook(optimizer, args, kwargs):
            if optimizer is opt:  # a global hook sees both optimizers' steps
                seen[name] += 1

        handles.append(opt.register_step_post_hook(hook) if where == "own"
                       else step_hooks.register_optimizer_step_post_hook(hook))

    try:
        lockstep(change)
        assert seen == {"eager": STEPS - CHANGE_AT, "compiled": STEPS - CHANGE_AT}
        assert len(generic_steps) == 1 + STEPS - CHANGE_AT  # every step with a hook runs Optimizer.step
    finally:
        for handle in handles:
            handle.remove()
    generic_steps.clear()
    opt = optim.Adam([tg.Tensor(np.ones(4, np.float32), requires_grad=True)])
    bound = BoundAdamStep(opt)
    opt.param_groups[0]["params"][0].grad = tg.Tensor(np.ones(4, np.float32))
    bound()
    assert bound.groups is not None  # no hook left: the step binds


def test_a_parameter_array_replaced_under_the_bound_step_falls_back(generic_steps):
    p = tg.Tensor(np.ones(5, np.float32), requires_grad=True)
    q = tg.Tensor(np.ones(5, np.float32), requires_grad=True)
    opt_b, opt_e = optim.Adam([p], lr=0.1), optim.Adam([q], lr=0.1)
    bound = BoundAdamStep(opt_b)
    for n in range(6):
        if n == 3:
            p.data, q.data = p.data.copy(), q.data.copy()
        p.grad = tg.Tensor(np.full(5, 0.5 + n, np.float32))
        q.grad = tg.Tensor(np.full(5, 0.5 + n, np.float32))
        bound()
        opt_e.step()
        assert p.data.tobytes() == q.data.tobytes()
    assert len(generic_steps) == 2 and bound.groups is not None


def test_a_gradient_that_turns_none_falls_back(generic_steps):
    ps = [tg.Tensor(np.ones(5, np.float32), requires_grad=True) for _ in range(2)]
    qs = [tg.Tensor(np.ones(5, np.float32), requires_grad=True) for _ in range(2)]
    opt_b, opt_e = optim.Adam(ps, lr=0.1), optim.Adam(qs, lr=0.1)
    bound = BoundAdamStep(opt_b)
    for n in range(6):
        for k, (p, q) in enumerate(zip(ps, qs)):
            none = n == 3 and k == 1
            p.grad = None if none else tg.Tensor(np.full(5, 0.5 + n, np.float32))
            q.grad = None if none else tg.Tensor(np.full(5, 0.5 + n, np.float32))
        bound()
        opt_e.step()
        for p, q in zip(ps, qs):
            assert p.data.tobytes() == q.data.tobytes()
            assert opt_b.state[p]["step"] == opt_e.state[q]["step"]
    # bound at step 0; step 3 (a None gradient) and step 4 (set again) fall back, each binding to what it finds;
    # from then on the group's parameters are at different step counts, which Optimizer.step updates one by one
    assert len(generic_steps) == 4 and bound.groups is not None


def test_a_gradient_of_another_layout_falls_back(generic_steps):
    p = tg.Tensor(np.ones((4, 6), np.float32), requires_grad=True)
    q = tg.Tensor(np.ones((4, 6), np.float32), requires_grad=True)
    opt_b, opt_e = optim.Adam([p], lr=0.1), optim.Adam([q], lr=0.1)
    bound = BoundAdamStep(opt_b)
    for n in range(4):
        g = np.full((6, 4), 0.25 * (n + 1), np.float32)
        g[0, 0] = 3.0
        grad = g.T if n == 2 else np.ascontiguousarray(g.T)  # a transposed view at step 2
        p.grad, q.grad = tg.Tensor(grad), tg.Tensor(grad.copy())
        bound()
        opt_e.step()
        assert p.data.tobytes() == q.data.tobytes()
    assert len(generic_steps) == 2  # bound after step 0; the view at step 2 falls back, binding again after it


@pytest.mark.parametrize("setting", ["flush", "sharing", "blas_threads", "block_size"])
def test_settings_changed_between_steps(generic_steps, setting, monkeypatch):
    def change(model, opt):
        if setting == "flush":
            tg.set_flush_denormal(True)
        elif setting == "sharing":
            monkeypatch.setattr(parallel, "shared_updates", False)
        elif setting == "blas_threads":
            blas_threads.set_blas_threads(1)
        else:
            monkeypatch.setattr(parallel, "SHARE_FROM", 8)
            monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", 16)

    policy = blas_threads.get_blas_threads()
    try:
        lockstep(change, after=bound_again)
    finally:
        tg.set_flush_denormal(False)
        blas_threads.set_blas_threads(policy)
    assert len(generic_steps) == 1  # settings the kernels read at each call: the binding holds


def test_the_reference_kernels_switched_on_fall_back(generic_steps):
    def change(model, opt):
        kernels.set_kernels("reference")

    lockstep(change)
    assert len(generic_steps) == 1 + STEPS - CHANGE_AT  # no plan under the reference kernels: Optimizer.step


def test_a_subclass_that_updates_its_own_way_is_not_bound():
    class Halved(optim.Adam):
        def _update_group(self, ready, group):
            super()._update_group(ready, group)
            for p, _, _ in ready:
                p.data *= 0.5

    model, opt, step = setup(lambda p: Halved(p, lr=1e-2))
    compiled = tg.compile(step)
    for x, y in data(4):
        compiled(x, y)
    assert compiled.replaying and not bound_steps(compiled)
    assert optim.AdamW([tg.Tensor(np.ones(2, np.float32), requires_grad=True)])._replay_step() is not None
    assert optim.SGD([tg.Tensor(np.ones(2, np.float32), requires_grad=True)], lr=0.1)._replay_step() is None
