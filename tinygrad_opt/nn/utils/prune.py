"""Pruning with torch.nn.utils.prune's reparametrisation and semantics.

Pruning parameter `name` of a module:
- moves the Parameter to `<name>_orig` (the same object, so an optimizer built
  earlier keeps updating it),
- stores a 0/1 mask of the parameter's dtype as the buffer `<name>_mask`,
- sets the plain attribute `<name>` = `<name>_orig * <name>_mask` and registers a
  forward pre-hook that recomputes it before every forward. The product is a graph
  node, so the gradient reaching `<name>_orig` is g * mask: pruned entries get
  exactly zero gradient and the effective weight stays exactly zero whatever the
  optimizer does to `<name>_orig` (momentum, Adam moments, weight decay).

Pruning the same parameter again composes masks the way torch's PruningContainer
does: an unstructured method chooses among the entries still unpruned (so
`amount=0.5` twice leaves a quarter), a structured one among the channels not yet
entirely pruned. `remove()` makes the pruning permanent (zeros written into the
Parameter, reparametrisation dropped).

`amount` is a float fraction in [0, 1] of the entries (or channels) considered,
rounded half to even as Python's round() does, or an int count (`1` prunes one
entry, `1.0` prunes all).

Masks are computed on backend arrays (NumPy or CuPy) with the engine's seeded
generator for random pruning. Ties in magnitude are broken by position (stable
sort); torch leaves its tie order unspecified, so masks agree with torch's
whenever the scores have no ties.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence

from ...autograd import no_grad
from ...backend import array_module, random_module
from ...ops.mask import apply_mask
from ...tensor import Tensor
from ..module import Module
from ._sparsity import SparsityReport, sparsity


# ---- amount handling ---------------------------------------------------------------
def _validate_amount(amount: Any, where: str) -> None:
    """An int count >= 0 or a float fraction in [0, 1]; anything else is a clear error."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(
            f"{where}: amount must be an int (a count of entries) or a float fraction in [0.0, 1.0], "
            f"got {amount!r} of type {type(amount).__name__}"
        )
    if isinstance(amount, numbers.Integral):
        if amount < 0:
            raise ValueError(f"{where}: amount={amount} is a negative count; use an int >= 0 or a float in [0.0, 1.0]")
    elif not 0.0 <= float(amount) <= 1.0:  # also rejects NaN
        raise ValueError(
            f"{where}: amount={amount} is outside [0.0, 1.0]; a float is a fraction of the entries "
            "(use an int for a count)"
        )


def _count_to_prune(amount: Any, size: int, where: str) -> int:
    """Entries (or channels) to prune out of `size`: the int itself, or round(amount * size) (half to even)."""
    if isinstance(amount, numbers.Integral):
        count = int(amount)
        if count > size:
            raise ValueError(f"{where}: amount={count} is larger than the {size} prunable entries")
        return count
    return int(round(float(amount) * size))


def _stable_argsort(xp, values):
    """Indices that sort `values` ascending, ties in position order (NumPy's stable sort; CuPy sorts stably)."""
    return xp.argsort(values, kind="stable") if xp.__name__ == "numpy" else xp.argsort(values)


def _as_array(t: Any):
    return t.data if isinstance(t, Tensor) else t


