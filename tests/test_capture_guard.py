"""The cheap check before each replay (capture/guard.py): yes only when nothing the recording relied on changed."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.capture import CaptureWarning, CompiledStep
from tinygrad_opt.capture import guard as guard_module


def captured(dropout: float = 0.5):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 3))
    optimizer = tg.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(3)
    data = [(tg.Tensor(rng.standard_normal((5, 6)).astype(np.float32)), tg.Tensor(rng.integers(0, 3, 5)))
            for _ in range(4)]
    compiled = tg.compile(step)
    for x, y in data[:3]:
        compiled(x, y)
    assert compiled.replaying
    return compiled, model, data


def test_a_plain_replay_takes_the_guard_and_skips_the_spelled_out_checks(monkeypatch):
    compiled, model, data = captured()

    def not_expected(self, args):
        raise AssertionError("the spelled-out checks ran although nothing changed")

    monkeypatch.setattr(CompiledStep, "_changed", not_expected)
    for x, y in data:
        compiled(x, y)


def _freeze_input(compiled, model, data):
    data[0][0].requires_grad = True


def _other_batch(compiled, model, data):
    data[0] = (data[0][0][:4], data[0][1][:4])


def _eval(compiled, model, data):
    model.eval()


def _child_eval(compiled, model, data):
    model[2].eval()


def _no_grad(compiled, model, data):
    compiled.stack = tg.no_grad()
    compiled.stack.__enter__()


def _hook(compiled, model, data):
    model[0].register_forward_hook(lambda module, inputs, output: None)


def _new_weight(compiled, model, data):
    model[0].weight = nn.Parameter(model[0].weight.data.copy())


def _replaced_array(compiled, model, data):
    model[3].bias.data = model[3].bias.data.copy()


def _frozen(compiled, model, data):
    model[3].bias.requires_grad = False


def _dropout_p(compiled, model, data):
    model[2].p = 0.25


def _swapped_layer(compiled, model, data):
    setattr(model, "1", nn.Tanh())  # as Sequential.__setitem__ would


def _trace(compiled, model, data):
    compiled.stack = tg.trace()
    compiled.stack.__enter__()


CHANGES = [_freeze_input, _other_batch, _eval, _child_eval, _no_grad, _hook, _new_weight, _replaced_array,
           _frozen, _dropout_p, _swapped_layer, _trace]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_every_change_the_recording_relied_on_fails_the_guard(change):
    compiled, model, data = captured()
    assert compiled._guard.passes(data[0])
    change(compiled, model, data)
    try:
        assert not compiled._guard.passes(data[0])
    finally:
        if hasattr(compiled, "stack"):
            compiled.stack.__exit__(None, None, None)


def test_a_setting_set_again_to_an_equal_value_still_replays_and_renews_the_guard():
    compiled, model, data = captured(dropout=0.5)
    model[2].p = float("0.5")  # an equal float, another object: the guard says no, the checks say yes
    old_guard = compiled._guard
    assert not old_guard.passes(data[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        compiled(*data[0])
    assert compiled.replaying and compiled._guard is not old_guard and compiled._guard.passes(data[0])


def test_the_guard_keeps_what_it_compared_alive_so_an_id_cannot_come_back(monkeypatch):
    compiled, model, data = captured()
    hook = model[0].register_forward_hook(lambda module, inputs, output: None)
    compiled(*data[0])  # recorded afresh with the hook
    compiled(*data[1])
    assert compiled.replaying
    kept = compiled._guard.alive
    hook.remove()
    assert any(value is not None and callable(value) for value in kept)  # the removed hook is still referenced
    assert not compiled._guard.passes(data[0])


def test_no_guard_for_arguments_that_are_not_tensors():
    assert guard_module.make_guard((np.zeros(3),), [], [], True) is None
