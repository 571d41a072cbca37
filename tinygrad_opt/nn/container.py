"""Sequential: a chain of modules applied in order."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

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
        for module in self._modules.values():
            input = module(input)
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
