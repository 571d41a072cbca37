"""Optimizer: parameter groups, per-parameter state, step / zero_grad, state_dict.

Follows torch.optim.Optimizer so that code, checkpoints and schedulers written for
PyTorch carry over:
- `param_groups` is a list of dicts, each with "params" (a list of Tensors) and
  every hyperparameter of the optimizer (the defaults fill in what a group does not
  set), so a scheduler changes a learning rate by writing `group["lr"]`;
- `state[p]` is a dict per parameter ("step" as an int, the rest arrays on the
  parameter's device), created lazily at the parameter's first update;
- `state_dict()` has torch's layout: {"state": {index: {...}}, "param_groups":
  [{..., "params": [index, ...]}]}, indices counted across groups in order, and
  every array a NumPy copy (picklable, device independent).

Subclasses implement `_validate(options, where)` (hyperparameter checks),
`_init_state(p, group)` and `_update(p, grad, state, group)`; the latter calls
the array-level `update` function in the optimizer's own file. `_update_group`
may replace the per-parameter calls with one over the whole group.
"""
from __future__ import annotations

import copy
import numbers
from collections import OrderedDict, defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd import enable_grad, version_counter
from ..backend import device_of, is_float_dtype, to_device
from ..errors import ShapeError
from ..hook_handle import RemovableHandle
from ..kernels.heap import keep_freed_memory
from ..tensor import Tensor
from .step_hooks import (  # noqa: F401  (the register_optimizer_* pair: torch.optim.optimizer has them too)
    HOOK_TABLES, add_hook, add_step_hook, hook_table, register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook, with_step_hooks)

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class of all optimizers (see the module docstring for the layout)."""

    requires_closure = False  # True where step() needs a closure (SAM, LBFGS)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:  # an optimizer with its own step runs the step hooks too
            cls.step = with_step_hooks(cls.__dict__["step"])

    def __init__(self, params: ParamsT, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self._validate(self.defaults, "")
        # Tensors hash by identity, so a dict keyed by the parameter is safe (as in PyTorch).
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        for table in HOOK_TABLES:
            setattr(self, table, OrderedDict())

        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name}: params must be an iterable of Tensors or of dicts, but got a single "
                f"Tensor of shape {tuple(params.shape)}; wrap it in a list: [tensor]"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: params must be an ordered collection (a list), not a set: "
                            "a set's order changes between runs, which breaks state_dict")
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name} got an empty parameter list: pass the tensors to optimize, "
                             "e.g. model.parameters() (did a generator get used up earlier?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)
        if any(type(p.data) is np.ndarray for group in self.param_groups for p in group["params"]):
            # a training loop frees and allocates its activations again at every step: without this,
            # glibc hands a large batch's freed pages back to the OS and every step faults them in anew
            keep_freed_memory()

    # ---- to be provided by each optimizer --------------------------------------
    def _validate(self, options: dict[str, Any], where: str) -> None:
        """Raise a clear error for an invalid hyperparameter in `options`."""

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _update(self, p: Tensor, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _state_shape(self, p: Tensor, key: str) -> tuple[int, ...] | None:
        """The shape a saved state array of `p` must have (None: any); most state is shaped like `p`."""
        return tuple(p.shape)

    # ---- parameter groups -----------------------------------------------------
    @property
    def _name(self) -> str:
        return type(self).__name__

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options; missing options take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}.add_param_group: a param group must be a dict with a "
                            f"'params' key, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}.add_param_group: the group has no 'params' key "
                             f"(keys: {sorted(param_group)})")
        index = len(self.param_groups)
        group = dict(param_group)  # never mutate the caller's dict
        params, names = self._collect_params(group["params"], index)
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate(group, f" in param group {index}")

        seen: set[int] = set()
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(f"{self._name}: parameter {i} of param group {index} (shape "
                                 f"{tuple(p.shape)}) appears twice in that group; list each parameter once")
            seen.add(id(p))
        for other_index, other in enumerate(self.param_groups):
            for p in other["params"]:
                if id(p) in seen:
                    raise ValueError(f"{self._name}: a parameter of shape {tuple(p.shape)} appears in "
                                     f"param group {other_index} and again in param group {index}; "
                                     "some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _collect_params(self, params: Any, index: int) -> tuple[list[Tensor], list[str] | None]:
        """The group's parameters as a list (and their names if given as (name, tensor) pairs)."""
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: the params of param group {index} must be an ordered "
                            "collection (a list), not a set")
        items = list(params)
        named = [isinstance(item, tuple) for item in items]
        names = None
        if any(named):
            if not all(named):
                raise ValueError(f"{self._name}: param group {index} mixes (name, tensor) pairs with "
                                 "bare tensors; use one form for all of them")
            names = [name for name, _ in items]
            items = [tensor for _, tensor in items]
        for i, p in enumerate(items):
            where = f"parameter {i} of param group {index}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name} can only optimize Tensors, but {where} is a "
                                f"{type(p).__name__}")
            if not is_float_dtype(p.dtype):
                raise TypeError(f"{self._name} can only optimize floating-point tensors, but {where} "
                                f"has dtype {p.dtype}; create it with dtype='float32'")
            if not p.is_leaf:
                raise ValueError(f"{self._name} can't optimize a non-leaf Tensor: {where} (shape "
                                 f"{tuple(p.shape)}) was computed by {type(p._ctx).__name__}; pass the "
                                 "leaf parameters, or use t.detach() with requires_grad=True")
        return items, names

    # ---- the training-loop API ------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set every parameter's .grad to None (or zero it in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    @with_step_hooks
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns closure() if one is given, else None.

        `closure` re-evaluates the model and returns the loss (with gradients enabled),
        as in torch.optim. Parameters whose .grad is None are skipped entirely: their
        state, including the step count, is left alone.
        """
        self._opt_called = True  # lets a scheduler warn when it is stepped before the optimizer
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        states = self.state
        for group in self.param_groups:
            ready = []
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                grad = grad.data
                if grad.shape != p.data.shape:
                    raise ShapeError(f"{self._name}.step: a parameter of shape {tuple(p.shape)} has a "
                                     f"gradient of shape {tuple(grad.shape)}; they must match")
                state = states[p]
                if not state:
                    state.update(self._init_state(p, group))
                ready.append((p, grad, state))
            if ready:
                self._update_group(ready, group)
            for p, _, _ in ready:  # an in-place change, as torch counts it: a graph that saved p now refuses backward
                version_counter(p)[0] += 1  # p._bump_version(), without the method call
        return loss

    def _replay_step(self) -> Callable[[], None] | None:
        """A function doing what self.step() does, for tg.compile's replay to call at each step instead, having
        bound what stays the same from step to step (optim/adam_bound.py); None: the replay calls step()."""
        return None

    def _update_group(self, ready: list[tuple[Tensor, Any, dict[str, Any]]], group: dict[str, Any]) -> None:
        """Update the (parameter, gradient array, state) triples of one group that have gradients; an
        optimizer whose kernel takes a whole group at once overrides this (one call instead of one per
        parameter)."""
        for p, grad, state in ready:
            self._update(p, grad, state, group)

    # ---- checkpoints ------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: numpy copy or number}}, "param_groups": [...]}, torch's layout.

        The state-dict pre-hooks run first (hook(self)); each post-hook gets (self, state_dict) and may
        change it in place or return a new one, which is what the next hook and the caller get."""
        for hook in tuple(hook_table(self, "_optimizer_state_dict_pre_hooks").values()):
            hook(self)
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, values in self.state.items():
            if id(p) in index and values:
                state[index[id(p)]] = {k: _to_host(v) for k, v in values.items()}
        state_dict = {"state": dict(sorted(state.items())), "param_groups": groups}
        for hook in tuple(hook_table(self, "_optimizer_state_dict_post_hooks").values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by state_dict() (from any device).

        As in torch, the load pre-hooks get (self, a shallow copy of state_dict) first and may return a
        new state_dict to load instead; the post-hooks get (self) once it is loaded."""
        if isinstance(state_dict, dict):
            state_dict = state_dict.copy()
        for hook in tuple(hook_table(self, "_optimizer_load_state_dict_pre_hooks").values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{self._name}.load_state_dict expects a dict with 'state' and 'param_groups' "
                             "keys, as returned by optimizer.state_dict()")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name}.load_state_dict: the saved state has {len(saved_groups)} param "
                             f"groups but this optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{self._name}.load_state_dict: saved param group {i} has "
                                 f"{len(saved['params'])} parameters but this optimizer's group {i} has "
                                 f"{len(group['params'])}")
        by_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            for saved_index, p in zip(saved["params"], group["params"]):
                by_index[saved_index] = p

        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for saved_index, values in state_dict["state"].items():
            p = by_index.get(int(saved_index))
            if p is None:
                raise ValueError(f"{self._name}.load_state_dict: state for parameter index {saved_index}, "
                                 "which no saved param group lists")
            new_state[p] = {k: _to_param(v, p, k, saved_index, self._name, self._state_shape(p, k))
                            for k, v in values.items()}

        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            merged = dict(group)
            merged.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            merged["params"] = group["params"]
            new_groups.append(merged)
        self.state = new_state
        self.param_groups = new_groups
        for hook in tuple(hook_table(self, "_optimizer_load_state_dict_post_hooks").values()):
            hook(self)

    def __getstate__(self) -> dict[str, Any]:
        """What pickling and copying keep: everything but the kernels' plans (`_plans`, per group), whose flat
        views would be copied apart from the arrays they view; the next step makes them again. Hooks are
        not kept either (as in torch): a copy or an unpickled optimizer starts with none."""
        state = self.__dict__.copy()
        state.pop("_plans", None)
        for table in HOOK_TABLES:
            state.pop(table, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for table in HOOK_TABLES:
            self.__dict__.setdefault(table, OrderedDict())

    # ---- hooks (torch's; the global step hooks are register_optimizer_step_pre_hook / _post_hook) ----
    def register_step_pre_hook(self, hook: Callable[[Optimizer, tuple, dict], Any]) -> RemovableHandle:
        """hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs), called before each step;
        args starts with the optimizer itself, as in torch."""
        return add_step_hook(hook_table(self, "_optimizer_step_pre_hooks"), hook)

    def register_step_post_hook(self, hook: Callable[[Optimizer, tuple, dict], None]) -> RemovableHandle:
        """hook(optimizer, args, kwargs) -> None, called after each step."""
        return add_step_hook(hook_table(self, "_optimizer_step_post_hooks"), hook)

    def register_state_dict_pre_hook(self, hook: Callable[[Optimizer], None], prepend: bool = False) -> RemovableHandle:
        """hook(optimizer) -> None, called before state_dict() builds the dict (prepend: before the others)."""
        return add_hook(hook_table(self, "_optimizer_state_dict_pre_hooks"), hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[[Optimizer, dict], dict | None],
                                      prepend: bool = False) -> RemovableHandle:
        """hook(optimizer, state_dict) -> state_dict or None, called on the dict state_dict() returns."""
        return add_hook(hook_table(self, "_optimizer_state_dict_post_hooks"), hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[[Optimizer, dict], dict | None],
                                          prepend: bool = False) -> RemovableHandle:
        """hook(optimizer, state_dict) -> state_dict or None, called before load_state_dict() loads it."""
        return add_hook(hook_table(self, "_optimizer_load_state_dict_pre_hooks"), hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[[Optimizer], None],
                                           prepend: bool = False) -> RemovableHandle:
        """hook(optimizer) -> None, called after load_state_dict() has loaded the state."""
        return add_hook(hook_table(self, "_optimizer_load_state_dict_post_hooks"), hook, prepend)

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k not in ("params", "param_names")):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# ---- hyperparameter checks shared by the optimizers ------------------------------

def _bind_step_for_replay(optimizer: Optimizer, *args: Any, **kwargs: Any) -> Callable[[], None] | None:
    """What tg.compile's replay calls for a recorded `optimizer.step(*args, **kwargs)`: the optimizer's bound
    step (Optimizer._replay_step), or None (the replay calls step itself) where the call had a closure."""
    return None if args or kwargs else optimizer._replay_step()


Optimizer.step.bind_for_replay = _bind_step_for_replay  # type: ignore[attr-defined]  (read by capture/plan.py)


def check_option(opt: str, options: dict[str, Any], name: str, where: str, *,
                 low: float = 0.0, high: float | None = None, low_open: bool = False,
                 high_closed: bool = False) -> None:
    """A real-number option must lie in [low, high) (low_open: "(", high_closed: "]")."""
    value = options[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{opt}: {name} must be a number, got {value!r}{where}")
    below = value <= low if low_open else value < low
    above = high is not None and (value > high if high_closed else value >= high)
    if below or above or value != value:  # value != value catches NaN
        low_text = f"> {low}" if low_open else f">= {low}"
        bound = (f"in {'(' if low_open else '['}{low}, {high}{']' if high_closed else ')'}"
                 if high is not None else low_text)
        raise ValueError(f"{opt}: invalid {name}={value!r}{where}; {name} must be {bound}")


def check_betas(opt: str, options: dict[str, Any], where: str) -> None:
    betas = options["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{opt}: betas must be a pair (beta1, beta2), got {betas!r}{where}")
    for i, beta in enumerate(betas):
        check_option(opt, {f"betas[{i}]": beta}, f"betas[{i}]", where, low=0.0, high=1.0)


def check_adam_family(opt: str, options: dict[str, Any], where: str, extra: tuple[str, ...] = ()) -> None:
    """The Adam family's checks: lr, eps, weight_decay (and `extra`) >= 0, both betas in [0, 1)."""
    for name in ("lr", "eps", "weight_decay", *extra):
        check_option(opt, options, name, where)
    check_betas(opt, options, where)


