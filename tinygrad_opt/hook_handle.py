"""RemovableHandle: what every register_*_hook returns (torch.utils.hooks.RemovableHandle's role).

Module hooks and optimizer hooks keep their hooks in dicts keyed by the handle's id; `remove()`
takes the hook out of its dict again (and out of `with_kwargs`, the set of ids Module calls with kwargs).
"""
from __future__ import annotations

from typing import Any


class RemovableHandle:
    """Returned by the register_*_hook methods; `remove()` (or leaving a `with` block) unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict, with_kwargs: set | None = None):
        self.hooks, self.with_kwargs = hooks, with_kwargs
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)
        if self.with_kwargs is not None:
            self.with_kwargs.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()
