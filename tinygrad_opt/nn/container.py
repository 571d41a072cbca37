"""Containers: Sequential (a chain applied in order), ModuleList, ModuleDict, and Identity."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Mapping

from .. import autograd, ops
from ..kernels import head_backward
from ..tensor import Tensor
from .activation import ReLU
from .batchnorm2d import BatchNorm2d
from .linear import Linear, weight_and_bias
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
            if i + 2 < n and type(module) is Linear and type(modules[i + 1]) is ReLU and _is_head(modules, i + 2):
                fused = _linear_relu_linear(module, modules[i + 1], modules[i + 2], input)
                if fused is not None:
                    input, i = fused, i + 3
                    continue
            if i + 1 < n and type(module) is Linear and type(modules[i + 1]) is ReLU:
                fused = _linear_relu(module, modules[i + 1], input)
                if fused is not None:
                    input, i = fused, i + 2
                    continue
            if i + 1 < n and type(module) is BatchNorm2d and type(modules[i + 1]) is ReLU:
                fused = _batchnorm_relu(module, modules[i + 1], input)
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


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored (as torch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


def _index_in(index: Any, n: int, owner: str) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"{owner} indices must be integers or slices, not {type(index).__name__}")
    if not -n <= index < n:
        raise IndexError(f"{owner}: index {index} is out of range for {n} modules")
    return index % n


class ModuleList(Module):
    """A list of modules whose parameters the parent sees (children named "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(_index_in(index, len(self), "ModuleList"))]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(_index_in(index, len(self), "ModuleList")), module)

    def __delitem__(self, index: int | slice) -> None:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[_index_in(index, len(self), "ModuleList")]
        self._modules.clear()  # renumber, as torch does, so names stay "0".."n-1"
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + list(other))

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, (Module, str)) or not hasattr(modules, "__iter__"):
            raise TypeError("ModuleList.extend should be called with an iterable of modules, "
                            f"got {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def pop(self, index: int = -1) -> Module:
        module = self[index]
        del self[index]
        return module

    def __repr__(self) -> str:
        """As torch: a run of children with the same repr shows once, as "(first-last): count x repr"."""
        runs: list[list] = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        if not runs:
            return "ModuleList()"
        lines = [f"({a}): {text}" if a == b else f"({a}-{b}): {b - a + 1} x {text}" for a, b, text in runs]
        return "ModuleList(\n  " + "\n  ".join(line.replace("\n", "\n  ") for line in lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of named modules whose parameters the parent sees."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module named {key!r}; it holds {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for i, pair in enumerate(pairs):
            if not hasattr(modules, "items") and (not isinstance(pair, (tuple, list)) or len(pair) != 2):
                raise ValueError(f"ModuleDict.update: element #{i} should be a (name, module) pair, got {pair!r}")
            self[pair[0]] = pair[1]


def _linear_relu(linear: Linear, relu: ReLU, input: Any) -> Tensor | None:
    """Linear then ReLU as one fused node (ops.LinearReLU: the same numbers, two passes over the
    activations fewer), or None where the pair must run as written (_fusable) or the Linear has no bias."""
    if not _fusable(linear, relu, input):
        return None
    weight, bias = weight_and_bias(linear)
    return None if bias is None else ops.LinearReLU.apply(input, weight, bias)


def _is_head(modules: tuple, i: int) -> bool:
    """Whether modules[i] is a Linear with at most head_backward.MAX_OUTPUTS outputs that no ReLU follows, after a
    ReLU layer of a multiple of 16 units: the thin layer that ops.LinearReLULinear joins to the ReLU layer before
    it. (A following ReLU would rather join it as a LinearReLU pair of its own; other widths never take the
    node's one-pass backward, and the pair and the Linear cost a little less Python than the node.)"""
    head = modules[i]
    return (type(head) is Linear and head.out_features <= head_backward.MAX_OUTPUTS
            and modules[i - 2].out_features % 16 == 0
            and (i + 1 == len(modules) or type(modules[i + 1]) is not ReLU))


def _linear_relu_linear(linear: Linear, relu: ReLU, head: Linear, input: Any) -> Tensor | None:
    """Linear, ReLU and a thin Linear as one node (ops.LinearReLULinear: the pair's forward numbers, the head's
    backward in one pass over the hidden activations), or None where they must run otherwise (_fusable, for
    either pair, or a Linear without a bias)."""
    if not (_fusable(linear, relu, input) and _fusable(head, relu, input)):
        return None
    weight, bias = weight_and_bias(linear)
    head_weight, head_bias = weight_and_bias(head)
    if bias is None or head_bias is None:
        return None
    return ops.LinearReLULinear.apply(input, weight, bias, head_weight, head_bias)


def _batchnorm_relu(norm: BatchNorm2d, relu: ReLU, input: Any) -> Tensor | None:
    """BatchNorm2d then ReLU as one node (ops.BatchNormChannels with relu: the same numbers, one
    activation fewer kept for backward and two passes over it fewer), or None where the pair
    must run as written (_fusable)."""
    if not _fusable(norm, relu, input):
        return None
    return norm.forward_relu(input)


def _fusable(layer: Module, relu: ReLU, input: Any) -> bool:
    """Whether `layer` then `relu` may run as one fused node: no hook on either module (pruning's
    reparametrisation is one), no forward replaced on either instance, a Tensor input, and no tracer
    recording the graph layer by layer (tg.compile's recorder wants the fused node: keeps_fused_nodes).

    The hook tables are read from the instance dicts: Module has a __getattr__, which keeps Python from
    specialising its attribute look-ups, and this runs for every fused pair of every forward."""
    try:
        own, relu_own = layer.__dict__, relu.__dict__
        if own["_forward_pre_hooks"] or own["_forward_hooks"] or relu_own["_forward_pre_hooks"] \
                or relu_own["_forward_hooks"]:
            return False
    except KeyError:  # a module whose Module.__init__ did not run: its own call reports that
        return False
    return ("forward" not in own and "forward" not in relu_own and isinstance(input, Tensor)
            and (not autograd._tracers or all(getattr(t, "keeps_fused_nodes", False) for t in autograd._tracers)))
