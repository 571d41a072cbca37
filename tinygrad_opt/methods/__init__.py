"""Tensor methods grouped by kind, mixed into Tensor (tensor.py keeps storage, autograd and operators).

- shape.py: reshape, transpose, flatten, ... (ops that move elements)
- reduce.py: sum, mean, max, argmax, ... (ops that combine elements along dims)
- math.py: exp, log, sigmoid, softmax, clamp, ... (element-wise functions)
- arith.py: add/sub/mul/div under torch's names, reciprocal, square, bitwise/logical ops, isnan, ...
- inplace_math.py: relu_, exp_, masked_fill_, ... (in-place forms of the element-wise methods)
- trig.py: tan, sinh, asin, log2, exp2, atan2, hypot, logaddexp, ... (the further element-wise functions)
- composite.py: eq/lt/..., mm/mv/dot/outer/addmm, lerp, fmod, diagonal, tile, ... (compositions of methods)
- new.py: new_zeros, new_ones, new_full, new_empty, new_tensor
"""
from .arith import ArithmeticMethods
from .composite import CompositeMethods
from .inplace_math import InPlaceMathMethods
from .math import MathMethods
from .new import NewTensorMethods
from .reduce import ReductionMethods
from .shape import ShapeMethods
from .trig import TrigMethods

__all__ = ["ArithmeticMethods", "CompositeMethods", "InPlaceMathMethods", "MathMethods", "NewTensorMethods",
           "ReductionMethods", "ShapeMethods", "TrigMethods"]