# ---- the methods ----------------------------------------------------------------------
class BasePruningMethod:
    """A pruning rule: `compute_mask(t, default_mask)` on arrays, applied through `apply(module, name, ...)`.

    An applied method is also the module's forward pre-hook that recomputes
    `module.<name>` = `<name>_orig * <name>_mask` before every forward.
    PRUNING_TYPE says how composition chooses the part of the tensor a later method sees:
    "unstructured" (entries still unpruned), "structured" (channels along `dim` not yet
    fully pruned) or "global" (the whole tensor).
    """

    PRUNING_TYPE: str = "unstructured"
    _tensor_name: str | None = None
    _public_name = "prune"  # the function name used in error messages

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self._tensor_name, self.apply_mask(module))

    def compute_mask(self, t, default_mask):
        """Return the new mask (an array shaped like t) that includes default_mask's zeros."""
        raise NotImplementedError

    def apply_mask(self, module: Module) -> Tensor:
        """The pruned tensor `<name>_orig * <name>_mask`: one graph node (ops.ApplyMask) when gradients are on."""
        if self._tensor_name is None:
            raise RuntimeError(f"{type(self).__name__}.apply_mask: this method has not been applied to a module yet")
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return apply_mask(orig, mask)

    @classmethod
    def apply(cls, module: Module, name: str, *args: Any, importance_scores: Any = None, **kwargs: Any) -> BasePruningMethod:
        """Prune `module.<name>` with a new `cls(*args, **kwargs)`, composing with earlier pruning."""
        where = f"prune.{cls._public_name}"
        orig = _prunable_tensor(module, name, where)
        already = _find_hook(module, name)
        method = cls(*args, **kwargs)
        method._tensor_name = name

        if already is None:
            default_mask = array_module(orig.data).ones_like(orig.data)
            scores = orig.data
        else:
            key, old = already
            container = old if isinstance(old, PruningContainer) else PruningContainer(old)
            container.add_pruning_method(method)
            method = container
            default_mask = getattr(module, name + "_mask").data.copy()
            scores = orig.data * getattr(module, name + "_mask").data  # the current effective tensor
        if importance_scores is not None:
            scores = _as_array(importance_scores)
            if tuple(scores.shape) != tuple(orig.shape):
                raise ValueError(
                    f"{where}: importance_scores of shape {tuple(scores.shape)} must have the shape "
                    f"{tuple(orig.shape)} of parameter {name!r} of {type(module).__name__}"
                )

        mask = method.compute_mask(scores, default_mask=default_mask)  # may raise: nothing changed yet
        if already is None:
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
        else:
            del module._forward_pre_hooks[already[0]]
        module.register_buffer(name + "_mask", Tensor._make(mask.astype(orig.dtype, copy=False), False))
        setattr(module, name, method.apply_mask(module))
        module.register_forward_pre_hook(method)
        return method

    def prune(self, t: Any, default_mask: Any = None, importance_scores: Any = None) -> Tensor:
        """t * compute_mask(importance_scores or t, default_mask or ones), without touching any module."""
        t = t if isinstance(t, Tensor) else Tensor(t)
        scores = t.data if importance_scores is None else _as_array(importance_scores)
        if tuple(scores.shape) != tuple(t.shape):
            raise ValueError(f"{type(self).__name__}.prune: importance_scores shape {tuple(scores.shape)} differs from t's {tuple(t.shape)}")
        base = array_module(t.data).ones_like(t.data) if default_mask is None else _as_array(default_mask)
        return t * Tensor._make(self.compute_mask(scores, default_mask=base).astype(t.dtype, copy=False), False)

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: `<name>` becomes a Parameter again holding orig * mask."""
        name = self._tensor_name
        with no_grad():
            pruned = self.apply_mask(module)
        if name in module.__dict__:
            object.__delattr__(module, name)
        orig = module._parameters.pop(name + "_orig")
        del module._buffers[name + "_mask"]
        orig.data = pruned.data
        setattr(module, name, orig)  # the same Parameter object: optimizers keep tracking it


class PruningContainer(BasePruningMethod):
    """The methods applied to one tensor so far, in order; composes a new one with the current mask."""

    def __init__(self, *methods: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        for m in methods:
            self.add_pruning_method(m)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        if not isinstance(method, BasePruningMethod):
            raise TypeError(f"PruningContainer: {type(method).__name__} is not a pruning method")
        if self._tensor_name is None:
            self._tensor_name = method._tensor_name
        elif method._tensor_name != self._tensor_name:
            raise ValueError(
                f"PruningContainer: cannot add a method for {method._tensor_name!r} to a container for {self._tensor_name!r}"
            )
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, index: int) -> BasePruningMethod:
        return self._pruning_methods[index]

    def compute_mask(self, t, default_mask):
        """Apply the latest method only where the current mask leaves something to prune."""
        method = self._pruning_methods[-1]
        xp = array_module(default_mask)
        new_mask = default_mask.astype(t.dtype, copy=True)
        if method.PRUNING_TYPE == "unstructured":
            slc = default_mask == 1
        elif method.PRUNING_TYPE == "structured":
            dim = _check_dim(t, method.dim, type(method).__name__)
            other = tuple(d for d in range(t.ndim) if d != dim)
            keep = default_mask.sum(axis=other) != 0  # channels not yet entirely pruned
            slc = tuple(keep if d == dim else slice(None) for d in range(t.ndim))
        elif method.PRUNING_TYPE == "global":
            slc = tuple(slice(None) for _ in range(t.ndim))
        else:
            raise ValueError(f"PruningContainer: unknown PRUNING_TYPE {method.PRUNING_TYPE!r} of {type(method).__name__}")
        partial = method.compute_mask(t[slc], default_mask=default_mask[slc])
        new_mask[slc] = xp.asarray(partial, dtype=new_mask.dtype)
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing: sets up the reparametrisation with a mask of ones."""

    PRUNING_TYPE = "unstructured"
    _public_name = "identity"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prunes `amount` entries chosen uniformly at random (the engine's seeded generator)."""

    PRUNING_TYPE = "unstructured"
    _public_name = "random_unstructured"

    def __init__(self, amount: int | float) -> None:
        _validate_amount(amount, "prune.random_unstructured")
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _count_to_prune(self.amount, t.size, "prune.random_unstructured")
        mask = default_mask.copy()
        if k:
            xp = array_module(t)
            draws = random_module("cpu" if xp.__name__ == "numpy" else "cuda").random(t.size)
            flat = mask.reshape(-1)
            flat[_stable_argsort(xp, -xp.asarray(draws))[:k]] = 0  # the k largest draws
            mask = flat.reshape(t.shape)
        return mask

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the `amount` entries of smallest absolute value."""

    PRUNING_TYPE = "unstructured"
    _public_name = "l1_unstructured"

    def __init__(self, amount: int | float) -> None:
        _validate_amount(amount, "prune.l1_unstructured")
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _count_to_prune(self.amount, t.size, "prune.l1_unstructured")
        mask = default_mask.copy()
        if k:
            xp = array_module(t)
            flat = mask.reshape(-1)
            flat[_stable_argsort(xp, xp.abs(t).reshape(-1))[:k]] = 0
            mask = flat.reshape(t.shape)
        return mask

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, importance_scores: Any = None) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class LnStructured(BasePruningMethod):
    """Prunes the `amount` channels along `dim` of smallest L`n` norm (norm over all other axes).

    For a Linear weight (out, in), dim=0 prunes whole output units (rows), dim=1 input features.
    """

    PRUNING_TYPE = "structured"
    _public_name = "ln_structured"

    def __init__(self, amount: int | float, n: int | float | str, dim: int = -1) -> None:
        _validate_amount(amount, "prune.ln_structured")
        if n == "fro":
            n = 2
        if isinstance(n, bool) or not isinstance(n, numbers.Real) or (not math.isinf(n) and n < 0) or math.isnan(n):
            raise ValueError(f"prune.ln_structured: n must be a norm order >= 0, inf, -inf or 'fro', got {n!r}")
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"prune.ln_structured: dim must be an int, got {dim!r}")
        self.amount, self.n, self.dim = amount, n, int(dim)

    def compute_mask(self, t, default_mask):
        where = "prune.ln_structured"
        if t.ndim <= 1:
            raise ValueError(f"{where}: structured pruning needs a tensor with 2 or more axes, got shape {tuple(t.shape)}")
        dim = _check_dim(t, self.dim, where)
        channels = t.shape[dim]
        k = _count_to_prune(self.amount, channels, where)
        if k == 0:
            return default_mask
        xp = array_module(t)
        norms = _channel_norms(xp, t, self.n, dim)
        keep = _stable_argsort(xp, -norms)[: channels - k]  # the largest norms survive
        keep_mask = xp.zeros(channels, dtype=t.dtype)
        keep_mask[keep] = 1
        shape = [1] * t.ndim
        shape[dim] = channels
        return keep_mask.reshape(shape) * default_mask.astype(t.dtype, copy=False)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, n: int | float | str, dim: int, importance_scores: Any = None) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where a given 0/1 mask is zero (on top of earlier masks)."""

    PRUNING_TYPE = "global"
    _public_name = "custom_from_mask"

    def __init__(self, mask: Any) -> None:
        self.mask = _as_array(mask)

    def compute_mask(self, t, default_mask):
        if tuple(self.mask.shape) != tuple(default_mask.shape):
            raise ValueError(f"prune.custom_from_mask: mask of shape {tuple(self.mask.shape)} does not fit the tensor's {tuple(default_mask.shape)}")
        xp = array_module(default_mask)
        return default_mask * xp.asarray(self.mask).astype(default_mask.dtype, copy=False)

    @classmethod
    def apply(cls, module: Module, name: str, mask: Any) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, mask=mask)


