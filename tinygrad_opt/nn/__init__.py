"""Neural-network building blocks with PyTorch's names: `from tinygrad_opt import nn`."""
from . import functional, init, utils
from .activation import ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm1d
from .container import Sequential
from .dropout import Dropout
from .flatten import Flatten
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "Linear", "ReLU", "Sigmoid", "Tanh", "Dropout", "Flatten", "Sequential",
    "BatchNorm1d", "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
    "functional", "init", "utils",
]

# image layers (convolution, pooling, BatchNorm2d, Dropout2d)
from .batchnorm2d import BatchNorm2d  # noqa: E402
from .conv import Conv2d  # noqa: E402
from .dropout2d import Dropout2d  # noqa: E402
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d  # noqa: E402

__all__ += ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "Dropout2d", "MaxPool2d"]
