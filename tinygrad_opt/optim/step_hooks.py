"""Hooks around Optimizer.step, as torch.optim has them.

A pre-hook is called as hook(optimizer, args, kwargs) before the step, where `args` is the step's
positional arguments with the optimizer itself first (torch passes them so); it returns None or a
pair (new_args, new_kwargs) that the step and the later hooks get instead. A post-hook is called as
hook(optimizer, args, kwargs) after the step and its result is ignored. The order is torch's: global
pre-hooks, then the optimizer's own pre-hooks, the step, the optimizer's own post-hooks, then the global
post-hooks.

Every optimizer's step runs them: `with_step_hooks` wraps Optimizer.step and the step of every subclass
that defines its own (Optimizer.__init_subclass__). A step that calls another hooked step of the same
optimizer (super().step()) runs the hooks once, around the outermost call.
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Callable

from ..hook_handle import RemovableHandle

StepHook = Callable[[Any, tuple, dict], Any]

_global_step_pre_hooks: OrderedDict[int, StepHook] = OrderedDict()
_global_step_post_hooks: OrderedDict[int, StepHook] = OrderedDict()
# False until the first step hook anywhere is registered: until then a step pays one global lookup for hooks
_step_hooks_registered = False

STEP_HOOK_TABLES = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")
STATE_DICT_HOOK_TABLES = ("_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                          "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks")
HOOK_TABLES = STEP_HOOK_TABLES + STATE_DICT_HOOK_TABLES


def register_optimizer_step_pre_hook(hook: StepHook) -> RemovableHandle:
    """Register hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs), run before every optimizer's step."""
    return add_step_hook(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: StepHook) -> RemovableHandle:
    """Register hook(optimizer, args, kwargs) -> None, run after every optimizer's step."""
    return add_step_hook(_global_step_post_hooks, hook)


def hook_table(optimizer: Any, name: str) -> OrderedDict:
    """The optimizer's hook dict `name`, made on first use: an optimizer that wraps another (Lookahead)
    may not run Optimizer.__init__, and one unpickled from before hooks existed has none."""
    table = optimizer.__dict__.get(name)
    if table is None:
        table = optimizer.__dict__[name] = OrderedDict()
    return table


def add_hook(table: OrderedDict, hook: Callable, prepend: bool = False) -> RemovableHandle:
    handle = RemovableHandle(table)
    table[handle.id] = hook
    if prepend:
        table.move_to_end(handle.id, last=False)
    return handle


def add_step_hook(table: OrderedDict, hook: StepHook) -> RemovableHandle:
    global _step_hooks_registered
    _step_hooks_registered = True
    return add_hook(table, hook)


def has_step_hooks(optimizer: Any) -> bool:
    """Whether a step of `optimizer` would run a step hook now: one of its own or a global one."""
    if not _step_hooks_registered:
        return False
    own = optimizer.__dict__
    return bool(own.get("_optimizer_step_pre_hooks") or own.get("_optimizer_step_post_hooks")
                or _global_step_pre_hooks or _global_step_post_hooks)


def with_step_hooks(step: Callable[..., Any]) -> Callable[..., Any]:
    """`step` made to run the global and the optimizer's own step hooks around it."""
    if getattr(step, "runs_step_hooks", False):
        return step

    @functools.wraps(step)
    def hooked_step(*args: Any, **kwargs: Any) -> Any:
        if not _step_hooks_registered:  # has_step_hooks' first test, without its call: every step passes here
            return step(*args, **kwargs)
        optimizer = args[0]
        if not has_step_hooks(optimizer) or optimizer.__dict__.get("_in_hooked_step"):
            return step(*args, **kwargs)
        own = optimizer.__dict__
        pre, post = own.get("_optimizer_step_pre_hooks"), own.get("_optimizer_step_post_hooks")
        own["_in_hooked_step"] = True
        try:
            for hook in (*_global_step_pre_hooks.values(), *(pre or {}).values()):
                result = hook(optimizer, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{step} must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {result}.")
                    args, kwargs = result
            out = step(*args, **kwargs)
            for hook in (*(post or {}).values(), *_global_step_post_hooks.values()):
                hook(optimizer, args, kwargs)
            return out
        finally:
            del own["_in_hooked_step"]

    hooked_step.runs_step_hooks = True  # type: ignore[attr-defined]
    return hooked_step
