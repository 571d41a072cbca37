"""Tensor methods grouped by kind, mixed into Tensor (tensor.py keeps storage, autograd and operators).

- shape.py: reshape, transpose, flatten, ... (ops that move elements)
- reduce.py: sum, mean, max, argmax, ... (ops that combine elements along dims)
- math.py: exp, log, sigmoid, softmax, clamp, ... (element-wise functions)
- arith.py: add/sub/mul/div under torch's names, reciprocal, square, bitwise/logical ops, isnan, ...
"""
from .arith import ArithmeticMethods
from .math import MathMethods
from .reduce import ReductionMethods
from .shape import ShapeMethods

__all__ = ["ArithmeticMethods", "MathMethods", "ReductionMethods", "ShapeMethods"]
