"""Tensor: an array (numpy or cupy) plus what autograd needs to know about it."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from . import autograd
from . import ops
from . import dtypes
from .backend import (
    array_module, device_of, is_float_dtype, module_for_device, normalize_device, resolve_dtype, to_device,
)
from .autograd import version_counter
from .errors import ShapeError
from .indexing import split_index
from .inplace import InPlaceMethods, apply_inplace, value_tensor
from .methods.arith import refuse_bool_subtraction
from .methods import (
    ArithmeticMethods, CompositeMethods, InPlaceMathMethods, MathMethods, NewTensorMethods, ReductionMethods,
    ShapeMethods, TrigMethods,
)
from .ops.elementwise import floor_divide as floor_divide_arrays
from .promotion import floating_dtype, get_default_dtype, result_type


def _to_array(data: Any, dtype: Any, device: str):
    """Turn user data into a backend array with the engine's dtype policy.

    Python floats (and lists of them) take the default dtype (float32 unless
    tg.set_default_dtype changed it), NumPy/CuPy arrays keep their dtype, integers
    stay integer; an explicit dtype overrides all of that.
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = module_for_device(device)
    if dtype is not None:
        return xp.asarray(to_device(data, device) if hasattr(data, "dtype") else data, dtype=resolve_dtype(dtype))
    if hasattr(data, "dtype") and hasattr(data, "shape"):  # an ndarray (numpy or cupy) or numpy scalar
        return xp.asarray(to_device(np.asarray(data) if isinstance(data, np.generic) else data, device))
    array = np.asarray(data)
    if array.dtype == np.float64:  # came from Python floats: they take the default dtype
        array = array.astype(get_default_dtype(), copy=False)
    elif array.dtype == object:
        raise TypeError(f"Tensor: cannot build a tensor from {type(data).__name__} data {data!r:.80}")
    return to_device(array, device)


_ndarray = np.ndarray  # a module-level name: NumPy's module __getattr__ makes np.ndarray a dict lookup per use


