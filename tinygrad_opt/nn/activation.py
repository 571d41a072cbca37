"""Element-wise activation layers (stateless wrappers of the Tensor methods)."""
from ..tensor import Tensor
from .module import Module


class ReLU(Module):
    """y = max(x, 0)."""

    def forward(self, input: Tensor) -> Tensor:
        return input.relu()


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x)), computed stably."""

    def forward(self, input: Tensor) -> Tensor:
        return input.sigmoid()


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, input: Tensor) -> Tensor:
        return input.tanh()
