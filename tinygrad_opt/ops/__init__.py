"""One small Function per op, grouped by kind. Each backward states its formula."""
from .activation import LogSoftmax, Relu, Sigmoid, Softmax, Tanh
from .elementwise import Abs, Add, Clip, Div, Exp, Log, Mul, Neg, Pow, Sqrt, Sub
from .matmul import MatMul
from .reduce import Max, Mean, Sum
from .shape import GetItem, Reshape, ToDevice, Transpose

__all__ = [
    "Abs", "Add", "Clip", "Div", "Exp", "GetItem", "Log", "LogSoftmax", "MatMul", "Max", "Mean",
    "Mul", "Neg", "Pow", "Relu", "Reshape", "Sigmoid", "Softmax", "Sqrt", "Sub", "Sum", "Tanh",
    "ToDevice", "Transpose",
]
from .linear import Linear  # noqa: E402
from .loss import BCEWithLogits, CrossEntropy, MSE  # noqa: E402
from .normalization import BatchNorm  # noqa: E402
from .divergence import KLDiv  # noqa: E402
from .dropout import Dropout  # noqa: E402
from .mask import ApplyMask, apply_mask  # noqa: E402
