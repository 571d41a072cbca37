"""Tensor methods grouped by kind, mixed into Tensor (tensor.py keeps storage, autograd and operators).

- shape.py: reshape, transpose, flatten, ... (ops that move elements)
- reduce.py: sum, mean, max, argmax, ... (ops that combine elements along dims)
- math.py: exp, log, sigmoid, softmax, clamp, ... (element-wise functions)
"""
from .math import MathMethods
from .reduce import ReductionMethods
from .shape import ShapeMethods

__all__ = ["MathMethods", "ReductionMethods", "ShapeMethods"]
