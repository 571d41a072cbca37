"""Tensor factories: zeros, ones, randn, rand, arange, eye (float32 by default)."""
from __future__ import annotations

from typing import Any

from .backend import module_for_device, normalize_device, random_module, resolve_dtype
from .promotion import get_default_dtype
from .methods.shape import shape_args as _shape_args
from .tensor import Tensor


def _finish(array, requires_grad: bool) -> Tensor:
    t = Tensor._make(array, False)
    t.requires_grad = requires_grad  # the setter refuses integer dtypes with a clear message
    return t


def _dtype(dtype: Any):
    return get_default_dtype() if dtype is None else resolve_dtype(dtype)


def zeros(*shape, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    xp = module_for_device(normalize_device(device))
    return _finish(xp.zeros(_shape_args(shape, "zeros"), dtype=_dtype(dtype)), requires_grad)


def ones(*shape, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    xp = module_for_device(normalize_device(device))
    return _finish(xp.ones(_shape_args(shape, "ones"), dtype=_dtype(dtype)), requires_grad)


def randn(*shape, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """Standard normal samples from the engine's seeded generator (tg.manual_seed)."""
    device = normalize_device(device)
    dtype = _dtype(dtype)
    array = random_module(device).standard_normal(_shape_args(shape, "randn"), dtype=dtype)
    return _finish(array, requires_grad)


def rand(*shape, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """Uniform samples in [0, 1) from the engine's seeded generator (tg.manual_seed)."""
    device = normalize_device(device)
    dtype = _dtype(dtype)
    array = random_module(device).random(_shape_args(shape, "rand"), dtype=dtype)
    return _finish(array, requires_grad)


def arange(start, end=None, step=1, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    """Like torch.arange: integers give int64, any float argument gives float32."""
    if end is None:
        start, end = 0, start
    xp = module_for_device(normalize_device(device))
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, end, step)) else get_default_dtype()
    return _finish(xp.arange(start, end, step, dtype=resolve_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, requires_grad: bool = False, dtype: Any = None, device: str = "cpu") -> Tensor:
    xp = module_for_device(normalize_device(device))
    return _finish(xp.eye(n, m, dtype=_dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return _finish(module_for_device(t.device).zeros(t.shape, dtype=t.dtype), requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return _finish(module_for_device(t.device).ones(t.shape, dtype=t.dtype), requires_grad)
