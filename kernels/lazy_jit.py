"""Numba imported when a loop is first needed, not when a kernel module is imported.

Importing Numba and setting up its CPU target take about a third of a second, which every
process paid when it first asked for a kernel: on its first training step, even with every loop
in the on-disk cache. The kernel modules therefore decorate their loops through `deferred(build)`:
until Numba starts, a decorated function is a stand-in (`Deferred`) that remembers the function
and how to build it. A kernel module is then importable, its `takes` predicates and wrappers
usable, without Numba; the registry hands a kernel with a first-call twin to the background
thread (background.py) without starting Numba, and that thread's first loop starts it.

`start()` (the first call of a stand-in, or the registry when it gives out a loop without a twin)
imports Numba, runs the set-up the modules registered with `on_start` (in order), builds every
stand-in (numba.njit and the like: nothing compiles yet) and puts what it built in place of the
stand-in in every kernel module that holds it, so a loop Numba compiles later finds real
dispatchers among its globals, never a stand-in. A function decorated after the start is built at
once, and so is one a factory makes inside a kernel's call (its loop runs next, and a stand-in kept
in the factory's table would add a call to every later one). An ImportError of Numba leaves
everything as it was and reaches the caller (the registry then runs the reference, as it did when
importing the module failed).
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import threading
import warnings
from typing import Callable

from . import environment

_lock = threading.RLock()
_started = False
_pending: list["Deferred"] = []
_on_start: list[Callable[[], None]] = []


class Deferred:
    """A function to be built by `build(function)` once Numba has started; calling it starts Numba."""

    def __init__(self, function: Callable, build: Callable[[Callable], Callable]):
        functools.update_wrapper(self, function)
        self.py_func = function
        self.build = build
        self.built: Callable | None = None

    def __call__(self, *args, **kwargs):
        built = self.built
        if built is None:
            start()
            built = self.built
        return built(*args, **kwargs)

    def __getattr__(self, name: str):  # a dispatcher's attributes (overloads, stats...): they need it built
        if name.startswith("__") or name in ("py_func", "build", "built"):
            raise AttributeError(name)
        if self.built is None:
            start()
        return getattr(self.built, name)

    def __repr__(self) -> str:
        return f"<deferred Numba function {self.py_func.__qualname__}>"


def deferred(build: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """A decorator: `build(function)` now if Numba has started, else a stand-in that builds it at the start."""
    def decorate(function: Callable) -> Callable:
        if "<locals>" in function.__qualname__:  # made by a factory at a kernel's call: the loop runs next
            start()
        with _lock:
            if _started:
                return build(function)
            stand_in = Deferred(function, build)
            _pending.append(stand_in)
            return stand_in

    return decorate


def on_start(setup: Callable[[], None]) -> None:
    """Run `setup()` when Numba starts (at once if it has): a module binds its Numba names there."""
    with _lock:
        if _started:
            setup()
        else:
            _on_start.append(setup)


def started() -> bool:
    return _started


def installed() -> bool:
    """Whether Numba can be found (without importing it)."""
    return _started or importlib.util.find_spec("numba") is not None


def start() -> None:
    """Import Numba, run the registered set-ups, build every stand-in and put it in its place (see above)."""
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        importlib.import_module("numba")  # here, at the first loop's need: the point of this module
        for setup in _on_start:
            setup()
        _on_start.clear()
        for stand_in in _pending:
            stand_in.built = stand_in.build(stand_in.py_func)
        _pending.clear()
        _replace_stand_ins()
        _started = True


def _replace_stand_ins() -> None:
    """Put each built function in place of its stand-in in the kernel modules' namespaces."""
    prefix = __name__.rpartition(".")[0] + "."
    for name, module in list(sys.modules.items()):
        if not name.startswith(prefix) or module is None:
            continue
        namespace = vars(module)
        for key, value in list(namespace.items()):
            if type(value) is Deferred and value.built is not None:
                namespace[key] = value.built


cache_usable = True  # False once Numba has found no usable cache location: later builds skip the cache


def cached(decorate: Callable[..., Callable[[Callable], Callable]], function: Callable, **options) -> Callable:
    """decorate(cache=True, **options)(function), e.g. numba.njit or numba.cfunc with its signature bound.

    Numba writes the cache next to the kernel's file (kernels/__pycache__) when that folder is writable, else
    to the user-wide cache dir (~/.cache/numba or NUMBA_CACHE_DIR). Where nothing is writable it refuses
    cache=True at decoration ("cannot cache function ...: no locator available"): the function is then
    decorated without the cache, and so is every later one, and the first such build warns once."""
    global cache_usable
    if cache_usable:
        try:
            return decorate(cache=True, **options)(function)
        except RuntimeError as err:
            cache_usable = False
            if not environment.read("TINYGRAD_OPT_QUIET"):
                warnings.warn(f"tinygrad_opt.kernels: Numba's on-disk cache is unavailable ({err}); "
                              "kernels compile in every process. Set NUMBA_CACHE_DIR to a writable "
                              "folder to cache them.", RuntimeWarning, stacklevel=3)
    return decorate(**options)(function)
