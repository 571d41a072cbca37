"""Neural-network building blocks with PyTorch's names: `from tinygrad_opt import nn`."""
from . import functional, init, utils
from .activation import (
    ELU, GELU, SELU, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
    Tanh,
)
from .batchnorm import BatchNorm1d
from .container import Identity, ModuleDict, ModuleList, Sequential
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten, Unflatten
from .layernorm import LayerNorm
from .linear import Linear
from .loss import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
from .module import Module
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "Linear", "ReLU", "Sigmoid", "Tanh", "Dropout", "Flatten", "Sequential",
    "BatchNorm1d", "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
    "functional", "init", "utils",
]
__all__ += [  # nnlayers
    "Identity", "ModuleList", "ModuleDict", "Unflatten", "LayerNorm", "Embedding",
    "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Mish", "Softplus", "Hardtanh", "ReLU6", "LogSigmoid",
    "Softmax", "LogSoftmax", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "KLDivLoss",
]

# image layers (convolution, pooling, BatchNorm2d, Dropout2d)
from .batchnorm2d import BatchNorm2d  # noqa: E402
from .conv import Conv2d  # noqa: E402
from .dropout2d import Dropout2d  # noqa: E402
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d  # noqa: E402

__all__ += ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "Dropout2d", "MaxPool2d"]

from .activation_composite import (  # noqa: E402
    CELU, GLU, CosineSimilarity, Hardsigmoid, Hardswish, PairwiseDistance, Softmin, Softsign, Tanhshrink, Threshold,
)

__all__ += ["CELU", "GLU", "CosineSimilarity", "Hardsigmoid", "Hardswish", "PairwiseDistance", "Softmin",
            "Softsign", "Tanhshrink", "Threshold"]

# torch's shrink activations
from .activation_composite import Hardshrink, Softshrink  # noqa: E402

__all__ += ["Hardshrink", "Softshrink"]

# activations with a learned or random slope
from .activation_parametric import PReLU, RReLU  # noqa: E402

__all__ += ["PReLU", "RReLU"]