def check_torch_flags(opt: str, **flags: Any) -> dict[str, Any]:
    """torch's implementation switches (those of `opt`'s signature among foreach, capturable, differentiable and
    fused), returned for the defaults: torch keeps them in every param group, and so its state_dict, which ours
    then mirrors. foreach/capturable/fused only pick how torch computes the same numbers, so they are accepted
    and ignored; differentiable=True (autograd through step) is refused, and so is fused=True with
    foreach=True, as torch refuses that pair."""
    if flags.get("differentiable"):
        raise ValueError(f"{opt}: differentiable=True is not supported (steps are not recorded by autograd); "
                         "leave it False")
    if flags.get("fused") and flags.get("foreach"):
        raise RuntimeError(f"{opt}: `fused` and `foreach` cannot be `True` together (as in torch); set one of them")
    return flags


# ---- moving state between devices and checkpoints --------------------------------

def _to_host(value: Any) -> Any:
    """A NumPy copy of an array (numpy or cupy); other values are copied as they are."""
    if isinstance(value, (list, tuple)):  # L-BFGS keeps its history as lists of arrays
        return type(value)(_to_host(item) for item in value)
    if isinstance(value, np.ndarray):
        return value.copy()
    if hasattr(value, "get") and hasattr(value, "shape"):  # a cupy array
        return value.get()
    return copy.deepcopy(value)


