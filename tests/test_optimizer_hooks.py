"""Optimizer hooks (step pre/post, global step pre/post, state_dict and load_state_dict pre/post): the same calls,
arguments, order and effects as torch 2.13's on the same sequence of steps."""
from __future__ import annotations

import copy
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
import torch.optim.optimizer as torch_optimizer

import tinygrad_opt as tg
import tinygrad_opt.optim.optimizer as tg_optimizer
from tinygrad_opt import nn
from tinygrad_opt.capture import CaptureWarning

START = np.array([1.0, -2.0, 0.5], dtype=np.float32)
GRAD = np.array([0.25, 0.5, -1.0], dtype=np.float32)


class Framework:
    """What the tests need from torch or from tinygrad_opt, under one set of names."""

    def __init__(self, name: str):
        self.name = name
        self.torch = name == "torch"
        self.optim = torch.optim if self.torch else tg.optim
        self.module = torch_optimizer if self.torch else tg_optimizer

    def param(self):
        if self.torch:
            return torch.tensor(START.copy(), requires_grad=True)
        return tg.tensor(START.copy(), requires_grad=True)

    def set_grad(self, p, scale: float = 1.0) -> None:
        grad = GRAD * np.float32(scale)
        p.grad = torch.tensor(grad) if self.torch else tg.tensor(grad)

    @staticmethod
    def values(p) -> np.ndarray:
        return p.detach().numpy().copy()


BOTH = [Framework("torch"), Framework("tinygrad_opt")]


def describe(value):
    """A hook argument as something both frameworks print alike (the optimizer by class, tensors by value)."""
    if isinstance(value, (torch.optim.Optimizer, tg.optim.Optimizer)):
        return f"<{type(value).__name__}>"
    if isinstance(value, tuple):
        return tuple(describe(v) for v in value)
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if callable(value):
        return "<callable>"
    return value


def step_hook_trace(fw: Framework):
    """Global and per-optimizer step hooks around steps called in several ways; what the hooks saw, in order."""
    seen = []
    p = fw.param()
    opt = fw.optim.SGD([p], lr=0.1, momentum=0.9)

    def hook(label):
        def record(optimizer, args, kwargs):
            assert optimizer is opt and args[0] is opt
            seen.append((label, describe(args), describe(kwargs)))
        return record

    handles = [fw.module.register_optimizer_step_pre_hook(hook("global pre")),
               fw.module.register_optimizer_step_post_hook(hook("global post")),
               opt.register_step_post_hook(hook("post 1")),
               opt.register_step_pre_hook(hook("pre 1")),
               opt.register_step_pre_hook(hook("pre 2")),
               opt.register_step_post_hook(hook("post 2"))]
    try:
        fw.set_grad(p)
        opt.step()
        fw.set_grad(p, 2.0)
        opt.step(None)
        handles[3].remove()  # "pre 1"
        opt.step(closure=None)
        handles[0].remove()
        handles[1].remove()
        opt.step()
    finally:
        for handle in handles:
            handle.remove()
    opt.step()  # no hooks left
    return seen, fw.values(p)


def test_step_hooks_order_arguments_and_removal_match_torch():
    (seen_t, p_t), (seen_g, p_g) = (step_hook_trace(fw) for fw in BOTH)
    assert seen_g == seen_t
    assert seen_g[:6] == [(label, ("<SGD>",), {}) for label in
                          ("global pre", "pre 1", "pre 2", "post 1", "post 2", "global post")]
    np.testing.assert_allclose(p_g, p_t, rtol=1e-6)


def rewriting_trace(fw: Framework):
    """A pre-hook that hands the step a closure (new args and kwargs): the step returns its loss and the later
    hooks see the new arguments."""
    seen = []
    p = fw.param()
    opt = fw.optim.SGD([p], lr=0.1)

    def closure():
        fw.set_grad(p, 3.0)
        return 42.0

    def add_closure(optimizer, args, kwargs):
        return (args[0],), {"closure": closure}

    opt.register_step_pre_hook(add_closure)
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", describe(args), describe(kwargs))))
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", describe(args), describe(kwargs))))
    fw.set_grad(p)
    returned = opt.step()
    return seen, returned, fw.values(p)


