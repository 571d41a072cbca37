"""NumPy's floating-point warnings off while an op computes, as torch computes silently.

x / 0, log(0), sqrt(-1), inf - inf, exp(1000): torch returns inf or NaN without a word; NumPy returns the
same values and emits a RuntimeWarning. `with quiet():` silences NumPy for the block, only in the current
thread (and asyncio task), so the user's own NumPy code keeps its settings.

NumPy 2 keeps its error state in a context variable: setting it and resetting the token costs a fraction
of `np.errstate(all="ignore")`, which builds and checks a new state on every use. Where the variable is
not there (another NumPy), np.errstate does the same, slower.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

try:
    from numpy._core.umath import _extobj_contextvar as _ERROR_STATE
except ImportError:  # pragma: no cover - NumPy without the context variable
    _ERROR_STATE = None

if _ERROR_STATE is not None:
    with np.errstate(all="ignore"):
        _SILENT = _ERROR_STATE.get()


class quiet:
    """Context manager: no divide/invalid/overflow/underflow warnings from NumPy inside (a new one per use)."""

    __slots__ = ("_token",)

    def __init__(self, xp=None):  # xp: the array module of the op, accepted so call sites can name it
        self._token = None

    def __enter__(self):
        if _ERROR_STATE is not None:
            self._token = _ERROR_STATE.set(_SILENT)
        else:  # pragma: no cover
            self._token = np.errstate(all="ignore")
            self._token.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        if _ERROR_STATE is not None:
            _ERROR_STATE.reset(self._token)
        else:  # pragma: no cover
            self._token.__exit__(*exc)
        return False


def silent(forward: Callable) -> Callable:
    """An op's forward (or any function) run with NumPy quiet: `@staticmethod` then `@silent` on the forward."""
    if _ERROR_STATE is None:  # pragma: no cover

        def slow(*args, **options):
            with quiet():
                return forward(*args, **options)

        return functools.wraps(forward)(slow)

    def run(*args, **options):
        token = _ERROR_STATE.set(_SILENT)
        try:
            return forward(*args, **options)
        finally:
            _ERROR_STATE.reset(token)

    return functools.wraps(forward)(run)