class Tensor(ShapeMethods, ReductionMethods, MathMethods, ArithmeticMethods, TrigMethods, CompositeMethods,
             InPlaceMethods, InPlaceMathMethods, NewTensorMethods):
    """An n-dimensional array that records the ops applied to it for reverse-mode autodiff."""

    # _version_counter: shared by aliases of the same memory (None until first needed); the last three
    # are set only when used (read with getattr): the base of a basic-indexing view, a leaf's hooks, retain_grad
    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "name", "_edge", "__weakref__",
                 "_version_counter", "_base", "_hooks", "_retains_grad")
    __array_priority__ = 1000  # numpy scalars/arrays on the left defer to our reflected ops

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None):
        if device is None:
            device = device_of(data.data if isinstance(data, Tensor) else data)
        self.data = _to_array(data, dtype, normalize_device(device))
        self.grad: Tensor | None = None
        self._ctx = None
        self._edge = None  # autograd's cached graph edge for this tensor (non-leaves only)
        self._version_counter = None  # made on first use (autograd.version_counter)
        self.name: str | None = None
        self._hooks = None  # set, so backward's look for a leaf's hooks finds None without an AttributeError
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _make(cls, array, requires_grad: bool) -> "Tensor":
        """Wrap an array produced by an op, skipping the user-facing conversions."""
        t = object.__new__(cls)
        if type(array) is not _ndarray and (isinstance(array, np.generic) or not hasattr(array, "ndim")):
            array = np.asarray(array)  # NumPy returns scalars for 0-d results
        t.data = array
        t.grad = None
        t._ctx = None
        t._edge = None
        t.name = None
        t._requires_grad = requires_grad
        t._version_counter = None
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
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        """Iterate over the first dim (each item a view, as torch's), so `a, b = t` and `list(t)` work."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """np.asarray(t): a host copy of the data."""
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

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
            raise ShapeError(
                f"item(): only one-element tensors convert to a Python number, this one has shape {self.shape}"
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous (shape {self.shape})")
        return bool(self.item())

    def __index__(self) -> int:
        """A one-element integer tensor stands for a Python int (a list index, range(), ...), as torch's."""
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an index "
                            f"(this one is {self.data.dtype}, shape {self.shape})")
        return int(self.item())

    def tolist(self):
        return self.numpy().tolist()

    def clone(self) -> "Tensor":
        """A copy with its own memory; differentiable (the gradient passes straight through)."""
        return ops.Clone.apply(self)

    def detach(self) -> "Tensor":
        """A tensor sharing the data (and its version counter, as torch's), cut off from the graph."""
        out = Tensor._make(self.data, False)
        out._version_counter = version_counter(self)
        return out

    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        """As torch's: `.to(device)`, `.to(dtype)`, `.to(device, dtype)`, `.to(other)`; self if nothing changes.

        Moving between devices and floating-to-floating casts are differentiable; a cast
        to an integer or bool dtype cuts the graph (as in torch). `copy=True` always copies.
        """
        device, dtype, copy = _to_arguments(args, kwargs)
        t = self
        if device is not None and device != t.device:
            module_for_device(device)  # a clear error when CUDA is missing
            t = ops.ToDevice.apply(t, device=device)
        if dtype is not None and dtype != t.data.dtype:
            t = _cast(t, dtype)
        if copy and t is self:
            t = self.clone()
        return t

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def float(self) -> "Tensor":
        return self.to(dtypes.float32)

    def double(self) -> "Tensor":
        return self.to(dtypes.float64)

    def half(self) -> "Tensor":
        return self.to(dtypes.float16)

    def long(self) -> "Tensor":
        return self.to(dtypes.int64)

    def int(self) -> "Tensor":
        return self.to(dtypes.int32)

    def bool(self) -> "Tensor":
        return self.to(dtypes.bool)

    def type(self, dtype: Any = None) -> "Tensor | str":
        """Without an argument torch's type string ('torch.FloatTensor'); else `.to(dtype)`."""
        if dtype is None:
            return dtypes.type_name(self.data.dtype)
        if isinstance(dtype, str) and dtypes.from_type_name(dtype) is not None:
            dtype = dtypes.from_type_name(dtype)
        return self.to(resolve_dtype(dtype))

    def _floating(self) -> "Tensor":
        """Self if floating, else self cast to the default dtype: the input of a floating op (exp, sigmoid...)."""
        if self.data.dtype.kind == "f":
            return self
        return Tensor._make(self.data.astype(get_default_dtype()), False)  # integer tensors carry no gradient

    def _promoted_with(self, other: Any) -> tuple:
        """(self, other) as tensors of torch's result dtype: the methods' access to the operators' promotion."""
        return _promoted(self, other)

    # ---- autograd -------------------------------------------------------
    def _seed_gradient(self, gradient=None):
        """The array that starts backward: ones for a scalar, else the given gradient."""
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a tensor of shape {tuple(self.shape)} needs a gradient: pass "
                    "gradient= with that shape, or reduce it to a scalar first (e.g. .sum() or .mean())"
                )
            data = self.data
            if type(data) is _ndarray:  # np.ones is a Python function; an empty array filled is the same, faster
                ones = np.empty(data.shape, data.dtype)
                ones.fill(1)
                return ones
            return array_module(data).ones(data.shape, dtype=data.dtype)
        g = gradient.data if isinstance(gradient, Tensor) else gradient
        g = array_module(self.data).asarray(to_device(g, self.device) if hasattr(g, "shape") else g, dtype=self.dtype)
        if g.shape != self.shape:
            raise ShapeError(
                f"backward(): gradient has shape {tuple(g.shape)} but the tensor has shape {tuple(self.shape)}"
            )
        return g

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (graph freed unless retain_graph).

        create_graph=True raises NotImplementedError (see README's differences from PyTorch).
        """
        if create_graph:
            autograd.refuse_create_graph("backward")
        if not self._requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation had "
                "requires_grad=True (or it ran under no_grad)"
            )
        autograd.run_backward(self, self._seed_gradient(gradient), bool(retain_graph))

    # ---- operators ------------------------------------------------------
    def __add__(self, other):
        return ops.Add.apply(*_promoted(self, other))

    def __radd__(self, other):
        b, a = _promoted(self, other)
        return ops.Add.apply(a, b)

    def __sub__(self, other):
        if self.data.dtype.kind == "b" or type(other) is bool or (
                type(other) is Tensor and other.data.dtype.kind == "b"):
            refuse_bool_subtraction()  # as torch's `-`
        return ops.Sub.apply(*_promoted(self, other))

    def __rsub__(self, other):
        if self.data.dtype.kind == "b" or type(other) is bool:
            refuse_bool_subtraction()
        b, a = _promoted(self, other)
        return ops.Sub.apply(a, b)

    def __mul__(self, other):
        if type(other) is not Tensor and _half_and_number(self, other):
            return ops.MulNumber.apply(self, factor=float(other))  # torch's float32 opmath (ops/scalar_opmath.py)
        return ops.Mul.apply(*_promoted(self, other))

    def __rmul__(self, other):
        if type(other) is not Tensor and _half_and_number(self, other):
            return ops.MulNumber.apply(self, factor=float(other))
        b, a = _promoted(self, other)
        return ops.Mul.apply(a, b)

    def __truediv__(self, other):
        if type(other) is not Tensor and _half_and_number(self, other):
            return ops.DivNumber.apply(self, divisor=float(other))
        return ops.Div.apply(*_promoted(self, other, floating=True))

    def __rtruediv__(self, other):
        if type(other) is not Tensor and _half_and_number(self, other):
            inverse = ops.Reciprocal.apply(self)  # torch: c / x is reciprocal(x) * c
            return inverse if other == 1 else ops.MulNumber.apply(inverse, factor=float(other))
        b, a = _promoted(self, other, floating=True)
        return ops.Div.apply(a, b)

    def __pow__(self, other):
        if type(other) is int and other < 0 and self.data.dtype.kind in "biu":
            raise RuntimeError(f"Integers to negative integer powers are not allowed (as torch): {self.data.dtype} "
                               f"tensor ** {other}; convert the tensor first, e.g. x.double() ** {other}")
        return ops.Pow.apply(*_promoted(self, other))

    def __rpow__(self, other):
        b, a = _promoted(self, other)
        if type(other) is not Tensor and _half_and_number(self, other):
            return ops.Pow.apply(a, b, number_base=float(other))  # the gradient's log(c) of c itself, as torch's
        return ops.Pow.apply(a, b)

    def __mod__(self, other):
        return ops.Remainder.apply(*_promoted(self, other))

    def __rmod__(self, other):
        b, a = _promoted(self, other)
        return ops.Remainder.apply(a, b)

    def __floordiv__(self, other):  # no gradient, as in torch (floor_divide has no derivative)
        a, b = _promoted(self, other)
        return Tensor._make(_checked(floor_divide_arrays, a, b, "floor_divide"), False)

    def __rfloordiv__(self, other):
        b, a = _promoted(self, other)
        return Tensor._make(_checked(floor_divide_arrays, a, b, "floor_divide"), False)

    def __matmul__(self, other):
        return ops.MatMul.apply(*_matmul_operands(self, other))

    def __rmatmul__(self, other):
        b, a = _matmul_operands(self, other)
        return ops.MatMul.apply(a, b)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    # comparisons: boolean tensors, no gradient
    def _compare(self, other, fn) -> "Tensor":
        if not isinstance(other, (Tensor, numbers.Number)):
            other = Tensor(other, device=self.device)
        return Tensor._make(_checked(fn, self, other, "comparison"), False)

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
        """torch's indexing: basic, integer-array, boolean and mixed; a basic index gives a view sharing memory."""
        index = split_index(_index_arrays(index, self), self.data.ndim)
        out = ops.GetItem.apply(self, index=index)
        if index.advanced is None:
            out._version_counter = version_counter(self)
            out._base = self
        return out

    def __setitem__(self, index, value) -> None:
        """x[index] = value (torch's rules; recorded when x or value is in a graph, see inplace.py)."""
        index = split_index(_index_arrays(index, self), self.data.ndim)

        def direct(data):
            ops.assign(data, index, value_tensor(value, self).data)

        apply_inplace(self, "setitem", lambda t: ops.SetItem.apply(t, value_tensor(value, t), index=index),
                      (value,), any_cast=True, direct=direct)


def _index_arrays(index, like: Tensor):
    """Replace Tensors (and lists) inside an index with backend arrays on the tensor's device."""
    xp = array_module(like.data)

    def convert(part):
        if isinstance(part, Tensor):
            data = part.data if xp is np or array_module(part.data) is xp else xp.asarray(part.data)
            return data.astype(bool) if data.dtype == np.uint8 else data  # torch reads a uint8 index as a mask
        if isinstance(part, list):
            return xp.asarray(part, dtype=np.int64) if not part else xp.asarray(part)
        if isinstance(part, np.ndarray) and xp is not np:
            return xp.asarray(part)
        return part

    if isinstance(index, tuple):
        return tuple(convert(p) for p in index)
    return convert(index)


def _promoted(a: Tensor, other: Any, floating: bool = False) -> tuple:
    """(a, b): `other` as a Tensor, both in the dtype torch's promotion (torch.result_type) gives the pair.

    `floating` is for ops whose result is always floating (true division): an integer
    result type becomes the default dtype. Casts of tensors that require grad are recorded.
    """
    if isinstance(other, Tensor):
        b = other
        dtype = a.data.dtype
        if dtype is b.data.dtype or dtype == b.data.dtype:  # the common case: nothing to promote
            if not floating or dtype.kind == "f":
                return a, b
            dtype = get_default_dtype()
        else:
            dtype = result_type(a, b)
            if floating:
                dtype = floating_dtype(dtype)
    elif type(other) in _PYTHON_SCALARS or isinstance(other, numbers.Number):
        # a Python scalar takes the tensor's dtype unless its category (bool < int < float) is higher
        dtype = a.data.dtype
        kind = dtype.kind
        scalar = type(other)
        if scalar is float or (scalar is not int and scalar is not bool and _is_real(other)):
            if kind != "f":
                dtype = get_default_dtype()
        elif scalar is int or (scalar is not bool and isinstance(other, numbers.Integral)):
            if kind == "b":
                dtype = np.dtype(np.int64)
        if floating and dtype.kind != "f":
            dtype = get_default_dtype()
        try:
            b = Tensor._make(array_module(a.data).asarray(other, dtype=dtype), False)
        except OverflowError:  # an int out of the integer dtype's range wraps around, as torch's cast does
            b = Tensor._make(array_module(a.data).asarray(np.array(other).astype(dtype)), False)
        if dtype is a.data.dtype or dtype == a.data.dtype:
            return a, b
        return _cast(a, dtype), b
    else:
        return _promoted(a, Tensor(other, device=a.device), floating)
    if a.data.dtype != dtype:
        a = _cast(a, dtype)
    if b.data.dtype != dtype:
        b = _cast(b, dtype)
    return a, b


_HALF = np.dtype(np.float16)  # float16 with a Python number: torch's float32 opmath (ops/scalar_opmath.py)


def _half_and_number(t: Tensor, other: Any) -> bool:
    """t is float16 and other a Python or NumPy int or float (not bool): what torch wraps as a number and
    computes with in float32 opmath."""
    return t.data.dtype is _HALF and (type(other) is float or type(other) is int
                                      or isinstance(other, (float, np.floating, np.integer)))


_PYTHON_SCALARS = (float, int, bool)  # checked by type first: isinstance against numbers' ABCs is slow


def _is_real(value: Any) -> bool:
    """A real non-integer scalar (a NumPy float, ...); complex numbers are refused here."""
    if isinstance(value, (bool, np.bool_, numbers.Integral)):
        return False
    if isinstance(value, numbers.Real):
        return True
    raise TypeError(f"complex numbers are not supported (got {value!r})")


def _matmul_operands(a: Tensor, other: Any) -> tuple:
    """(a, b) for matmul: torch requires one dtype; a non-Tensor operand takes a's dtype."""
    if not isinstance(other, Tensor):
        return a, Tensor(other, device=a.device, dtype=a.data.dtype)
    if a.data.dtype != other.data.dtype:
        raise TypeError(
            f"matmul: both operands must have the same dtype (as in torch), got {a.data.dtype} and "
            f"{other.data.dtype}; convert one with .to(dtype), .float() or .double()"
        )
    return a, other


def _cast(t: Tensor, dtype: np.dtype) -> Tensor:
    """t converted to dtype; recorded (differentiable) between floating dtypes, else cut from the graph."""
    if t.data.dtype == dtype:
        return t
    if dtype.kind == "f" and t.data.dtype.kind == "f":
        return ops.Cast.apply(t, dtype=dtype)
    return Tensor._make(t.data.astype(dtype), False)


def _checked(fn, a: Tensor, b: Any, op: str):
    """fn(a.data, b.data) for ops without a Function; a broadcast error becomes a ShapeError naming op and shapes."""
    other = b.data if isinstance(b, Tensor) else b
    try:
        return fn(a.data, other)
    except ValueError as err:
        raise ShapeError(f"{op}: {err} (shapes {tuple(a.shape)} and {tuple(np.shape(other))})") from err


def _to_arguments(args: tuple, kwargs: dict) -> tuple:
    """Parse Tensor.to's overloads into (device or None, dtype or None, copy)."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"to(): unexpected keyword argument(s) {sorted(unknown)}")
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    if len(args) > 2:
        raise TypeError(f"to(): expected at most (device, dtype), got {len(args)} positional arguments")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.data.dtype
        elif isinstance(arg, str) and _is_device_name(arg):
            device = arg
        elif isinstance(arg, bool):  # torch's to(dtype, non_blocking) positional flag
            continue
        else:
            dtype = arg
    device = None if device is None else normalize_device(device)
    dtype = None if dtype is None else resolve_dtype(dtype)
    return device, dtype, bool(kwargs.get("copy", False))


def _is_device_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in ("cpu", "cuda") or lowered.startswith("cuda:")


autograd.Tensor = Tensor


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None) -> Tensor:
    """Same as Tensor(...), as torch.tensor."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