def _check_dim(t, dim: int, where: str) -> int:
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"{where}: dim={dim} is out of range for a tensor of shape {tuple(t.shape)}")
    return dim % t.ndim


def _channel_norms(xp, t, n: float, dim: int):
    """The L_n norm of each slice along `dim` (over every other axis)."""
    a = xp.abs(xp.moveaxis(t, dim, 0).reshape(t.shape[dim], -1))
    if n == math.inf:
        return a.max(axis=1)
    if n == -math.inf:
        return a.min(axis=1)
    if n == 0:
        return (a != 0).sum(axis=1).astype(t.dtype)
    if n == 1:
        return a.sum(axis=1)
    if n == 2:
        return xp.sqrt((a * a).sum(axis=1))
    return (a ** n).sum(axis=1) ** (1.0 / n)


# ---- helpers on modules ------------------------------------------------------------------
def _find_hook(module: Module, name: str):
    """(key, method) of the pruning hook of `name` on `module`, or None."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            return key, hook
    return None


def _prunable_tensor(module: Any, name: str, where: str) -> Tensor:
    """The Parameter to prune (`<name>_orig` when already pruned), or a clear error."""
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected an nn.Module, got {type(module).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"{where}: the parameter name must be a string, got {name!r}")
    if _find_hook(module, name) is not None:
        return module._parameters[name + "_orig"]
    param = module._parameters.get(name)
    if param is None:
        own = [k for k, v in module._parameters.items() if v is not None]
        reason = "is None (declared but absent, e.g. bias=False)" if name in module._parameters else "does not exist"
        raise AttributeError(
            f"{where}: parameter {name!r} of {type(module).__name__} {reason}; "
            f"its parameters are: {', '.join(own) or 'none'}"
        )
    return param


# ---- the functional interface (torch.nn.utils.prune's names) ---------------------------------
def identity(module: Module, name: str) -> Module:
    """Reparametrise `name` with a mask of ones (prunes nothing); returns the module."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: int | float) -> Module:
    """Prune `amount` randomly chosen (still unpruned) entries of `module.<name>`; returns the module."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount: int | float, importance_scores: Any = None) -> Module:
    """Prune the `amount` (still unpruned) entries of smallest magnitude of `module.<name>`; returns the module."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def ln_structured(module: Module, name: str, amount: int | float, n: int | float | str, dim: int, importance_scores: Any = None) -> Module:
    """Prune the `amount` channels along `dim` with the smallest L`n` norm; returns the module."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: Module, name: str, mask: Any) -> Module:
    """Prune `module.<name>` where `mask` is 0 (composed with earlier pruning); returns the module."""
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method: type = L1Unstructured,
                        importance_scores: dict | None = None, **kwargs: Any) -> None:
    """Prune across several tensors at once, as if they were one flat vector.

    `parameters` lists (module, name) pairs; `pruning_method` is an unstructured method
    class (L1Unstructured, RandomUnstructured) and kwargs its arguments (`amount=`), the
    amount counting entries still unpruned over all the tensors together.
    """
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Iterable):
        raise TypeError("prune.global_unstructured: parameters must be an iterable of (module, name) pairs")
    pairs: Sequence[tuple[Module, str]] = list(parameters)
    if not pairs:
        raise ValueError("prune.global_unstructured: parameters is empty; pass [(module, 'weight'), ...]")
    if not (isinstance(pruning_method, type) and issubclass(pruning_method, BasePruningMethod)):
        raise TypeError(f"prune.global_unstructured: pruning_method must be a pruning method class such as prune.L1Unstructured, got {pruning_method!r}")
    importance_scores = {} if importance_scores is None else importance_scores
    if not isinstance(importance_scores, dict):
        raise TypeError("prune.global_unstructured: importance_scores must be a dict {(module, name): scores}")
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f"prune.global_unstructured: only unstructured methods can prune globally, got {pruning_method.__name__} ({method.PRUNING_TYPE})")
    method._tensor_name = "global"

    scores, masks = [], []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"prune.global_unstructured: each entry must be a (module, name) pair, got {pair!r}")
        module, name = pair
        orig = _prunable_tensor(module, name, "prune.global_unstructured")
        hook = _find_hook(module, name)
        mask = getattr(module, name + "_mask").data if hook is not None else None
        current = orig.data if mask is None else orig.data * mask  # the effective tensor
        score = importance_scores.get((module, name), current)
        score = _as_array(score)
        if tuple(score.shape) != tuple(orig.shape):
            raise ValueError(f"prune.global_unstructured: importance scores for {name!r} have shape {tuple(score.shape)}, expected {tuple(orig.shape)}")
        xp = array_module(orig.data)
        scores.append(xp.asarray(score).reshape(-1))
        masks.append(xp.ones(orig.numel(), dtype=orig.dtype) if mask is None else mask.reshape(-1).astype(orig.dtype))
    xp = array_module(scores[0])
    try:
        flat_scores = xp.concatenate([s.astype(scores[0].dtype, copy=False) for s in scores])
    except (ValueError, TypeError) as err:
        raise ValueError("prune.global_unstructured: every tensor must be on the same device") from err
    container = PruningContainer(method)
    final = container.compute_mask(flat_scores, xp.concatenate(masks))

    start = 0
    for (module, name), mask in zip(pairs, masks):
        piece = final[start:start + mask.size].reshape(_prunable_tensor(module, name, "").shape)
        start += mask.size
        custom_from_mask(module, name, piece)


def remove(module: Module, name: str) -> Module:
    """Make the pruning of `module.<name>` permanent and drop `<name>_orig` / `<name>_mask`; returns the module."""
    found = _find_hook(module, name) if isinstance(module, Module) else None
    if found is None:
        pruned = [h._tensor_name for h in getattr(module, "_forward_pre_hooks", {}).values() if isinstance(h, BasePruningMethod)]
        raise ValueError(
            f"prune.remove: parameter {name!r} of {type(module).__name__} is not pruned, so there is nothing to remove; "
            f"pruned parameters of this module: {', '.join(pruned) or 'none'}"
        )
    key, method = found
    method.remove(module)
    del module._forward_pre_hooks[key]
    return module


def is_pruned(module: Module) -> bool:
    """True if `module` or any of its descendants has a pruned parameter."""
    return any(
        isinstance(hook, BasePruningMethod)
        for m in module.modules()
        for hook in m._forward_pre_hooks.values()
    )


def pruned_parameters(module: Module) -> list[tuple[str, Module, str]]:
    """(dotted name, owning module, parameter name) for every pruned parameter under `module`."""
    out = []
    for prefix, m in module.named_modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                out.append((f"{prefix}.{hook._tensor_name}" if prefix else hook._tensor_name, m, hook._tensor_name))
    return out


def remove_all(module: Module) -> Module:
    """remove() every pruned parameter under `module` (for export: plain state_dict keys, zeros kept)."""
    for _, m, name in pruned_parameters(module):
        remove(m, name)
    return module


def reparametrize_like(module: Module, state_dict: Any) -> list[str]:
    """Give `module` the pruning reparametrisation a state_dict was saved with; returns the dotted names reparametrised.

    For each `<prefix>.<name>_mask` / `<prefix>.<name>_orig` pair in the state_dict whose
    parameter is not pruned in `module` yet, apply prune.identity (a mask of ones), so the
    keys match and load_state_dict then copies the saved masks in. Unknown modules or
    parameters are left to load_state_dict to report.
    """
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"prune: expected a state_dict (a mapping of name -> array), got {type(state_dict).__name__}")
    modules = dict(module.named_modules())
    done = []
    for key in list(state_dict.keys()):
        if not key.endswith("_mask"):
            continue
        owner, _, buffer = key.rpartition(".")
        name = buffer[: -len("_mask")]
        m = modules.get(owner)
        orig_key = (owner + "." if owner else "") + name + "_orig"
        if m is None or orig_key not in state_dict or _find_hook(m, name) is not None or m._parameters.get(name) is None:
            continue
        identity(m, name)
        done.append((owner + "." if owner else "") + name)
    return done


def load_state_dict(module: Module, state_dict: Any, strict: bool = True):
    """Load a state_dict saved from a pruned model (`<name>_orig`, `<name>_mask`) into `module`.

    Parameters of `module` that are not pruned yet but have a mask in the state_dict
    are reparametrised first (reparametrize_like), so the masks, and fine-tuning with
    the masks kept, carry over. Other keys load as usual.
    """
    reparametrize_like(module, state_dict)
    return module.load_state_dict(state_dict, strict=strict)


__all__ = [
    "BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured", "LnStructured",
    "CustomFromMask", "identity", "random_unstructured", "l1_unstructured", "ln_structured", "custom_from_mask",
    "global_unstructured", "remove", "remove_all", "is_pruned", "pruned_parameters", "load_state_dict",
    "reparametrize_like",
    "sparsity", "SparsityReport",
]
