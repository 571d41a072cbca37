"""A mark for free functions that change tensors outside the engine's ops, so a captured step repeats them.

tg.compile records a training step once and then replays what it saw: the ops (Function
nodes), backward, and the calls that work on arrays directly - optimizer steps, zero_grad,
schedules, gradient clipping. Methods of Optimizer, LRScheduler and Module are found by
class while a step is recorded; a free function has no class to find it by, so it carries
`@replayed`: while a recording is active the call goes to the recorder, which notes it
(to call it again at replay) and runs it; otherwise the function runs as it is.

`@replayed(changes=f)` names what the effect changes in place: f(*args, **kwargs) returns those
arrays. A replay copies them before the call, so that a replay that has to be abandoned before
the optimizer ran (see tg.compile) can put them back and run the step eagerly instead.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

_recorders: list = []  # the active recording of tg.compile, if any (at most one)


def replayed(fn: Callable[..., Any] | None = None, *, changes: Callable[..., list] | None = None):
    """Mark fn as a step effect that a captured step calls again at each replay (usable as @replayed(changes=f))."""
    if fn is None:
        return functools.partial(replayed, changes=changes)
    fn.changes_in_place = changes

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _recorders:
            return _recorders[-1].effect(fn, args, kwargs)
        return fn(*args, **kwargs)

    return call
