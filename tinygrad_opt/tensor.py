"""Tensor: an array (numpy or cupy) plus what autograd needs to know about it."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from . import autograd
from . import ops
from .backend import (
    DEFAULT_FLOAT, array_module, device_of, is_float_dtype, module_for_device, normalize_device,
    resolve_dtype, to_device,
)
from .errors import ShapeError
from .methods import MathMethods, ReductionMethods, ShapeMethods


def _to_array(data: Any, dtype: Any, device: str):
    """Turn user data into a backend array with the engine's dtype policy.

    Python floats (and lists of them) become float32, NumPy/CuPy arrays keep their
    dtype, integers stay integer; an explicit dtype overrides all of that.
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = module_for_device(device)
    if dtype is not None:
        return xp.asarray(to_device(data, device) if hasattr(data, "dtype") else data, dtype=resolve_dtype(dtype))
    if hasattr(data, "dtype") and hasattr(data, "shape"):  # an ndarray (numpy or cupy) or numpy scalar
        return xp.asarray(to_device(np.asarray(data) if isinstance(data, np.generic) else data, device))
    array = np.asarray(data)
    if array.dtype == np.float64:  # came from Python floats: the training default is float32
        array = array.astype(DEFAULT_FLOAT)
    elif array.dtype == object:
        raise TypeError(f"Tensor: cannot build a tensor from {type(data).__name__} data {data!r:.80}")
    return to_device(array, device)


