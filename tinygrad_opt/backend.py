"""Devices, array modules, dtype policy and the engine's random generators.

A Tensor's device is wherever its array lives: numpy.ndarray means "cpu",
cupy.ndarray means "cuda". Nothing here keeps a global "current device".
"""
from __future__ import annotations

from typing import Any

import numpy as np

# the hot functions below use module-level names: `np.ndarray` is a dict lookup per use (NumPy's module
# __getattr__ keeps Python 3.11 from caching its attributes)
_ndarray, _generic = np.ndarray, np.generic

_cupy: Any = None  # the cupy module once it has been imported successfully
_cupy_checked = False

GPU_INSTALL_HINT = (
    'install the GPU extra with `pip install "tinygrad_opt[gpu]"` (CuPy for CUDA 12) '
    "on a machine with an NVIDIA GPU and driver"
)


def cupy_module():
    """Return cupy if it imports and sees a CUDA device, else None (checked once)."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy  # noqa: PLC0415 - optional dependency, imported on demand

            if cupy.cuda.runtime.getDeviceCount() > 0:
                _cupy = cupy
        except Exception:  # ImportError, or a CUDA runtime error without a driver
            _cupy = None
    return _cupy


def cuda_is_available() -> bool:
    """True when CuPy is installed and a CUDA device is visible."""
    return cupy_module() is not None


def normalize_device(device: Any) -> str:
    """Map "cpu" / "cuda" / "cuda:0" to "cpu" or "cuda"; anything else is an error."""
    name = str(device).lower()
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        return "cuda"
    raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'")


def require_cuda() -> Any:
    cp = cupy_module()
    if cp is None:
        raise RuntimeError(f"device 'cuda' was requested but CUDA is not available: {GPU_INSTALL_HINT}")
    return cp


def _cupy_if_device_array(array: Any):
    """cupy when `array` is a CuPy array, else None.

    CuPy is detected lazily (cupy_module), so an array made by CuPy before anything in
    the engine asked for CUDA must trigger that check here: otherwise a
    `Tensor(cupy_array)` built first would be taken for a host array.
    """
    cp = _cupy if _cupy_checked else (cupy_module() if type(array).__module__.startswith("cupy") else None)
    return cp if cp is not None and isinstance(array, cp.ndarray) else None


def device_of(array: Any) -> str:
    """The device an array lives on."""
    if type(array) is _ndarray or isinstance(array, (_ndarray, _generic)):
        return "cpu"
    return "cpu" if _cupy_if_device_array(array) is None else "cuda"


def array_module(array: Any):
    """numpy for host arrays, cupy for device arrays (Chainer's get_array_module)."""
    if type(array) is _ndarray or (_cupy_checked and _cupy is None):
        return np
    return _cupy_if_device_array(array) or np


def broadcast_to(array: Any, shape: tuple) -> Any:
    """A read-only view of `array` broadcast to `shape`, like xp.broadcast_to.

    Backward passes broadcast a reduced gradient back to the input's shape once per
    sum/mean; for small NumPy arrays np.broadcast_to's argument handling costs several
    times the view itself, so the view is built directly: stride 0 along every
    broadcast axis, the array's own stride elsewhere. Anything unusual (CuPy arrays,
    non-contiguous or empty arrays, shapes that do not broadcast) goes to xp.broadcast_to,
    which also raises its own error for a bad shape.
    """
    if type(array) is not _ndarray or not array.flags.c_contiguous or not array.size:
        return array_module(array).broadcast_to(array, shape)
    extra = len(shape) - array.ndim
    if extra < 0:
        return np.broadcast_to(array, shape)
    strides = [0] * extra
    for want, have, stride in zip(shape[extra:], array.shape, array.strides):
        if want == have:
            strides.append(stride)
        elif have == 1:
            strides.append(0)
        else:
            return np.broadcast_to(array, shape)
    view = _ndarray(shape, array.dtype, array, 0, strides)
    view.setflags(write=False)  # as np.broadcast_to: elements share memory, a write would hit many
    return view


def module_for_device(device: str):
    return np if device == "cpu" else require_cuda()


def to_device(array: Any, device: str) -> Any:
    """Copy an array to `device` ("cpu" or "cuda"); returns it unchanged if already there."""
    if device == "cpu":
        if isinstance(array, np.ndarray):
            return array
        return array.get() if hasattr(array, "get") else np.asarray(array)
    cp = require_cuda()
    return array if isinstance(array, cp.ndarray) else cp.asarray(array)


# ---- dtypes -------------------------------------------------------------

_DTYPE_NAMES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32, "int16": np.int16, "short": np.int16, "int8": np.int8,
    "uint8": np.uint8, "bool": np.bool_,
}


def resolve_dtype(dtype: Any) -> np.dtype:
    """Accept "float32", "float64", a NumPy dtype or type; return a numpy.dtype."""
    if isinstance(dtype, str):
        key = dtype.lower().replace("torch.", "").replace("np.", "").replace("numpy.", "")
        if key not in _DTYPE_NAMES:
            _refuse_bfloat16(dtype)
            raise TypeError(f"unknown dtype {dtype!r}: use one of {sorted(_DTYPE_NAMES)} or a NumPy dtype")
        return np.dtype(_DTYPE_NAMES[key])
    try:
        return np.dtype(dtype)
    except TypeError as err:
        _refuse_bfloat16(dtype)
        raise TypeError(f"unknown dtype {dtype!r}: use 'float32', 'float64' or a NumPy dtype") from err


def _refuse_bfloat16(dtype: Any) -> None:
    """torch has bfloat16; NumPy, whose arrays the engine computes on, has none: say so by name."""
    if str(dtype).lower().endswith(("bfloat16", "bf16")):
        raise TypeError(f"dtype {dtype!r} is not supported: the engine's arrays are NumPy's, which has no bfloat16 "
                        "(README, Differences from PyTorch); use 'float16' or 'float32'")


def is_float_dtype(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "f"


# ---- random generators ----------------------------------------------------

_host_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed every random source of the engine: init, dropout, shuffling, on every device."""
    global _host_rng
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    _host_rng = np.random.default_rng(int(seed))
    cp = cupy_module()
    if cp is not None:
        cp.random.seed(int(seed) % 2**32)


def host_rng() -> np.random.Generator:
    """The engine's host generator (init, dropout seeds, shuffling)."""
    return _host_rng


def random_module(device: str):
    """Something with `.random(shape)`/`.standard_normal(shape)` for `device`."""
    if device == "cpu":
        return _host_rng
    return require_cuda().random


def get_rng_state() -> dict:
    """Snapshot of the engine's host generator, for checkpoints that must resume bit-for-bit.

    Every host-side draw (init, shuffling, the seeds of dropout masks) comes from this one
    generator, so its state is all a resume needs on the CPU. CuPy exposes no portable
    generator state: a resumed GPU run draws GPU-side numbers afresh.
    """
    return {"host": _host_rng.bit_generator.state}


def set_rng_state(state: dict) -> None:
    """Restore a get_rng_state() snapshot (keys written by older versions are ignored)."""
    _host_rng.bit_generator.state = state["host"]
