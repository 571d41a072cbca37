"""Tensor factories: zeros, ones, randn, rand, arange, eye (float32 by default)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .backend import module_for_device, normalize_device, random_module, resolve_dtype
from .methods.dims import shape_args as _shape_args
from .promotion import get_default_dtype, scalar_dtype
from .tensor import Tensor


def _finish(array, requires_grad: bool) -> Tensor:
    t = Tensor._make(array, False)
    t.requires_grad = requires_grad  # the setter refuses integer dtypes with a clear message
    return t


def _sizes(positional: tuple, size: Any, op: str) -> tuple:
    """The shape given positionally or as torch's size= keyword (not both)."""
    if size is None:
        return positional
    if positional:
        raise TypeError(f"{op}: give the shape either positionally or as size=, not both")
    return (size,)


def _dtype(dtype: Any):
    return get_default_dtype() if dtype is None else resolve_dtype(dtype)


def zeros(*shape, size=None, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    xp = module_for_device(normalize_device(device))
    return _finish(xp.zeros(_shape_args(_sizes(shape, size, "zeros"), "zeros"), dtype=_dtype(dtype)), requires_grad)


def ones(*shape, size=None, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    xp = module_for_device(normalize_device(device))
    return _finish(xp.ones(_shape_args(_sizes(shape, size, "ones"), "ones"), dtype=_dtype(dtype)), requires_grad)


def randn(*shape, size=None, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """Standard normal samples from the engine's seeded generator (tg.manual_seed)."""
    device = normalize_device(device)
    dtype = _dtype(dtype)
    array = random_module(device).standard_normal(_shape_args(_sizes(shape, size, "randn"), "randn"), dtype=dtype)
    return _finish(array, requires_grad)


def rand(*shape, size=None, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """Uniform samples in [0, 1) from the engine's seeded generator (tg.manual_seed)."""
    device = normalize_device(device)
    dtype = _dtype(dtype)
    array = random_module(device).random(_shape_args(_sizes(shape, size, "rand"), "rand"), dtype=dtype)
    return _finish(array, requires_grad)


def arange(start, end=None, step=1, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """Like torch.arange: integers give int64, any float argument gives float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: the bounds {start} and {end} are inconsistent with the sign of step {step}")
    xp = module_for_device(normalize_device(device))
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, end, step)) else get_default_dtype()
    return _finish(xp.arange(start, end, step, dtype=resolve_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    xp = module_for_device(normalize_device(device))
    return _finish(xp.eye(n, m, dtype=_dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, *, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    xp, dtype, _ = _like(t, dtype, device)
    return _finish(xp.zeros(t.shape, dtype=dtype), requires_grad)


def ones_like(t: Tensor, *, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    xp, dtype, _ = _like(t, dtype, device)
    return _finish(xp.ones(t.shape, dtype=dtype), requires_grad)


# ---- the rest of torch's factories: full, empty, randint, linspace, from_numpy, *_like ----

def full(size, fill_value, *, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """A tensor of `size` filled with fill_value; the dtype follows the value (bool, int64 or the default float)."""
    if dtype is None:
        dtype = scalar_dtype(fill_value.item() if isinstance(fill_value, Tensor) else fill_value)
    xp = module_for_device(normalize_device(device))
    shape = _shape_args((size,), "full")
    return _finish(xp.full(shape, fill_value, dtype=resolve_dtype(dtype)), requires_grad)


def empty(*shape, size=None, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """An uninitialised tensor (its values are whatever memory held), as torch.empty."""
    xp = module_for_device(normalize_device(device))
    dtype = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    return _finish(xp.empty(_shape_args(_sizes(shape, size, "empty"), "empty"), dtype=dtype), requires_grad)


def randint(low, high=None, size=None, *, requires_grad: bool = False, dtype: Any = None,
            device: str = "cpu") -> Tensor:
    """Integers uniform in [low, high) (randint(high, size) starts at 0), int64 unless dtype says otherwise."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: give the size as a tuple: randint(high, size) or randint(low, high, size)")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if int(high) <= int(low):
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    device = normalize_device(device)
    shape = _shape_args(tuple(size), "randint")
    if device == "cpu":
        array = random_module(device).integers(int(low), int(high), size=shape, dtype="int64")
    else:
        array = random_module(device).randint(int(low), int(high), size=shape, dtype="int64")
    dtype = "int64" if dtype is None else dtype
    return _finish(array.astype(resolve_dtype(dtype), copy=False), requires_grad)


def linspace(start, end, steps: int, *, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """`steps` evenly spaced values from start to end inclusive (the default float dtype)."""
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    xp = module_for_device(normalize_device(device))
    dtype = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    return _finish(xp.linspace(float(start), float(end), steps).astype(dtype), requires_grad)


def from_numpy(array) -> Tensor:
    """A CPU tensor that shares memory with the NumPy array (writes show in both), as torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array, False)


def _like(t: Tensor, dtype: Any, device: Any):
    device = t.device if device is None else normalize_device(device)
    return module_for_device(device), (t.dtype if dtype is None else resolve_dtype(dtype)), device


def full_like(t: Tensor, fill_value, *, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    xp, dtype, _ = _like(t, dtype, device)
    return _finish(xp.full(t.shape, fill_value).astype(dtype), requires_grad)


def empty_like(t: Tensor, *, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    xp, dtype, _ = _like(t, dtype, device)
    return _finish(xp.empty(t.shape, dtype=dtype), requires_grad)


def rand_like(t: Tensor, *, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    _, dtype, device = _like(t, dtype, device)
    _need_float(dtype, "rand_like")
    return rand(*t.shape, requires_grad=requires_grad, dtype=dtype, device=device)


def randn_like(t: Tensor, *, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    _, dtype, device = _like(t, dtype, device)
    _need_float(dtype, "randn_like")
    return randn(*t.shape, requires_grad=requires_grad, dtype=dtype, device=device)


def randint_like(t: Tensor, low, high=None, *, requires_grad: bool = False, dtype: Any = None,
                 device: Any = None) -> Tensor:
    _, dtype, device = _like(t, dtype, device)
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(t.shape), requires_grad=requires_grad, dtype=dtype, device=device)


def _need_float(dtype, op: str) -> None:
    if dtype.kind != "f":
        raise TypeError(f"{op}: random floats need a floating dtype, got {dtype}; pass dtype=tg.float32")