class Tensor(ShapeMethods, ReductionMethods, MathMethods):
    """An n-dimensional array that records the ops applied to it for reverse-mode autodiff."""

    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "name", "_edge", "__weakref__")
    __array_priority__ = 1000  # numpy scalars/arrays on the left defer to our reflected ops

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None):
        if device is None:
            device = device_of(data.data if isinstance(data, Tensor) else data)
        self.data = _to_array(data, dtype, normalize_device(device))
        self.grad: Tensor | None = None
        self._ctx = None
        self._edge = None  # autograd's cached graph edge for this tensor (non-leaves only)
        self.name: str | None = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _make(cls, array, requires_grad: bool) -> "Tensor":
        """Wrap an array produced by an op, skipping the user-facing conversions."""
        t = object.__new__(cls)
        if type(array) is not np.ndarray and (isinstance(array, np.generic) or not hasattr(array, "ndim")):
            array = np.asarray(array)  # NumPy returns scalars for 0-d results
        t.data = array
        t.grad = None
        t._ctx = None
        t._edge = None
        t.name = None
        t._requires_grad = requires_grad
        return t

    # ---- attributes ---------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not is_float_dtype(self.data.dtype):
            raise TypeError(
                f"requires_grad=True needs a floating-point tensor, but this one is {self.data.dtype}; "
                "create it with dtype='float32' (or 'float64' for gradient checks)"
            )
        if not value and self._ctx is not None:
            raise RuntimeError("requires_grad can only be switched off on leaf tensors; use .detach()")
        self._requires_grad = bool(value)

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        extras = ""
        if self.device != "cpu":
            extras += f", device='{self.device}'"
        if self._ctx is not None:
            extras += f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extras += ", requires_grad=True"
        body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        return f"Tensor({body}, dtype={self.dtype}{extras})"

    # ---- conversion -------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A host NumPy copy of the data (works for CUDA tensors too)."""
        data = self.data
        return data.get() if hasattr(data, "get") and not isinstance(data, np.ndarray) else np.array(data, copy=True)

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors convert to a Python number, this one has shape {self.shape}")
        return self.data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """A tensor sharing the data, cut off from the graph."""
        return Tensor._make(self.data, False)

    def to(self, device: str) -> "Tensor":
        """This tensor on `device` ("cpu"/"cuda"); differentiable, returns self if already there."""
        device = normalize_device(device)
        if device == self.device:
            return self
        module_for_device(device)  # a clear error when CUDA is missing
        return ops.ToDevice.apply(self, device=device)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def astype(self, dtype: Any) -> "Tensor":
        """A copy with another dtype (no gradient flows through a dtype change)."""
        return Tensor._make(self.data.astype(resolve_dtype(dtype)), False)

    def float(self) -> "Tensor":
        return self.astype("float32")

    def double(self) -> "Tensor":
        return self.astype("float64")

    # ---- autograd -------------------------------------------------------
    def _seed_gradient(self, gradient=None):
        """The array that starts backward: ones for a scalar, else the given gradient."""
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a tensor of shape {tuple(self.shape)} needs a gradient: pass "
                    "gradient= with that shape, or reduce it to a scalar first (e.g. .sum() or .mean())"
                )
            return array_module(self.data).ones(self.shape, dtype=self.dtype)
        g = gradient.data if isinstance(gradient, Tensor) else gradient
        g = array_module(self.data).asarray(to_device(g, self.device) if hasattr(g, "shape") else g, dtype=self.dtype)
        if g.shape != self.shape:
            raise ShapeError(f"backward(): gradient has shape {tuple(g.shape)} but the tensor has shape {tuple(self.shape)}")
        return g

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (graph freed unless retain_graph)."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation had "
                "requires_grad=True (or it ran under no_grad)"
            )
        autograd.run_backward(self, self._seed_gradient(gradient), retain_graph=retain_graph)

    # ---- operators ------------------------------------------------------
    def _lift(self, other: Any) -> "Tensor":
        """Turn a Python number or array into a constant Tensor next to self."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, numbers.Number):
            if isinstance(other, complex):
                raise TypeError("complex numbers are not supported")
            dtype = self.data.dtype  # a Python number takes the tensor's dtype (float32 stays float32)
            if dtype.kind != "f" and isinstance(other, float):
                dtype = DEFAULT_FLOAT
            elif dtype.kind == "b" and not isinstance(other, (bool, np.bool_)):
                dtype = np.dtype(np.int64)
            return Tensor._make(array_module(self.data).asarray(other, dtype=dtype), False)
        return Tensor(other, device=self.device)

    def __add__(self, other):
        return ops.Add.apply(self, self._lift(other))

    def __radd__(self, other):
        return ops.Add.apply(self._lift(other), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, self._lift(other))

    def __rsub__(self, other):
        return ops.Sub.apply(self._lift(other), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._lift(other))

    def __rmul__(self, other):
        return ops.Mul.apply(self._lift(other), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other):
        return ops.Div.apply(self._lift(other), self)

    def __pow__(self, other):
        return ops.Pow.apply(self, self._lift(other))

    def __rpow__(self, other):
        return ops.Pow.apply(self._lift(other), self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(self._lift(other), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    # comparisons: boolean tensors, no gradient
    def _compare(self, other, fn) -> "Tensor":
        other = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor._make(fn(self.data, other), False)
        except ValueError as err:
            raise ShapeError(f"comparison: {err} (shapes {tuple(self.shape)} and {tuple(np.shape(other))})") from err

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    def __eq__(self, other):  # type: ignore[override]
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare(other, lambda a, b: a != b)

    __hash__ = object.__hash__  # tensors are hashed by identity, as in PyTorch

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=_index_arrays(index, self))


def _index_arrays(index, like: Tensor):
    """Replace Tensors (and lists) inside an index with backend arrays on the tensor's device."""
    xp = array_module(like.data)

    def convert(part):
        if isinstance(part, Tensor):
            return part.data
        if isinstance(part, list):
            return xp.asarray(part)
        if isinstance(part, np.ndarray) and xp is not np:
            return xp.asarray(part)
        return part

    if isinstance(index, tuple):
        return tuple(convert(p) for p in index)
    return convert(index)


autograd.Tensor = Tensor


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None) -> Tensor:
    """Same as Tensor(...), as torch.tensor."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


