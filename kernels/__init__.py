"""Fused hot loops behind one registry (installed as tinygrad_opt.kernels).

Every fused kernel has three versions with one signature:
  reference.py  plain NumPy/CuPy array expressions: the ground truth, and the teaching copy
  cpu.py        Numba @njit loops for NumPy arrays (compiled lazily, cached on disk)
  gpu.py        CuPy kernels for CUDA arrays
`get(name, array)` returns the version to run for the array's device under the
current mode, set by `set_kernels("auto" | "numba" | "reference")`.
"""
from .registry import available, get, get_mode, register, set_kernels

__all__ = ["available", "get", "get_mode", "register", "set_kernels"]