def _to_param(value: Any, p: Tensor, key: str, index: Any, opt: str, shape: tuple[int, ...] | None) -> Any:
    """A saved state value made ready for parameter `p`: its device, its float dtype, a copy.
    `shape` is what an array must look like (None: anything)."""
    if key == "step":  # a count; PyTorch saves it as a float tensor
        return int(np.asarray(_as_numpy(value)).item())
    if value is None or isinstance(value, (numbers.Number, str)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_param(item, p, key, index, opt, None) for item in value)
    array = _as_numpy(value) if not hasattr(value, "get") else value
    if not hasattr(array, "shape"):
        return copy.deepcopy(value)
    if shape is not None and array.ndim > 0 and tuple(array.shape) != shape:
        raise ValueError(f"{opt}.load_state_dict: state {key!r} of parameter {index} has shape "
                         f"{tuple(array.shape)} but the parameter has shape {tuple(p.shape)}; was the "
                         "checkpoint saved from a different model?")
    array = to_device(array, device_of(p.data))
    dtype = p.dtype if is_float_dtype(array.dtype) else array.dtype
    return array.astype(dtype, copy=True)


def _as_numpy(value: Any) -> Any:
    """Host arrays stay, torch tensors (what a converted PyTorch checkpoint may hold) become NumPy."""
    if hasattr(value, "detach") and hasattr(value, "numpy") and not isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, Tensor):
        return value.numpy()
    return np.asarray(value) if not hasattr(value, "shape") or isinstance(value, np.generic) else value
