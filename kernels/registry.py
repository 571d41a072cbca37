"""The kernel registry: name -> {"reference", "cpu", "gpu"} implementations, picked per device.

A fast version may be registered as a callable or lazily as "module:function" (a
module of this package): then its module, and with it Numba or CuPy, is imported
only when the kernel is first asked for on that device. That keeps
`import tinygrad_opt` free of Numba's import time.

A fast version handles only some inputs (a layout, a dtype, a rank): it says which with
`@takes(predicate)`, the predicate having the kernel's signature. The registry makes that
decision for every kernel in one place: an input the fast version does not take runs the
reference, so a fast kernel's body never checks its inputs or calls the reference itself.

A CPU version may also say from how many elements it pays off (`cpu_from_size`): `get`
hands out the reference for a smaller host array directly, so on tiny arrays a kernel
call costs no more than the array expression it replaces.

A CPU version may have a `first_call` twin (kernels/first_call.py): NumPy code giving the
loop's results bit for bit. In "auto" mode with the background compile on (kernels/background.py,
on unless TINYGRAD_OPT_BACKGROUND_COMPILE=0) the kernel's first call then hands the loop to
a background thread to compile and runs the twin; once the loop is ready, `get` hands out the
loop as usual. A first training step then waits only for the compiles of kernels without a twin.
Numba itself starts (kernels/lazy_jit.py) on that thread too, for its first loop; a kernel without
a twin, or any kernel with the background compile off, starts it where `get` resolves the kernel.

The mode starts from the environment variable TINYGRAD_OPT_KERNELS ("auto",
"numba" or "reference"; "auto" when unset; read at the first kernel call, environment.py), so a
whole test run can use the reference kernels: `TINYGRAD_OPT_KERNELS=reference python -m pytest`.
"""
from __future__ import annotations

import importlib
import warnings
from typing import Callable, Union

import numpy as np

from . import background, environment, lazy_jit

MODES = ("auto", "numba", "reference")
ENV_VAR = "TINYGRAD_OPT_KERNELS"

Impl = Union[Callable, str, None]
# `np.ndarray` would be a dict lookup per `get` (NumPy's module __getattr__ keeps Python 3.11 from caching it)
_ndarray, _generic = np.ndarray, np.generic
_table: dict[str, dict[str, Impl]] = {}
# name -> function for host (NumPy) and device (CuPy) arrays under the current mode; cleared
# whenever the mode or the table changes, so `get` is one type check and one dict lookup.
_resolved_host: dict[str, Callable] = {}
_resolved_device: dict[str, Callable] = {}
_unavailable: dict[str, str] = {}  # module name -> why it could not be imported
_cpu_from_size: dict[str, int] = {}  # name -> host arrays below this many elements run the reference


