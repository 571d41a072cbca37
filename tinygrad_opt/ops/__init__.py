"""One small Function per op, grouped by kind. Each backward states its formula."""
from .activation import LogSoftmax, Relu, Sigmoid, Softmax, Tanh
from .cast import Cast, Clone, CopyInto
from .divergence import KLDiv
from .dropout import Dropout
from .elementwise import Abs, Add, Clip, Div, Exp, Fmod, Log, Mul, Neg, Pow, Remainder, Sqrt, Sub
from .linear import Linear
from .loss import MSE, BCEWithLogits, CrossEntropy
from .mask import ApplyMask, apply_mask
from .matmul import MatMul
from .normalization import BatchNorm
from .reduce import Max, Mean, Min, Sum
from .shape import GetItem, Reshape, SetItem, ToDevice, Transpose, assign

# nn layers and losses (nnlayers)
from .embedding import Embedding
from .loss import BCE
from .nll import NLLLoss
from .layer_norm import LayerNorm
from .rectifier import Elu, Hardtanh, LeakyRelu
from .regression_loss import L1, Huber, SmoothL1
from .smooth_activation import Gelu, LogSigmoid, Mish, Silu, Softplus

# the PyTorch-parity op surface (shape, element-wise, reduction and selection ops)
from .binary import ClampTensor, MaskedFill, Maximum, Minimum, Where  # noqa: E402
from .layout import Cat, Expand, Flip, Repeat, Roll, Slice, Stack, Triangle  # noqa: E402
from .scan import CumProd, CumSum  # noqa: E402
from .select import Gather, IndexSelect, Scatter, ScatterAdd  # noqa: E402
from .statistics import LogSumExp, Norm, Prod, Std, Var  # noqa: E402
from .unary import Cos, Expm1, Log1p, RoundDecimals, Rsqrt, Sin, Step  # noqa: E402
from .trig import (  # noqa: E402
    Acos, Acosh, Asin, Asinh, Atan, Atan2, Atanh, Cosh, Exp2, Hypot, Log2, Log10, LogAddExp, Sinh, Tan,
    Xlogy,
)

__all__ = [
    "Abs", "Add", "Cast", "Clone", "CopyInto", "Remainder", "SetItem", "assign",
    "ApplyMask", "BCEWithLogits", "BatchNorm", "Clip", "CrossEntropy", "Div", "Dropout",
    "Exp", "GetItem", "KLDiv", "Linear", "Log", "LogSoftmax", "MSE", "MatMul", "Max", "Mean", "Mul",
    "Neg", "Pow", "Relu", "Reshape", "Sigmoid", "Softmax", "Sqrt", "Sub", "Sum", "Tanh", "ToDevice",
    "Transpose", "apply_mask",
]
__all__ += [
    "BCE", "Elu", "Embedding", "Gelu", "Hardtanh", "Huber", "L1", "LayerNorm", "LeakyRelu", "LogSigmoid",
    "Mish", "NLLLoss", "Silu", "SmoothL1", "Softplus",
]

# image ops (convolution, pooling, channel dropout)
from .conv import Conv2d  # noqa: E402
from .feature_dropout import FeatureDropout  # noqa: E402
from .pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d  # noqa: E402

__all__ += ["AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "FeatureDropout", "MaxPool2d"]

from .linear import LinearReLU  # noqa: E402  (Linear + ReLU as one node: nn.Sequential's fused pair)
from .linear_relu_linear import LinearReLULinear  # noqa: E402  (and a thin Linear after them: a classifier's head)

__all__ += ["LinearReLU", "LinearReLULinear"]

__all__ += [
    "Min", "ClampTensor", "MaskedFill", "Maximum", "Minimum", "Where", "Cat", "Expand", "Flip",
    "Repeat", "Roll", "Slice", "Stack", "Triangle", "CumProd", "CumSum", "Gather", "IndexSelect", "Scatter",
    "ScatterAdd",
    "LogSumExp", "Norm", "Prod", "Std", "Var", "Cos", "Expm1", "Log1p", "RoundDecimals", "Rsqrt", "Sin", "Step",
]
from .pad import ConstantPad, IndexPad  # noqa: E402

__all__ += ["ConstantPad", "IndexPad"]

from .batch_norm_channels import BatchNormChannels  # noqa: E402  (BatchNorm2d, and BatchNorm2d + ReLU fused)

__all__ += ["BatchNormChannels"]

# ops with their own backward where a composition's gradient differed from torch's at the edges
from .copysign import Copysign, Logit  # noqa: E402
from .elementwise import ClampMinValue, TimesZero  # noqa: E402
from .lerp import Lerp  # noqa: E402
from .rectifier import Celu, Hardswish  # noqa: E402

__all__ += ["Celu", "ClampMinValue", "Copysign", "Hardswish", "Lerp", "Logit", "TimesZero"]

# order statistics and NaN-skipping reductions (methods/order_statistics.py)
from .order_statistics import MedianAll, NanMean, NanSum  # noqa: E402
from .scan import LogCumSumExp  # noqa: E402

__all__ += ["LogCumSumExp", "MedianAll", "NanMean", "NanSum"]

from .special import Erf, Erfc, Erfinv  # noqa: E402

__all__ += ["Erf", "Erfc", "Erfinv"]

from .rectifier import Hardsigmoid  # noqa: E402

__all__ += ["Hardsigmoid"]

from .rectifier import Hardshrink, Softshrink  # noqa: E402

__all__ += ["Hardshrink", "Softshrink"]

from .quantile import Quantile  # noqa: E402

__all__ += ["Quantile"]

from .parametric_rectifier import Prelu, Rrelu  # noqa: E402

__all__ += ["Prelu", "Rrelu"]

from .scalar_opmath import AddScaled, DivNumber, MulNumber, Reciprocal  # noqa: E402

__all__ += ["AddScaled", "DivNumber", "MulNumber", "Reciprocal"]

from .smooth_activation import Glu  # noqa: E402

__all__ += ["Glu"]
