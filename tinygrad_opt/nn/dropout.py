"""Dropout: random zeroing while training, identity in evaluation."""
from ..tensor import Tensor
from . import functional as F
from .module import Module


class Dropout(Module):
    """Inverted dropout with probability p (kept elements are scaled by 1 / (1 - p))."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = F._check_probability(p, "Dropout")

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"
