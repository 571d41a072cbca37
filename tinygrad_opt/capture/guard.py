"""The check before each replay, made cheap: compare identities taken once, explain only when one differs.

A replay is valid while everything the recording relied on still holds: the inputs' shapes,
dtypes, devices and requires_grad, grad mode, no tg.trace() watching, each module's mode,
hooks, parameters, buffers, children and settings, and each parameter's array. CompiledStep
spells each of these out (its `_changed` and `_structure`), which is what names the
difference in a warning, but it costs as much as a small op on every call.

A Guard answers only yes or no, and errs towards no: it keeps the objects it saw (so their
ids cannot be reused) and compares identities (`is`, value by value, no ints made). `False`
sends the call down the spelled-out checks, which decide: a setting set again to an equal
value fails the guard, passes the checks, and the step still replays.
"""
from __future__ import annotations

from itertools import chain
from operator import is_

from .. import autograd, step_effects
from ..tensor import Tensor

# the dicts of a module whose contents decide the graph it builds (see compiled._structure)
_WATCHED = ("_forward_pre_hooks", "_forward_hooks", "_parameters", "_buffers", "_modules")


def _watched_dicts(modules: list) -> list[dict]:
    dicts = []
    for module in modules:
        dicts.append(module.__dict__)  # its settings and mode, and the watched dicts themselves
        dicts.extend(getattr(module, name) for name in _WATCHED)
    return dicts


class Guard:
    """passes(args): True only if a replay of the captured step is valid for these arguments."""

    def __init__(self, args: tuple, modules: list, held: list, grad_enabled: bool):
        self.inputs = [(type(t), type(t.data), t.data.shape, t.data.dtype, t._requires_grad) for t in args]
        self.grad_enabled = grad_enabled
        self.held = [(tensor, array, wanted) for tensor, array, wanted in held]
        self.dicts = _watched_dicts(modules)
        self.sizes = tuple(map(len, self.dicts))  # a dict that gains or loses an entry changes its size
        self.filled = [d for d in self.dicts if d]  # the others are empty while their sizes hold
        self.alive = tuple(chain.from_iterable(map(dict.values, self.filled)))  # kept: no other object takes an id

    def passes(self, args: tuple) -> bool:
        if autograd._tracers or step_effects._recorders or autograd.is_grad_enabled() != self.grad_enabled:
            return False
        if len(args) != len(self.inputs):
            return False
        for t, (kind, data_kind, shape, dtype, requires_grad) in zip(args, self.inputs):
            if type(t) is not kind:
                return False
            data = t.data
            if type(data) is not data_kind or data.shape != shape or data.dtype is not dtype \
                    or t._requires_grad != requires_grad:
                return False
        for tensor, array, wanted in self.held:
            if tensor.data is not array or tensor._requires_grad != wanted:
                return False
        # equal sizes first: then both sequences have as many values, and map(is_) pairs each with its own
        return (tuple(map(len, self.dicts)) == self.sizes
                and all(map(is_, chain.from_iterable(map(dict.values, self.filled)), self.alive)))


def make_guard(args: tuple, modules: list, held: list, grad_enabled: bool) -> Guard | None:
    """A Guard for a step captured with these arguments, or None where an argument is not a Tensor."""
    if not all(isinstance(t, Tensor) for t in args):
        return None
    return Guard(args, modules, held, grad_enabled)


__all__ = ["Guard", "make_guard"]
