"""The replay's written-out delivery of .grad (capture/plan.py): the arrays, identities and Tensors eager hands out."""
from __future__ import annotations

import warnings

import numpy as np

import tinygrad_opt as tg
from tinygrad_opt import nn, optim
from tinygrad_opt.capture import CaptureWarning


def _run(step, after, compiled: bool, steps: int = 5, strict: bool = True):
    """The step's losses over `steps` calls (eager or through tg.compile), what after() saw after each, the step.
    strict: a CaptureWarning (the replay fell back to eager) fails the test."""
    run = tg.compile(step) if compiled else step
    losses, seen = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error" if strict else "ignore", CaptureWarning)
        for _ in range(steps):
            losses.append(float(run().data))
            seen.append(after())
    return losses, seen, run


def _leaves():
    a = tg.Tensor(np.full(1, 1.5, np.float32), requires_grad=True)  # not 0-d: a 0-d gradient is a NumPy scalar
    b = tg.Tensor(np.full(1, -2.0, np.float32), requires_grad=True)
    w = tg.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    return a, b, w


def _seed_step():
    a, b, w = _leaves()
    opt = optim.SGD([a, b, w], lr=0.0)

    def step():
        opt.zero_grad()
        loss = ((a + b) * 2).sum()  # one array (2 times a view of the seed) handed by Add to both leaves
        (w.sum() * 0 + loss).backward()
        return loss
    return step, lambda: (a.grad, b.grad, w.grad)


def test_gradients_that_are_the_seed_or_one_array_for_two_leaves_are_copied_into_owned_grads():
    eager_losses, eager, _ = _run(*_seed_step(), False)
    losses, replayed, run = _run(*_seed_step(), True)
    assert run.replaying and losses == eager_losses
    for (ea, eb, ew), (ra, rb, rw) in zip(eager, replayed):
        for e, r in ((ea, ra), (eb, rb), (ew, rw)):
            assert type(r) is tg.Tensor and type(r.data) is np.ndarray and not r.requires_grad
            assert r.data.dtype == e.data.dtype and r.data.shape == e.data.shape
            np.testing.assert_array_equal(r.data, e.data)
            assert r.data.base is None and r.grad is None
        assert ra.data is not rb.data and not np.shares_memory(ra.data, rb.data)
    grads = [t.data for triple in replayed for t in triple]
    assert len({id(g) for g in grads}) == len(grads)  # a new array each step, as eager's


def _hooked_step(late: int | None):
    """A step whose leaf `late` (0: a, 1: b) gets a hook that, from the third step on, sets the other leaf's .grad
    while backward runs: eager then adds that leaf's gradient to it."""
    a, b, w = _leaves()
    opt = optim.SGD([a, b, w], lr=0.0)
    calls = []

    def fill(g):
        calls.append(1)
        if len(calls) >= 3:
            (b, a)[late].grad = tg.Tensor(np.full(1, 10.0, np.float32))
        return g

    if late is not None:
        (a, b)[late].register_hook(fill)

    def step():
        opt.zero_grad()
        loss = (a * 3 + b * 2).sum() + (w * w).sum()
        loss.backward()
        return loss
    return step, lambda: (float(a.grad.data[0]), float(b.grad.data[0]), w.grad.data.copy())


def test_a_grad_set_by_a_hook_after_the_replays_checks_is_added_to_as_in_eager():
    replayed_with_hook = 0
    for late in (0, 1):
        _, eager, _ = _run(*_hooked_step(late), False)
        _, replayed, run = _run(*_hooked_step(late), True, strict=False)
        # the hook on the leaf delivered second sets the first's .grad after its check: the replay delivers
        # onto it; on the leaf delivered first it trips the second's check: the step runs eagerly from then on
        replayed_with_hook += run.replaying
        assert eager[3][:2] == replayed[3][:2] == ((13.0, 2.0) if late == 1 else (3.0, 12.0))
        for (ea, eb, ew), (ra, rb, rw) in zip(eager, replayed):
            assert (ea, eb) == (ra, rb)
            np.testing.assert_array_equal(ew, rw)
    assert replayed_with_hook == 1


def test_the_guard_compares_identities_only_so_an_equal_tensor_in_a_module_does_not_pass():
    model = nn.Linear(3, 2)
    x = tg.Tensor(np.ones((4, 3), np.float32))

    def step(x):
        model.zero_grad()
        loss = model(x).sum()
        loss.backward()
        return loss

    run = tg.compile(step)
    for _ in range(3):
        run(x)
    assert run.replaying and run._guard.passes((x,))
    old = model._parameters["weight"]
    model._parameters["weight"] = nn.Parameter(old.data.copy())  # equal values, another tensor
    assert not run._guard.passes((x,))  # by identity, never Tensor.__eq__ (elementwise)
    model._parameters["weight"] = old
    assert run._guard.passes((x,))
