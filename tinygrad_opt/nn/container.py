"""Sequential: a chain of modules applied in order."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

from .. import autograd, ops
from ..tensor import Tensor
from .activation import ReLU
from .linear import Linear
from .module import Module


class Sequential(Module):
    """Runs its children in order; children are named "0", "1", ... (or by an OrderedDict's keys)."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: argument {index} is a {type(module).__name__}, not a Module")
                self.add_module(str(index), module)

    def forward(self, input: Any) -> Any:
        modules = tuple(self._modules.values())
        n, i = len(modules), 0
        while i < n:
            module = modules[i]
            if i + 1 < n and type(module) is Linear and type(modules[i + 1]) is ReLU:
                fused = _linear_relu(module, modules[i + 1], input)
                if fused is not None:
                    input, i = fused, i + 2
                    continue
            input = module(input)
            i += 1
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"Sequential: index {index} is out of range for {n} modules")
        return list(self._modules.values())[index % n]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


def _linear_relu(linear: Linear, relu: ReLU, input: Any) -> Tensor | None:
    """Linear then ReLU as one fused node (ops.LinearReLU: the same numbers, two passes over the
    activations fewer), or None where the pair must run as written: a hook on either module
    (pruning's reparametrisation is one), no bias, a forward replaced on the instance, or a
    tracer recording the graph layer by layer."""
    if (linear.bias is None or linear._forward_pre_hooks or linear._forward_hooks or relu._forward_pre_hooks
            or relu._forward_hooks or "forward" in linear.__dict__ or "forward" in relu.__dict__
            or autograd._tracers or not isinstance(input, Tensor)):
        return None
    return ops.LinearReLU.apply(input, linear.weight, linear.bias)
