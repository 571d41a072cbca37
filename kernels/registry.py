"""The kernel registry: name -> {"reference", "cpu", "gpu"} implementations."""
from __future__ import annotations

from typing import Callable

import numpy as np

MODES = ("auto", "numba", "reference")
_mode = "auto"
_table: dict[str, dict[str, Callable]] = {}
_resolved: dict[tuple, Callable] = {}  # (name, is_host, mode) -> function: keeps `get` cheap


def set_kernels(mode: str) -> None:
    """"auto" (Numba on CPU, CuPy on GPU), "numba" (same, but an error if Numba is missing)
    or "reference" (the plain array expressions everywhere)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"set_kernels: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "numba":
        try:
            import numba  # noqa: F401,PLC0415
        except ImportError as err:
            raise RuntimeError("set_kernels('numba'): Numba is not installed; `pip install numba`") from err
    _mode = mode
    _resolved.clear()


def get_mode() -> str:
    return _mode


def register(name: str, *, reference: Callable, cpu: Callable | None = None, gpu: Callable | None = None) -> None:
    _table[name] = {"reference": reference, "cpu": cpu, "gpu": gpu}
    _resolved.clear()


def available() -> list[str]:
    return sorted(_table)


def get(name: str, array) -> Callable:
    """The implementation of kernel `name` to run on `array`'s device in the current mode."""
    key = (name, type(array) is np.ndarray, _mode)
    fn = _resolved.get(key)
    if fn is None:
        versions = _table.get(name)
        if versions is None:
            raise KeyError(f"no kernel named {name!r}; known kernels: {', '.join(available())}")
        fn = versions["reference"]
        if _mode != "reference":
            fast = versions["cpu"] if key[1] else versions["gpu"]
            fn = fast or fn
        _resolved[key] = fn
    return fn
