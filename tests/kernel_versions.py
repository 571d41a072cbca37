"""A module of fast kernels (kernels/cpu.py, kernels/gpu.py or its emulated copy) as the registry runs them.

Each fast version only handles the inputs its `@takes` predicate accepts; the registry sends
the others to the reference. Tests call the kernels through this view so that they check
exactly what training runs, the fallback decision included.
"""
from __future__ import annotations

from types import ModuleType

from tinygrad_opt.kernels import reference
from tinygrad_opt.kernels.registry import with_fallback


class Guarded:
    """Attribute access to `module`, with every kernel that declares `takes` behind its reference fallback."""

    def __init__(self, module: ModuleType):
        self._module = module

    def __getattr__(self, name: str):
        value = getattr(self._module, name)
        if callable(value) and hasattr(value, "takes"):
            return with_fallback(value, getattr(reference, name))
        return value
