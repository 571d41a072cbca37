"""In-place ops as torch's: add_ sub_ mul_ div_ zero_ fill_ copy_ clamp_, += -= *= /=, x[idx] = v.

torch's three cases:
- grad mode is on and the tensor is a leaf that requires grad (or a view of one): an
  error, with torch's message (an in-place change would lose the value the gradient is for);
- nothing to record (grad mode off, or no operand requires grad): the data is updated
  in place, so `with tg.no_grad(): p -= lr * p.grad` trains;
- otherwise the op is recorded: it runs out of place on a copy of the old value (so what
  the new node saves for backward stays intact), the result is written into the tensor's
  memory and the tensor's history is rebased onto the new node, as torch does.
Every case bumps the tensor's version counter, which backward checks for saved values.
"""
from __future__ import annotations

import numbers
import weakref
from typing import Any, Callable

from . import autograd, ops
from .autograd import is_grad_enabled, no_grad, version_counter
from .backend import array_module
from .errors import ShapeError
from .promotion import category

LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_ERROR = "a view of a leaf Variable that requires grad is being used in an in-place operation."


def apply_inplace(target, name: str, compute: Callable, operands: tuple = (), any_cast: bool = False,
                  direct: Callable | None = None):
    """Make compute(target)'s value (and, when recorded, its history) target's own; returns target.

    `direct(array)`, when given, does the update straight on the array where nothing is
    recorded (no temporary). `any_cast` lets any result dtype into target (copy_, x[idx] = v);
    other ops refuse a result of a higher category (float into an int tensor), as torch.
    """
    grad_mode = is_grad_enabled()
    if grad_mode:
        _check_not_leaf(target)
    recording = grad_mode and (target._requires_grad or any(getattr(o, "_requires_grad", False) for o in operands))
    if not recording:
        if direct is not None:
            direct(target.data)
        else:
            with no_grad():
                result = compute(target)
            _write(target, result, name, any_cast)
        version_counter(target)[0] += 1
        return target
    base = getattr(target, "_base", None)
    if base is not None and base._requires_grad:
        raise RuntimeError(
            f"{name}: in-place change of a view (a slice of another tensor) inside a graph is not supported: "
            "the base tensor's history would not see it. clone() the view first, or index-assign into the "
            "base (base[idx] = value), which is recorded"
        )
    snapshot = autograd.Tensor._make(target.data.copy(), target._requires_grad)
    snapshot._ctx, snapshot._edge = target._ctx, target._edge
    result = compute(snapshot)
    if result.data.dtype != target.data.dtype:
        _check_dtype(result, target, name, any_cast)
        result = result.to(target.data.dtype)
    _write(target, result, name, any_cast)
    old_node = target._ctx
    target._ctx, target._requires_grad, target._edge = result._ctx, result._requires_grad, None
    _move_retain_hook(target, old_node)
    version_counter(target)[0] += 1
    return target


def _move_retain_hook(target, old_node) -> None:
    """retain_grad follows the tensor to its new version, as torch's; register_hook hooks stay with the old
    version (they get the gradient of the value before the in-place change, as torch documents)."""
    keep = getattr(target, "_retains_grad", None)
    if not keep or old_node is None or target._ctx is None:
        return
    if old_node._hooks is not None and keep in old_node._hooks:
        old_node._hooks.remove(keep)
    if target._ctx._hooks is None:
        target._ctx._hooks = []
    target._ctx._hooks.append(keep)


def _check_not_leaf(target) -> None:
    if target._requires_grad and target._ctx is None:
        raise RuntimeError(LEAF_ERROR)
    base = getattr(target, "_base", None)
    if base is not None and base._requires_grad and base._ctx is None:
        raise RuntimeError(VIEW_ERROR)


def _check_dtype(result, target, name: str, any_cast: bool) -> None:
    if not any_cast and category(result.data.dtype) > category(target.data.dtype):
        raise RuntimeError(
            f"{name}: result type {result.data.dtype} can't be cast to the desired output type "
            f"{target.data.dtype} (torch's rule for in-place ops); use the out-of-place form instead"
        )


def _write(target, result, name: str, any_cast: bool) -> None:
    """Copy result's values into target's memory (so views of it see them, as torch's)."""
    if result.data.shape != target.data.shape:
        raise ShapeError(
            f"{name}: the result has shape {tuple(result.data.shape)} but the tensor changed in place has "
            f"shape {tuple(target.data.shape)}; an in-place op cannot change a tensor's shape (as torch)"
        )
    _check_dtype(result, target, name, any_cast)
    try:
        target.data[...] = result.data
    except ValueError as err:  # a read-only array: a broadcast view whose elements share memory
        raise RuntimeError(
            f"{name}: this tensor cannot be written in place ({err}); several of its elements share one "
            "memory location (an expand/broadcast view): clone() it first"
        ) from err


