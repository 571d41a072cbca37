"""Module: the base class of layers and models, with PyTorch's registration rules.

Assigning a Parameter to an attribute registers it as a parameter, assigning a
Module registers a child, and `register_buffer` adds non-trainable state (such as
BatchNorm's running statistics) that travels with `to()` and `state_dict()`.
Names, iteration order and the state_dict layout match PyTorch's, so a PyTorch
state_dict converted to NumPy loads as is.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from ..backend import device_of, is_float_dtype, normalize_device, resolve_dtype, to_device
from ..hook_handle import RemovableHandle
from ..tensor import Tensor
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model: subclass it, build sub-modules in __init__, define forward."""

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_hooks_with_kwargs", set())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks:
            for hook_id, hook in tuple(self._forward_pre_hooks.items()):
                if hook_id in self._hooks_with_kwargs:
                    result = hook(self, args, kwargs)
                    if result is not None:
                        if not (isinstance(result, tuple) and len(result) == 2):
                            raise RuntimeError("forward pre-hook with with_kwargs=True must return None or a tuple "
                                               f"(new_args, new_kwargs), got {type(result).__name__}")
                        args, kwargs = result
                else:
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook_id, hook in tuple(self._forward_hooks.items()):
                if hook_id in self._hooks_with_kwargs:
                    result = hook(self, args, kwargs, out)
                else:
                    result = hook(self, args, out)
                if result is not None:
                    out = result
        return out

    # ---- hooks ------------------------------------------------------------------
    def _add_hook(self, table: OrderedDict, hook: Callable, prepend: bool, with_kwargs: bool) -> RemovableHandle:
        handle = RemovableHandle(table, self._hooks_with_kwargs)
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        if with_kwargs:
            self._hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) runs before forward and may return replacement args;
        with_kwargs=True: hook(module, args, kwargs) may return (args, kwargs). prepend=True runs it first."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) runs after forward and may return a replacement output;
        with_kwargs=True: hook(module, args, kwargs, output). prepend=True runs it first.
        always_call is accepted for torch code; a hook does not run when forward raises."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    # ---- registration ---------------------------------------------------------
    def _check_new_name(self, name: Any, kind: str, allow_existing: dict) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register a {kind} before Module.__init__() has run: call super().__init__() first")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f'{kind} name {name!r} is invalid: it must be non-empty and contain no "."')
        if hasattr(self, name) and name not in allow_existing:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}; pick another {kind} name")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent parameter such as a missing bias)."""
        self._check_new_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign {type(param).__name__} as parameter {name!r}: wrap it in nn.Parameter(...) "
                "(or register it with register_buffer if it is not trainable)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add non-trainable state; persistent buffers appear in state_dict()."""
        self._check_new_name(name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            if isinstance(tensor, np.ndarray):
                tensor = Tensor(tensor)
            else:
                raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r}: a Tensor or None is expected")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under `name` (what attribute assignment does for a Module)."""
        self._check_new_name(name, "module", self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() has run: call super().__init__() first")
            _discard(name, d, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} (nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign a module before Module.__init__() has run: call super().__init__() first")
            _discard(name, d, params, self._buffers)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} (Module or None expected)")
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            table = d.get(registry)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    # ---- traversal ----------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, parents first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        pairs = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in pairs:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs in PyTorch's order: a module's own, then each child's."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn on every descendant (children first) and on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path `target` ("" is self), as torch; AttributeError names the missing part."""
        module = self
        if target == "":
            return module
        for part in target.split("."):
            child = module._modules.get(part) if isinstance(module, Module) else None
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule `{part}` (looking up {target!r})")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters or module._parameters[name] is None:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}` (looking up {target!r})")
        return module._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._buffers or module._buffers[name] is None:
            raise AttributeError(f"{type(module).__name__} has no buffer `{name}` (looking up {target!r})")
        return module._buffers[name]

    # ---- modes and gradients ----------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active, BatchNorm uses batch statistics) here and below."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient recording of every parameter (freeze with False); returns self."""
        if not isinstance(requires_grad, bool):
            raise TypeError(f"requires_grad_: requires_grad must be a bool, got {requires_grad!r}")
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients (set .grad to None, or zero it in place)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ---- devices and dtypes -------------------------------------------------------
    def _apply_to_tensors(self, convert: Callable) -> Module:
        """Replace the data of every parameter, gradient and buffer in place (identities kept)."""
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is None:
                    continue
                t.data = convert(t.data)
                if t.grad is not None:
                    t.grad.data = convert(t.grad.data)
        return self

    def to(self, device: Any = None, dtype: Any = None) -> Module:
        """Move parameters and buffers to `device` and/or cast floating ones to `dtype`, in place.

        `to("cuda")`, `to("float64")`, `to(device="cpu", dtype="float32")` all work; returns self.
        """
        if device is not None and str(device).lower().split(":")[0] not in ("cpu", "cuda"):
            device, dtype = None, device  # to("float64"): a dtype given positionally
        if device is not None:
            target = normalize_device(device)
            self._apply_to_tensors(lambda a: to_device(a, target))
        if dtype is not None:
            target_dtype = resolve_dtype(dtype)
            if not is_float_dtype(target_dtype):
                raise TypeError(f"Module.to: only floating dtypes are supported, got {target_dtype}")
            self._apply_to_tensors(lambda a: a.astype(target_dtype, copy=False) if is_float_dtype(a.dtype) else a)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def float(self) -> Module:
        return self.to(dtype="float32")

    def double(self) -> Module:
        return self.to(dtype="float64")

    # ---- state_dict ------------------------------------------------------------
    def _state_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every persistent entry in PyTorch's state_dict order: own parameters, own buffers, children."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                yield prefix + name, b
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_tensors(f"{prefix}{name}.")

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """OrderedDict of dotted name -> host NumPy copy of each parameter and persistent buffer.

        keep_vars=True returns the Tensors themselves instead of copies.
        """
        return OrderedDict((k, t if keep_vars else t.numpy()) for k, t in self._state_tensors(prefix))

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> IncompatibleKeys:
        """Copy values into the existing parameters and buffers, in place (dtype and device kept).

        Values may be NumPy arrays, Tensors or torch tensors. Shapes must match; with
        strict=True the keys must match exactly. On any error nothing is changed and a
        RuntimeError lists every missing key, unexpected key and shape mismatch.
        assign=True (torch's) takes each value's array itself, with its dtype and device,
        instead of copying into the existing one; parameters keep their requires_grad.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict expects a mapping of name -> array, got {type(state_dict).__name__}")
        local = OrderedDict(self._state_tensors())
        missing = [k for k in local if k not in state_dict]
        unexpected = [k for k in state_dict if k not in local]
        problems = []
        pending = []
        for key, target in local.items():
            if key not in state_dict:
                continue
            value = _as_host_or_device_array(state_dict[key], key)
            if tuple(value.shape) != tuple(target.shape):
                problems.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from the "
                    f"state_dict, the shape in the current model is {tuple(target.shape)}"
                )
            else:
                pending.append((target, value))
        if strict:
            if unexpected:
                problems.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if strict and any(k.endswith("_mask") and k[: -len("_mask")] + "_orig" in unexpected for k in unexpected):
            problems.append(
                "The state_dict comes from a pruned model (<name>_orig / <name>_mask keys): load it with "
                "nn.utils.prune.load_state_dict(model, state_dict), which re-applies the masks, or save it "
                "after nn.utils.prune.remove_all(model) for plain keys."
            )
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(problems))
        for target, value in pending:
            if assign:
                target.data = value
            else:
                target.data[...] = to_device(value, device_of(target.data))
        return IncompatibleKeys(missing, unexpected)

    # ---- printing ---------------------------------------------------------------
    def extra_repr(self) -> str:
        """One line of constructor arguments shown inside the module's repr (override it)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        child_lines = [f"({name}): {_indent(repr(child), 2)}" for name, child in self._modules.items()]
        head = type(self).__name__ + "("
        if not child_lines:
            if "\n" not in extra:
                return head + extra + ")"
        lines = (extra.split("\n") if extra else []) + child_lines
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _discard(name: str, *tables) -> None:
    for table in tables:
        if name in table:
            del table[name]


def _indent(text: str, spaces: int) -> str:
    """Indent every line after the first (nested module reprs)."""
    lines = text.split("\n")
    return lines[0] if len(lines) == 1 else "\n".join([lines[0]] + [" " * spaces + line for line in lines[1:]])


def _as_host_or_device_array(value: Any, key: str):
    """A state_dict value as an array: NumPy/CuPy arrays as they are, Tensors' data, torch tensors via NumPy."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray) or (hasattr(value, "__cuda_array_interface__") and hasattr(value, "get")):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor, duck-typed: torch is optional
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as err:  # pragma: no cover - exotic values
        raise TypeError(f"load_state_dict: value for {key!r} of type {type(value).__name__} is not array-like") from err