def test_pre_hook_may_replace_the_step_arguments_as_in_torch():
    (seen_t, ret_t, p_t), (seen_g, ret_g, p_g) = (rewriting_trace(fw) for fw in BOTH)
    assert ret_g == ret_t == 42.0
    assert seen_g == seen_t == [("pre", ("<SGD>",), {"closure": "<callable>"}),
                                ("post", ("<SGD>",), {"closure": "<callable>"})]
    np.testing.assert_allclose(p_g, p_t, rtol=1e-6)
    np.testing.assert_allclose(p_g, START - 0.1 * 3.0 * GRAD, rtol=1e-6)  # the closure's gradient was used


@pytest.mark.parametrize("bad", [5, (1, 2, 3), [(), {}]])
def test_pre_hook_returning_something_else_raises_torchs_error(bad):
    messages = []
    for fw in BOTH:
        p = fw.param()
        opt = fw.optim.SGD([p], lr=0.1)
        opt.register_step_pre_hook(lambda o, a, k: bad)
        fw.set_grad(p)
        with pytest.raises(RuntimeError) as info:
            opt.step()
        np.testing.assert_array_equal(fw.values(p), START)  # nothing was updated
        messages.append(re.sub(r"<function \S+ at 0x[0-9a-f]+>", "<step>", str(info.value)))
    assert messages[0] == messages[1]
    assert messages[1].startswith("<step> must return None or a tuple of (new_args, new_kwargs), but got")


def state_dict_trace(fw: Framework):
    """state_dict / load_state_dict hooks with prepend, a post-hook that returns a new dict and a load pre-hook
    that changes what is loaded."""
    seen = []
    p = fw.param()
    opt = fw.optim.Adam([p], lr=0.01)
    fw.set_grad(p)
    opt.step()

    def add_note(optimizer, state_dict):
        seen.append(("sd post add_note", sorted(state_dict)))
        return {**state_dict, "note": "saved"}

    opt.register_state_dict_pre_hook(lambda o: seen.append("sd pre A"))
    opt.register_state_dict_pre_hook(lambda o: seen.append("sd pre B"), prepend=True)
    opt.register_state_dict_post_hook(add_note)
    opt.register_state_dict_post_hook(lambda o, sd: seen.append(("sd post first", sorted(sd))), prepend=True)
    opt.register_state_dict_post_hook(lambda o, sd: seen.append(("sd post last", sorted(sd))))
    saved = opt.state_dict()
    seen.append(("returned", sorted(saved), saved["note"]))

    other = fw.optim.Adam([fw.param()], lr=0.5)

    def change_lr(optimizer, state_dict):
        seen.append(("load pre change_lr", sorted(state_dict), state_dict is saved))
        groups = [{**group, "lr": 0.125} for group in state_dict["param_groups"]]
        return {"state": state_dict["state"], "param_groups": groups}

    other.register_load_state_dict_pre_hook(change_lr)
    other.register_load_state_dict_pre_hook(lambda o, sd: seen.append(("load pre first", sorted(sd))),
                                            prepend=True)
    other.register_load_state_dict_post_hook(lambda o: seen.append(("load post", o.param_groups[0]["lr"])))
    other.register_load_state_dict_post_hook(lambda o: seen.append("load post first"), prepend=True)
    other.load_state_dict(saved)
    step_count = int(other.state[other.param_groups[0]["params"][0]]["step"])
    return seen, other.param_groups[0]["lr"], step_count, saved["param_groups"][0]["lr"]


def test_state_dict_and_load_state_dict_hooks_match_torch():
    trace_t, trace_g = (state_dict_trace(fw) for fw in BOTH)
    assert trace_g == trace_t
    seen, lr, step_count, saved_lr = trace_g
    assert seen[:2] == ["sd pre B", "sd pre A"]
    assert lr == 0.125 and saved_lr == 0.01 and step_count == 1


def test_handles_remove_state_dict_hooks():
    calls = []
    opt = tg.optim.SGD([tg.tensor(START.copy(), requires_grad=True)], lr=0.1)
    handles = [opt.register_state_dict_pre_hook(lambda o: calls.append("pre")),
               opt.register_state_dict_post_hook(lambda o, sd: calls.append("post")),
               opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load pre")),
               opt.register_load_state_dict_post_hook(lambda o: calls.append("load post"))]
    opt.load_state_dict(opt.state_dict())
    assert calls == ["pre", "post", "load pre", "load post"]
    for handle in handles:
        handle.remove()
    opt.load_state_dict(opt.state_dict())
    assert len(calls) == 4