def _scaled(other: Any, alpha: Any) -> Any:
    return other if alpha == 1 else other * alpha


def value_tensor(value: Any, like):
    """`value` as a Tensor of like's dtype on like's device (a Tensor is cast, recorded when floating)."""
    if isinstance(value, autograd.Tensor):
        return value if value.data.dtype == like.data.dtype else value.to(like.data.dtype)
    data = value.numpy() if hasattr(value, "numpy") and not hasattr(value, "ndim") else value
    return autograd.Tensor._make(array_module(like.data).asarray(data, dtype=like.data.dtype), False)


class _HookHandle:
    """What register_hook returns: `.remove()` takes the hook off again."""

    def __init__(self, hooks: list, hook: Callable):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class InPlaceMethods:
    """Mixed into Tensor: in-place ops, hooks and the other autograd knobs of torch.Tensor."""

    __slots__ = ()

    def add_(self, other: Any, alpha: Any = 1):
        return apply_inplace(self, "add_", lambda t: t + _scaled(other, alpha), (other,))

    def sub_(self, other: Any, alpha: Any = 1):
        return apply_inplace(self, "sub_", lambda t: t - _scaled(other, alpha), (other,))

    def mul_(self, other: Any):
        return apply_inplace(self, "mul_", lambda t: t * other, (other,))

    def div_(self, other: Any, rounding_mode: str | None = None):
        if rounding_mode is not None:
            raise ValueError(f"div_: rounding_mode={rounding_mode!r} is not supported; use None (true division)")
        return apply_inplace(self, "div_", lambda t: t / other, (other,))

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def clamp_(self, min: Any = None, max: Any = None):  # noqa: A002 - torch's argument names
        return apply_inplace(self, "clamp_", lambda t: t.clamp(min, max), (min, max))

    clip_ = clamp_

    def copy_(self, src: Any, non_blocking: bool = False):
        """Overwrite the values with src's (broadcast, cast to this dtype); the gradient flows to src."""

        def compute(t):
            source = src if isinstance(src, autograd.Tensor) else value_tensor(src, t)
            return ops.CopyInto.apply(t, source)

        return apply_inplace(self, "copy_", compute, (src,), any_cast=True)

    def fill_(self, value: Any):
        if isinstance(value, autograd.Tensor):
            if value.data.ndim:
                raise RuntimeError(f"fill_ only supports a 0-dimension value tensor, but got one of shape "
                                   f"{tuple(value.shape)}")
            return self.copy_(value)
        if not isinstance(value, numbers.Number):
            raise TypeError(f"fill_: value must be a number or a 0-d Tensor, got {type(value).__name__}")

        def direct(data):
            data[...] = value

        return apply_inplace(self, "fill_", lambda t: ops.CopyInto.apply(t, value_tensor(value, t)),
                             any_cast=True, direct=direct)

    def zero_(self):
        return self.fill_(0)

    def requires_grad_(self, requires_grad: bool = True):
        self.requires_grad = requires_grad
        return self

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (torch's Tensor._version)."""
        return version_counter(self)[0]

    def _bump_version(self) -> None:
        """Count an in-place change made straight on `.data` (optimizer steps)."""
        version_counter(self)[0] += 1

    def register_hook(self, hook: Callable):
        """Call hook(grad) when this tensor's gradient is computed; a returned Tensor replaces the gradient."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._ctx is None:
            hooks = getattr(self, "_hooks", None)
            if hooks is None:
                hooks = self._hooks = []
        else:
            hooks = self._ctx._hooks
            if hooks is None:
                hooks = self._ctx._hooks = []
        keep = getattr(self, "_retains_grad", None)
        if keep and hooks and hooks[-1] is keep:  # retain_grad stores the gradient after every hook, as torch
            hooks.insert(len(hooks) - 1, hook)
        else:
            hooks.append(hook)
        return _HookHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep this non-leaf's gradient in `.grad` after backward (a leaf keeps it anyway)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._ctx is None or getattr(self, "_retains_grad", False):
            return
        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                copy = g.data.copy()
                t.grad = autograd.Tensor._make(copy if t.grad is None else t.grad.data + copy, False)

        self.register_hook(keep)
        self._retains_grad = keep  # the hook itself: register_hook keeps it last, in-place ops move it

    @property
    def retains_grad(self) -> bool:
        return bool(getattr(self, "_retains_grad", False))
