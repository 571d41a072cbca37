"""Element-wise activation layers (stateless wrappers of the Tensor methods and functional forms)."""
from __future__ import annotations

import warnings

from ..tensor import Tensor
from . import functional_activation
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


# ---- activations with options (nn.functional's forms hold the formulas) ----------------------
class _Activation(Module):
    """An element-wise activation; `inplace` is accepted for torch code and computes out of place."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(_Activation):
    """y = x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(_Activation):
    """y = x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(_Activation):
    """y = scale * elu(x, alpha), the self-normalising constants of Klambauer et al."""

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.selu(input)


class GELU(Module):
    """y = x * Phi(x) (approximate="none", exact) or torch's tanh approximation ("tanh")."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in functional_activation.GELU_APPROXIMATIONS:
            raise ValueError(f"GELU: approximate={approximate!r} is not one of 'none', 'tanh'")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    """y = x * sigmoid(x)."""

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.silu(input)


class Mish(_Activation):
    """y = x * tanh(softplus(x))."""

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.mish(input)


class Softplus(Module):
    """y = log(1 + exp(beta * x)) / beta, linear where beta * x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(_Activation):
    """y = min(max(x, min_val), max_val); torch's min_value/max_value spellings are accepted too."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__(inplace)
        self.min_val = min_val if min_value is None else min_value
        self.max_val = max_val if max_value is None else max_value
        if self.max_val <= self.min_val:
            raise ValueError(f"{type(self).__name__}: max_val ({self.max_val}) must be greater than "
                             f"min_val ({self.min_val})")

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """y = min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LogSigmoid(Module):
    """y = log(sigmoid(x)), stable for every x."""

    def forward(self, input: Tensor) -> Tensor:
        return functional_activation.logsigmoid(input)


def _legacy_softmax_dim(ndim: int, name: str) -> int:
    """torch's choice when Softmax(dim=None): 0 for 0-, 1- and 3-d inputs, else 1 (with its warning)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """y = exp(x) / sum(exp(x)) along `dim`."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _legacy_softmax_dim(input.ndim, "softmax")
        return input.softmax(axis=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = x - logsumexp(x) along `dim`."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _legacy_softmax_dim(input.ndim, "log_softmax")
        return input.log_softmax(axis=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