def _check_mode(mode: str, where: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{where}: unknown kernel mode {mode!r}; choose one of {', '.join(map(repr, MODES))}")
    return mode


_mode: str | None = None  # None until first asked for: then TINYGRAD_OPT_KERNELS's (get_mode)


def set_kernels(mode: str) -> None:
    """"auto" (Numba on CPU, CuPy on GPU, the reference where a fast version is missing),
    "numba" (the same, but an error if Numba is not installed) or "reference" (the plain
    array expressions everywhere, for checking and teaching)."""
    global _mode
    _check_mode(mode, "set_kernels")
    if mode == "numba":
        try:
            import numba  # noqa: F401,PLC0415
        except ImportError as err:
            raise RuntimeError("set_kernels('numba'): Numba is not installed; `pip install numba`") from err
    _mode = mode
    _resolved_host.clear()
    _resolved_device.clear()


def takes(predicate: Callable[..., bool]) -> Callable[[Callable], Callable]:
    """Mark a fast version with the inputs it handles: `predicate(*args, **kwargs)` is True for them."""
    def mark(fast: Callable) -> Callable:
        fast.takes = predicate
        return fast
    return mark


def with_fallback(fast: Callable, reference: Callable) -> Callable:
    """`fast` where its `takes` predicate accepts the inputs, `reference` elsewhere (what `get` returns)."""
    accepts = getattr(fast, "takes", None)
    if accepts is None:
        return fast

    def kernel(*args, **kwargs):
        if kwargs:
            return (fast if accepts(*args, **kwargs) else reference)(*args, **kwargs)
        if accepts(*args):  # the usual positional call: no empty keyword dict is unpacked twice
            return fast(*args)
        return reference(*args)

    kernel.__name__, kernel.__doc__, kernel.fast = fast.__name__, fast.__doc__, fast
    prepare = getattr(fast, "prepare", None)  # a plan for arrays kept from call to call (cpu.AdamGroupPlan)
    if prepare is not None:
        kernel.prepare = prepare
    return kernel


def per_array(name: str) -> Callable:
    """A group version of kernel `name` that calls it on each array in turn: fn(lists..., **options) runs
    get(name, a)(a, b..., **options) for each tuple (a, b...) taken from the lists. It is the reference of a
    group kernel, and what runs where no group version takes the arrays (the GPU, other layouts)."""
    def each(*lists, **options):
        for arrays in zip(*lists):
            get(name, arrays[0])(*arrays, **options)

    each.__name__ = f"{name}_each"
    return each


def get_mode() -> str:
    global _mode
    if _mode is None:
        _mode = environment.read(ENV_VAR)
    return _mode


def register(name: str, *, reference: Callable, cpu: Impl = None, gpu: Impl = None, cpu_from_size: int = 0,
             first_call: Callable | None = None) -> None:
    """Add kernel `name`; `cpu`/`gpu` are callables or "module:function" strings (imported on first use).

    `cpu_from_size`: the CPU version runs for host arrays (the one given to `get`) of at least
    this many elements; smaller ones get the reference, whose array expression is as fast there.
    `first_call`: what runs while the CPU version compiles in the background ("auto" mode); it must
    give the CPU version's bits on every input that version takes, or return NotImplemented for the
    inputs where it cannot (before writing anything): the CPU version runs there.
    """
    _table[name] = {"reference": reference, "cpu": cpu, "gpu": gpu, "first_call": first_call}
    if cpu_from_size:
        _cpu_from_size[name] = cpu_from_size
    else:
        _cpu_from_size.pop(name, None)
    _resolved_host.clear()
    _resolved_device.clear()


def set_first_call(name: str, twin: Callable | None) -> None:
    """Give kernel `name` the twin its first calls run while its CPU version compiles (see register)."""
    _table[name]["first_call"] = twin
    _resolved_host.pop(name, None)


def available() -> list[str]:
    return sorted(_table)


def _load(spec: Impl, name: str, start_numba: bool = False) -> Callable | None:
    """The callable for a registered fast version (importing its module if given as a string); with
    `start_numba`, Numba started too (lazy_jit: a CPU module's loops need it, its import does not)."""
    if spec is None or callable(spec):
        return spec
    module_name, _, attr = spec.partition(":")
    if module_name in _unavailable:
        return None
    try:
        module = importlib.import_module(f"{__package__}.{module_name}")
        if start_numba:
            lazy_jit.start()
    except ImportError as err:  # Numba or CuPy missing: "auto" falls back to the reference
        _unavailable[module_name] = str(err)
        if get_mode() == "numba" and module_name == "cpu":
            raise RuntimeError(f"kernel {name!r}: the Numba kernels cannot be imported ({err})") from err
        warnings.warn(f"tinygrad_opt.kernels: {module_name}.py is unavailable ({err}); "
                      "using the reference kernels there", RuntimeWarning, stacklevel=3)
        return None
    return getattr(module, attr)


def get(name: str, array) -> Callable:
    """The implementation of kernel `name` to run on `array`'s device in the current mode."""
    # NumPy scalars (the gradient of a 0-d result, say) are host data too: only CuPy arrays
    # may reach the device versions, which would also import CuPy on a CPU-only machine
    host = type(array) is _ndarray or isinstance(array, _generic)
    if host and _cpu_from_size and array.size < _cpu_from_size.get(name, 0):
        return _table[name]["reference"]
    fn = (_resolved_host if host else _resolved_device).get(name)
    if fn is None:
        fn = _resolve(name, host)
    return fn


def _resolve(name: str, host: bool) -> Callable:
    versions = _table.get(name)
    if versions is None:
        raise KeyError(f"no kernel named {name!r}; known kernels: {', '.join(available())}")
    twin = versions.get("first_call") if host and get_mode() == "auto" and background.enabled() else None
    if twin is None or not lazy_jit.installed():  # without Numba the reference from the first call on
        fn = _fast_or_reference(name, host)
    else:  # its module imported, Numba not started: the background thread starts it
        fast = _load(versions["cpu"], name)
        fn = versions["reference"] if fast is None else _compiled_in_background(name, fast, twin, versions["reference"])
    (_resolved_host if host else _resolved_device)[name] = fn
    return fn


def _fast_or_reference(name: str, host: bool) -> Callable:
    """The fast version of kernel `name` for host or device arrays, falling back to the reference, in the
    current mode; Numba started for a host one."""
    versions = _table[name]
    if get_mode() == "reference":
        return versions["reference"]
    fast = _load(versions["cpu"] if host else versions["gpu"], name, start_numba=host)
    return versions["reference"] if fast is None else with_fallback(fast, versions["reference"])


def _compiled_in_background(name: str, fast: Callable, twin: Callable, reference: Callable) -> Callable:
    """`fast` where it takes the inputs, its first call handed to the background compile and `twin` run
    until that is done; then `get` hands out with_fallback(fast, reference) in this kernel's place (or the
    reference, where Numba cannot be imported)."""
    accepts = getattr(fast, "takes", None)
    ready = None
    job = None

    def run_ready(args, kwargs):
        nonlocal ready
        if ready is None:
            ready = _fast_or_reference(name, True)  # starts Numba here if the background thread has not
        if _resolved_host.get(name) is kernel:
            _resolved_host[name] = ready
        return ready(*args, **kwargs)

    def kernel(*args, **kwargs):
        nonlocal job
        if job is not None and job.done:
            if ready is not None and _resolved_host.get(name) is not kernel:  # a caller that kept this kernel
                return ready(*args, **kwargs)
            return run_ready(args, kwargs)
        if accepts is not None and not accepts(*args, **kwargs):
            return reference(*args, **kwargs)
        if job is None:
            job = background.compile_later(fast, args, kwargs)
            if job is None:  # not handed over (large or unusual arrays, or turned off): compiled here, as before
                job = background.Job(done=True)
                return run_ready(args, kwargs)
        result = twin(*args, **kwargs)
        return run_ready(args, kwargs) if result is NotImplemented else result

    kernel.__name__, kernel.__doc__, kernel.fast = fast.__name__, fast.__doc__, fast
    return kernel


def which(name: str, array) -> str:
    """"reference", "cpu" or "gpu": the version `get(name, array)` runs (for tests and benchmarks)."""
    fn = get(name, array)
    versions = _table[name]
    if fn is versions["reference"]:
        return "reference"
    return "cpu" if type(array) is np.ndarray or isinstance(array, np.generic) else "gpu"