def copy_trace(fw: Framework, how):
    """Hooks are not pickled or copied: the copy starts with empty hook tables and steps without them."""
    calls = []
    p = fw.param()
    opt = fw.optim.SGD([p], lr=0.1)
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: calls.append("sd post"))
    twin = how(opt)
    tables = {name: len(getattr(twin, name)) for name in
              ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks", "_optimizer_state_dict_pre_hooks",
               "_optimizer_state_dict_post_hooks", "_optimizer_load_state_dict_pre_hooks",
               "_optimizer_load_state_dict_post_hooks")}
    twin_param = twin.param_groups[0]["params"][0]
    fw.set_grad(twin_param)
    twin.step()
    twin.state_dict()
    fw.set_grad(p)
    opt.step()
    twin.register_step_post_hook(lambda o, a, k: calls.append("twin post"))
    twin.step()
    opt.step()
    return calls, tables


@pytest.mark.parametrize("how", [copy.deepcopy, copy.copy, lambda opt: pickle.loads(pickle.dumps(opt))],
                         ids=["deepcopy", "copy", "pickle"])
def test_hooks_are_not_copied_or_pickled_as_in_torch(how):
    result_t, result_g = (copy_trace(fw, how) for fw in BOTH)
    assert result_g == result_t
    calls, tables = result_g
    assert calls == ["pre", "twin post", "pre"] and set(tables.values()) == {0}


def in_train_mode(opt):
    opt.train()
    return opt


def make_every_optimizer():
    """{name: a maker of that optimizer over a list of parameters}, those with their own step (LBFGS, SAM,
    Lookahead, the schedule-free ones) included."""
    return {
        "SGD": lambda p: tg.optim.SGD(p, lr=0.1), "Adam": lambda p: tg.optim.Adam(p),
        "AdamW": lambda p: tg.optim.AdamW(p),
        "Adamax": lambda p: tg.optim.Adamax(p), "NAdam": lambda p: tg.optim.NAdam(p),
        "RAdam": lambda p: tg.optim.RAdam(p), "RMSprop": lambda p: tg.optim.RMSprop(p),
        "Adagrad": lambda p: tg.optim.Adagrad(p), "Adadelta": lambda p: tg.optim.Adadelta(p),
        "ASGD": lambda p: tg.optim.ASGD(p), "Rprop": lambda p: tg.optim.Rprop(p), "Lion": lambda p: tg.optim.Lion(p),
        "Adafactor": lambda p: tg.optim.Adafactor(p), "LBFGS": lambda p: tg.optim.LBFGS(p),
        "SAM": lambda p: tg.optim.SAM(p, tg.optim.SGD, lr=0.1),
        "Lookahead": lambda p: tg.optim.Lookahead(tg.optim.SGD(p, lr=0.1)),
        "ScheduleFreeAdamW": lambda p: in_train_mode(tg.optim.ScheduleFreeAdamW(p)),
        "ScheduleFreeSGD": lambda p: in_train_mode(tg.optim.ScheduleFreeSGD(p, lr=0.1)),
    }


EVERY_OPTIMIZER = make_every_optimizer()


@pytest.mark.parametrize("name", sorted(EVERY_OPTIMIZER))
def test_every_optimizer_runs_the_hooks_once_per_step(name):
    p = tg.tensor(np.arange(1.0, 5.0, dtype=np.float32).reshape(2, 2), requires_grad=True)
    opt = EVERY_OPTIMIZER[name]([p])
    calls = []
    handles = [tg_optimizer.register_optimizer_step_pre_hook(lambda o, a, k: calls.append(("global pre", o))),
               opt.register_step_pre_hook(lambda o, a, k: calls.append(("pre", o))),
               opt.register_step_post_hook(lambda o, a, k: calls.append(("post", o))),
               tg_optimizer.register_optimizer_step_post_hook(lambda o, a, k: calls.append(("global post", o)))]

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    try:
        before = p.data.copy()
        closure()
        opt.step(closure) if opt.requires_closure else opt.step()
    finally:
        for handle in handles:
            handle.remove()
    labels = [label for label, _ in calls]
    # a wrapping optimizer (SAM, Lookahead) steps its base optimizer, whose hooks are its own: only the global
    # ones run for it, inside the outer step's
    outer = [label for label, o in calls if o is opt]
    assert outer == ["global pre", "pre", "post", "global post"], labels
    assert labels[0] == "global pre" and labels[-1] == "global post"
    assert not np.array_equal(p.data, before)


