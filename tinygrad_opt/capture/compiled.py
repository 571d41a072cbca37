"""tg.compile: run a training step eagerly twice while recording it, then replay the recording.

    @tg.compile
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

The first two calls run eagerly and are recorded; when both recordings agree (plan.py),
every later call replays the ops' forward and backward on the arrays and calls the
step's effects (optimizer.step, zero_grad, scheduler.step, clipping) again, with the same
numbers as eager. A call that does not fit the capture runs eagerly with a
CaptureWarning naming what changed: an input's shape, dtype or device, a module's
train/eval mode, grad mode, an active tg.trace(). A parameter whose array was replaced
(load_state_dict, assign=True), a hook added to a module (pruning), a layer swapped or a
module's setting changed (Dropout's p, BatchNorm's momentum) is recorded afresh. A step
the replay cannot repeat (see recording.py) runs eagerly from then on, with one warning
that says why.
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

from .. import autograd, step_effects
from ..backend import host_rng
from ..tensor import Tensor
from .guard import Guard, make_guard
from .plan import GradStateChanged, Mismatch, Plan, build, check_fresh_draws, compare, output_spec
from .recording import Recording, recording

ATTEMPTS = 3  # recordings that may disagree with the one before before the step stays eager


class CaptureWarning(UserWarning):
    """A compiled step ran eagerly instead of replaying; the message says why."""


class CompiledStep:
    """A step function with capture and replay; call it as the function itself."""

    def __init__(self, fn: Callable[..., Any]):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.plan: Plan | None = None
        self.eager_reason: str | None = None  # set: every call runs eagerly (the step cannot be replayed)
        self._previous: tuple | None = None  # (Recording, output spec) of the last recorded call
        self._disagreements = 0
        self._specs: list[tuple] = []  # per argument: shape, dtype, array type, requires_grad
        self._modules: list[tuple] = []
        self._grad_enabled = True
        self._guard: Guard | None = None  # the cheap check of a replay's validity (guard.py); None unless replaying

    @property
    def replaying(self) -> bool:
        """True once the step is captured: calls that pass the checks replay it."""
        return self.plan is not None and self.eager_reason is None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        guard = self._guard  # None unless the step replays
        if guard is not None and not kwargs and guard.passes(args):
            return self._replay(args)  # nothing changed: the spelled-out checks below would all pass
        if self.eager_reason is not None:
            return self.fn(*args, **kwargs)
        if kwargs:
            self._stay_eager("keyword arguments are not captured; pass the step's tensors positionally")
            return self.fn(*args, **kwargs)
        if autograd._tracers or step_effects._recorders:
            self._warn("a tg.trace() (or another capture) is recording")
            return self.fn(*args)
        if self.plan is None:
            return self._record(args)
        reason = self._changed(args)
        if reason is not None:
            self._warn(reason)
            return self.fn(*args)
        if any(t.data is not array or t._requires_grad != wanted for t, array, wanted in self.plan.held) \
                or any(_structure(m) != structure for m, _, structure in self._modules):
            # a parameter was replaced or frozen, a hook added (pruning), a layer swapped: record afresh
            self.plan, self._previous, self._guard = None, None, None
            return self._record(args)
        # valid, though the guard said no (a setting set again to an equal value): take a new guard
        self._guard = make_guard(args, [m for m, _, _ in self._modules], self.plan.held, self._grad_enabled)
        return self._replay(args)

    # ---- recording ----------------------------------------------------------------
    def _record(self, args: tuple) -> Any:
        rec = Recording(args)
        with recording(rec):
            result = self.fn(*args)
        state_after = host_rng().bit_generator.state
        if rec.refusal is not None:
            self._stay_eager(rec.refusal)
            return result
        try:
            spec = output_spec(result, rec)
            check_fresh_draws(rec, state_after)
        except Mismatch as err:
            self._stay_eager(str(err))
            return result
        previous, self._previous = self._previous, (rec, spec)
        if previous is None or _signature(previous[0].args) != _signature(args):
            return result  # the first recording of these inputs: the next call is compared with it
        try:
            compare(previous[0], rec)
            if previous[1] != spec:
                raise Mismatch("the step returns other values than in the step before")
            self.plan = build(rec, spec)
        except Mismatch as err:
            self._disagreements += 1
            if self._disagreements >= ATTEMPTS:
                self._stay_eager(str(err))
            return result
        self._specs = _signature(args)
        self._modules = [(m, m.training, _structure(m)) for m in _with_descendants(rec.modules.values())]
        self._grad_enabled = rec.grad_enabled
        self._guard = make_guard(args, [m for m, _, _ in self._modules], self.plan.held, rec.grad_enabled)
        self._previous = None
        return result

    # ---- replay -------------------------------------------------------------------
    def _changed(self, args: tuple) -> str | None:
        """What differs from the captured step (None: nothing)."""
        if len(args) != len(self._specs):
            return f"it got {len(args)} inputs; it was captured with {len(self._specs)}"
        for i, (t, (shape, dtype, kind, requires_grad)) in enumerate(zip(args, self._specs)):
            if not isinstance(t, Tensor):
                return f"input {i} is a {type(t).__name__}, not a Tensor"
            data = t.data
            if data.shape != shape:
                return f"input {i} has shape {tuple(data.shape)}; the step was captured for shape {shape}"
            if data.dtype != dtype or type(data) is not kind:
                return (f"input {i} is {data.dtype} on {t.device}; the step was captured for {dtype} on "
                        f"{'cpu' if kind.__module__.startswith('numpy') else 'cuda'}")
            if t._requires_grad != requires_grad:
                return f"input {i} has requires_grad={t._requires_grad}; it was captured with {requires_grad}"
        if autograd.is_grad_enabled() != self._grad_enabled:
            return f"grad mode is {'on' if autograd.is_grad_enabled() else 'off'}, unlike in the captured step"
        for module, training, _ in self._modules:
            if module.training != training:
                mode = "training" if module.training else "eval"
                return (f"{type(module).__name__} is in {mode} mode; the step was captured in "
                        f"{'training' if training else 'eval'} mode")
        return None

    def _replay(self, args: tuple) -> Any:
        plan = self.plan
        state = host_rng().bit_generator.state if plan.has_fresh else None
        try:
            return plan.replay([t.data for t in args], args)
        except GradStateChanged as err:
            message, restartable = err.args
            if not restartable:
                raise RuntimeError(f"tg.compile({self.__name__}): {message}") from None
            if state is not None:
                host_rng().bit_generator.state = state
            self._stay_eager(message)
            return self.fn(*args)

    # ---- messages -----------------------------------------------------------------
    def _warn(self, reason: str) -> None:
        warnings.warn(f"tg.compile({self.__name__}): {reason}; running this call eagerly", CaptureWarning,
                      stacklevel=3)

    def _stay_eager(self, reason: str) -> None:
        self.eager_reason = reason
        self.plan = self._previous = self._guard = None
        warnings.warn(f"tg.compile({self.__name__}): {reason}; the step runs eagerly from now on", CaptureWarning,
                      stacklevel=4)


def _with_descendants(modules) -> list:
    """The modules a step called and their children (nn.Sequential may run a child without calling it)."""
    found: dict[int, Any] = {}
    for module, _ in modules:
        for child in module.modules():
            found.setdefault(id(child), child)
    return list(found.values())


_SETTING_TYPES = (bool, int, float, str, type(None))


def _structure(module) -> tuple:
    """What of a module decides the graph it builds, besides its mode: hooks, parameters, buffers, children,
    and its settings (Dropout's p, BatchNorm's momentum and eps: the replay repeats the values it recorded)."""
    settings = tuple((k, v) for k, v in module.__dict__.items() if type(v) in _SETTING_TYPES and k != "training")
    return (tuple(module._forward_pre_hooks), tuple(module._forward_hooks), tuple(map(id, module._parameters.values())),
            tuple(map(id, module._buffers.values())), tuple(map(id, module._modules.values())),
            "forward" in module.__dict__, settings)


def _signature(args: tuple) -> list[tuple]:
    return [(tuple(t.data.shape), t.data.dtype, type(t.data), t._requires_grad) if isinstance(t, Tensor) else None
            for t in args]


def compile(fn: Callable[..., Any] | None = None, *, disable: bool = False):  # noqa: A001 - torch.compile's name
    """Capture a training step and replay it (see the module docstring); usable as a decorator.

    `fn(*tensors)` runs one step (zero_grad, forward, loss, backward, optimizer.step) and returns
    tensors (the loss), a tuple/list of them or None. The returned tensors carry no graph.
    disable=True returns fn itself (eager), like torch.compile(disable=True).
    """
    if fn is None:
        return functools.partial(compile, disable=disable)
    if not callable(fn):
        raise TypeError(f"tg.compile: expected a step function, got {type(fn).__name__}")
    return fn if disable else CompiledStep(fn)
