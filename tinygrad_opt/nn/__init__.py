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