def test_a_subclass_step_that_calls_super_runs_the_hooks_once():
    class Halved(tg.optim.SGD):
        def step(self, closure=None):
            for group in self.param_groups:
                for q in group["params"]:
                    q.grad.data *= 0.5
            return super().step(closure)

    p = tg.tensor(START.copy(), requires_grad=True)
    opt = Halved([p], lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    p.grad = tg.tensor(GRAD.copy())
    opt.step()
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(p.data, START - 0.1 * 0.5 * GRAD, rtol=1e-6)


def test_tg_optim_optimizer_exposes_the_global_registrations_like_torch():
    assert tg.optim.optimizer is tg_optimizer
    for name in ("register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"):
        assert hasattr(torch_optimizer, name) and callable(getattr(tg_optimizer, name))


# ---- tg.compile: a captured step runs the hooks at every replay, as eager does ------------------------------

def compiled_run(compiled: bool):
    """Train a small model for a few steps with hooks that count and that change the learning rate each step."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    calls = []

    def decay_lr(optimizer, args, kwargs):
        calls.append(("pre", optimizer.param_groups[0]["lr"]))
        for group in optimizer.param_groups:
            group["lr"] *= 0.5

    handles = [opt.register_step_pre_hook(decay_lr),
               opt.register_step_post_hook(lambda o, a, k: calls.append(("post", len(a), sorted(k)))),
               tg_optimizer.register_optimizer_step_pre_hook(lambda o, a, k: calls.append(("global pre",))),
               tg_optimizer.register_optimizer_step_post_hook(lambda o, a, k: calls.append(("global post",)))]
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = tg.compile(step) if compiled else step
    rng = np.random.default_rng(3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CaptureWarning)
            losses = [run(tg.tensor(rng.standard_normal((5, 6)).astype(np.float32)),
                          tg.tensor(rng.integers(0, 3, 5))).data.copy() for _ in range(6)]
    finally:
        for handle in handles:
            handle.remove()
    if compiled:
        assert run.replaying, run.eager_reason
    return calls, losses, [p.data.copy() for p in model.parameters()]


def test_a_compiled_step_runs_the_hooks_at_every_replay_as_eager_does():
    calls_e, losses_e, params_e = compiled_run(compiled=False)
    calls_c, losses_c, params_c = compiled_run(compiled=True)
    assert calls_c == calls_e
    assert [c[0] for c in calls_c].count("pre") == 6 and calls_c[-3] == ("pre", 0.1 * 0.5 ** 5)
    for a, b in zip(losses_e + params_e, losses_c + params_c):
        assert a.tobytes() == b.tobytes()


def gradient_hook_run(compiled: bool):
    """A pre-hook that reads each gradient (.item()) and halves it in place, a post-hook that reads a weight."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    seen = []

    def halve_gradients(optimizer, args, kwargs):
        for group in optimizer.param_groups:
            for p in group["params"]:
                seen.append(p.grad.abs().sum().item())
                p.grad.data *= 0.5

    opt.register_step_pre_hook(halve_gradients)
    opt.register_step_post_hook(lambda o, a, k: seen.append(float(np.abs(model[0].weight.data).sum())))
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = tg.compile(step) if compiled else step
    rng = np.random.default_rng(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        for _ in range(5):
            run(tg.tensor(rng.standard_normal((5, 6)).astype(np.float32)), tg.tensor(rng.integers(0, 3, 5)))
    if compiled:
        assert run.replaying, run.eager_reason
    return seen, [p.data.copy() for p in model.parameters()]


def test_a_replayed_step_hook_sees_and_changes_the_gradients_as_eager():
    (seen_e, params_e), (seen_c, params_c) = gradient_hook_run(False), gradient_hook_run(True)
    assert seen_c == seen_e and len(seen_c) == 5 * 5
    for a, b in zip(params_e, params_c):
        assert a.tobytes() == b.tobytes()
