"""Gradual magnitude pruning (Zhu and Gupta, 2017, "To prune, or not to prune").

Sparsity rises from s_i to s_f over n pruning steps spaced dt apart, starting at t0:

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3     for t in {t0, t0 + dt, ..., t0 + n * dt}

fast at first, while many weights are redundant, then slower, so the network recovers
between steps; training goes on after t0 + n * dt with the masks fixed (fine-tuning).
Each pruning step removes the smallest-magnitude weights still present, with
nn.utils.prune (masks compose, so pruned weights stay pruned).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

from ..nn.module import Module
from ..nn.utils import prune

PRUNE_METHODS = ("global-l1", "l1")


def _check_fraction(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{where}: {name} must be a fraction in [0.0, 1.0], got {value!r}")
    return float(value)


def _check_int(value: Any, name: str, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{where}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def polynomial_sparsity(step: int, final_sparsity: float, begin_step: int, end_step: int, frequency: int = 1,
                        initial_sparsity: float = 0.0, power: int = 3) -> float:
    """The target sparsity in force after `step` optimizer steps (the last pruning step <= step).

    0 before begin_step, then s_f + (s_i - s_f)(1 - (t - t0)/(t_end - t0))^power evaluated at
    the latest t = t0 + k * frequency <= step, and s_f from end_step on.
    """
    where = "polynomial_sparsity"
    s_f = _check_fraction(final_sparsity, "final_sparsity", where)
    s_i = _check_fraction(initial_sparsity, "initial_sparsity", where)
    begin_step = _check_int(begin_step, "begin_step", where, 0)
    end_step = _check_int(end_step, "end_step", where, begin_step)
    frequency = _check_int(frequency, "frequency", where, 1)
    if step < begin_step:
        return 0.0
    if step >= end_step:
        return s_f
    t = begin_step + ((step - begin_step) // frequency) * frequency
    progress = (t - begin_step) / (end_step - begin_step)
    return s_f + (s_i - s_f) * (1.0 - progress) ** power


def prunable_weights(model: Module) -> list[tuple[Module, str]]:
    """(module, "weight") for every module whose weight is a matrix or more (Linear, later Conv), not BatchNorm."""
    pairs = []
    for _, m in model.named_modules():
        p = m._parameters.get("weight_orig") if "weight_orig" in m._parameters else m._parameters.get("weight")
        if p is not None and p.ndim >= 2:
            pairs.append((m, "weight"))
    if not pairs:
        raise ValueError(f"no prunable weights (matrices) found in {type(model).__name__}")
    return pairs


def _mask_zeros(module: Module, name: str) -> tuple[int, int]:
    """(pruned entries, total entries) of module.<name>: zeros of its mask, 0 if not pruned yet."""
    mask = module._buffers.get(name + "_mask")
    if mask is not None and prune._find_hook(module, name) is not None:
        return int((mask.data == 0).sum()), int(mask.data.size)
    return 0, int(module._parameters[name].data.size)


def prune_to_sparsity(parameters: Iterable[tuple[Module, str]], sparsity: float, method: str = "global-l1") -> int:
    """Prune the smallest-magnitude entries until `sparsity` of the entries are masked; returns how many were added.

    "global-l1" ranks all tensors together (layers end up unevenly sparse), "l1" brings
    each tensor to the sparsity on its own. Already-pruned entries stay pruned.
    """
    sparsity = _check_fraction(sparsity, "sparsity", "prune_to_sparsity")
    if method not in PRUNE_METHODS:
        raise ValueError(f"prune_to_sparsity: method must be one of {', '.join(PRUNE_METHODS)}, got {method!r}")
    pairs = list(parameters)
    counts = [_mask_zeros(m, n) for m, n in pairs]
    added = 0
    if method == "global-l1":
        zeros, total = sum(c[0] for c in counts), sum(c[1] for c in counts)
        k = int(round(sparsity * total)) - zeros
        if k > 0:
            prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=k)
            added = k
    else:
        for (m, n), (zeros, total) in zip(pairs, counts):
            k = int(round(sparsity * total)) - zeros
            if k > 0:
                prune.l1_unstructured(m, n, amount=k)
                added += k
    return added


class GradualPruner:
    """Drives gradual magnitude pruning: call `step()` after every optimizer step.

        pruner = GradualPruner(model, final_sparsity=0.9, begin_step=0, end_step=3000, frequency=100)
        for xb, yb in loader:
            ...; optimizer.step(); pruner.step()

    At every pruning step (t0, t0 + dt, ..., end_step, counted in optimizer steps) the
    model's weights are pruned up to the schedule's sparsity; `history` records
    (step, sparsity) pairs. `parameters` defaults to every weight matrix of the model.
    The constructor reparametrises them at once (prune.identity: masks of ones), so the
    state_dict has the same keys (`weight_orig`, `weight_mask`) from the first step to the
    last and a checkpoint taken mid-way loads into a model given a fresh pruner.
    """

    def __init__(self, model: Module, final_sparsity: float, begin_step: int = 0, end_step: int = 1000,
                 frequency: int = 100, initial_sparsity: float = 0.0, method: str = "global-l1",
                 parameters: Iterable[tuple[Module, str]] | None = None, power: int = 3) -> None:
        where = "GradualPruner"
        self.final_sparsity = _check_fraction(final_sparsity, "final_sparsity", where)
        self.initial_sparsity = _check_fraction(initial_sparsity, "initial_sparsity", where)
        self.begin_step = _check_int(begin_step, "begin_step", where, 0)
        self.end_step = _check_int(end_step, "end_step", where, self.begin_step)
        self.frequency = _check_int(frequency, "frequency", where, 1)
        self.power = _check_int(power, "power", where, 1)
        if method not in PRUNE_METHODS:
            raise ValueError(f"{where}: method must be one of {', '.join(PRUNE_METHODS)}, got {method!r}")
        self.method = method
        self.parameters = list(parameters) if parameters is not None else prunable_weights(model)
        for m, n in self.parameters:  # masks from the start: state_dict keys stay the same all through training
            if prune._find_hook(m, n) is None:
                prune.identity(m, n)
        self.step_count = 0
        self.history: list[tuple[int, float]] = []
        self._maybe_prune()  # begin_step 0 prunes to s_i before training

    def target(self, step: int | None = None) -> float:
        """The scheduled sparsity after `step` optimizer steps (default: now)."""
        return polynomial_sparsity(self.step_count if step is None else step, self.final_sparsity, self.begin_step,
                                   self.end_step, self.frequency, self.initial_sparsity, self.power)

    def is_pruning_step(self, step: int) -> bool:
        if step < self.begin_step or step > self.end_step:
            return False
        return step == self.end_step or (step - self.begin_step) % self.frequency == 0

    def _maybe_prune(self) -> float | None:
        t = self.step_count
        if not self.is_pruning_step(t):
            return None
        target = self.target(t)
        if target > 0:
            prune_to_sparsity(self.parameters, target, self.method)
        self.history.append((t, target))
        return target

    def step(self) -> float | None:
        """Count one optimizer step; prune if it is a pruning step. Returns the sparsity pruned to, or None."""
        self.step_count += 1
        return self._maybe_prune()

    @property
    def done(self) -> bool:
        return self.step_count >= self.end_step

    def sparsity(self) -> float:
        """The fraction of the pruned tensors' entries masked now."""
        counts = [_mask_zeros(m, n) for m, n in self.parameters]
        total = sum(c[1] for c in counts)
        return sum(c[0] for c in counts) / total if total else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self.history = [tuple(h) for h in state.get("history", [])]

    def __repr__(self) -> str:
        return (f"GradualPruner({self.method}, {self.initial_sparsity:g} -> {self.final_sparsity:g} over steps "
                f"{self.begin_step}..{self.end_step} every {self.frequency}, at step {self.step_count})")


def steps_for_epochs(start_epoch: float, end_epoch: float, steps_per_epoch: int) -> tuple[int, int]:
    """Pruning span in optimizer steps from epochs (fractions allowed)."""
    if not 0 <= start_epoch <= end_epoch:
        raise ValueError(f"pruning epochs: need 0 <= start ({start_epoch}) <= end ({end_epoch})")
    return int(math.floor(start_epoch * steps_per_epoch)), int(math.floor(end_epoch * steps_per_epoch))
