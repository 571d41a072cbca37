"""Gradual magnitude pruning as a training-loop callback (train.Trainer, `tinygrad-opt train --prune`)."""
from __future__ import annotations

import sys
from typing import Any

from ..nn.utils import prune
from ..train.callbacks import Callback
from .schedule import PRUNE_METHODS, GradualPruner, prunable_weights


class GradualPruningCallback(Callback):
    """Prunes the model's weight matrices on Zhu & Gupta's schedule while the Trainer trains.

    Sparsity rises from `initial_sparsity` to `final_sparsity` between the ends of epochs
    `start_epoch` and `end_epoch` (fractions allowed; end_epoch defaults to 3/4 of the run),
    pruning every `frequency` optimizer steps (default: 20 pruning steps over the span);
    the remaining epochs fine-tune with the masks fixed. The step count is the Trainer's,
    so a resumed run continues the schedule where it stopped. Each epoch's record gets a
    "sparsity" entry (history.json / .csv). Bad settings raise ValueError naming the parameter.
    """

    state_key = "gradual_pruning"

    def __init__(self, final_sparsity: float, method: str = "global-l1", start_epoch: float = 0.0,
                 end_epoch: float | None = None, frequency: int | None = None, initial_sparsity: float = 0.0,
                 verbose: bool = True) -> None:
        where = "GradualPruningCallback"
        if method not in PRUNE_METHODS:
            raise ValueError(f"{where}: method must be one of {', '.join(PRUNE_METHODS)}, got {method!r}")
        if isinstance(final_sparsity, bool) or not 0.0 <= float(final_sparsity) <= 1.0:
            raise ValueError(f"{where}: final_sparsity must be a fraction in [0, 1], got {final_sparsity!r}")
        if start_epoch < 0 or (end_epoch is not None and end_epoch < start_epoch):
            raise ValueError(f"{where}: need 0 <= start_epoch ({start_epoch}) <= end_epoch ({end_epoch})")
        if frequency is not None and (isinstance(frequency, bool) or int(frequency) != frequency or frequency < 1):
            raise ValueError(f"{where}: frequency must be a positive number of optimizer steps, got {frequency!r}")
        self.final_sparsity, self.method = float(final_sparsity), method
        self.start_epoch, self.end_epoch, self.frequency = float(start_epoch), end_epoch, frequency
        self.initial_sparsity, self.verbose = float(initial_sparsity), verbose
        self.pruner: GradualPruner | None = None
        self._saved: dict[str, Any] = {}

    def on_train_start(self, trainer: Any) -> None:
        steps = trainer.batches_per_epoch
        end_epoch = self.end_epoch if self.end_epoch is not None else max(self.start_epoch, 0.75 * trainer.epochs)
        if end_epoch > trainer.epochs:
            raise ValueError(f"GradualPruningCallback: end_epoch {end_epoch:g} is past the last epoch "
                             f"({trainer.epochs}); pruning would not finish")
        begin, end = int(self.start_epoch * steps), int(end_epoch * steps)
        frequency = self.frequency or max(1, (end - begin) // 20)
        self.pruner = GradualPruner(trainer.model, self.final_sparsity, begin_step=begin, end_step=end,
                                    frequency=int(frequency), initial_sparsity=self.initial_sparsity,
                                    method=self.method, parameters=prunable_weights(trainer.model))
        self.pruner.step_count = trainer.step
        self.pruner.history = [tuple(h) for h in self._saved.get("history", self.pruner.history)]
        if self.verbose:
            print(f"gradual pruning ({self.method}): sparsity {self.initial_sparsity:g} -> {self.final_sparsity:g} "
                  f"from step {begin} to {end} (epochs {self.start_epoch:g} to {end_epoch:g}), every {frequency} steps",
                  file=sys.stdout, flush=True)

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, Any]) -> None:
        pruner = self.pruner
        pruner.step_count = trainer.step - 1  # the Trainer's count is the truth (resume included)
        pruner.step()

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        logs["sparsity"] = self.pruner.sparsity()

    def on_train_end(self, trainer: Any) -> None:
        reached = self.pruner.sparsity()
        if self.pruner.done and reached < self.final_sparsity - 1e-3:
            # early stopping restored the weights (and masks) of an epoch before pruning finished
            print(f"warning: the final weights are {100 * reached:.1f}% sparse, not {100 * self.final_sparsity:.1f}%: "
                  "early stopping restored an epoch from before pruning finished; let --prune-end-epoch come "
                  "earlier or raise the patience", file=sys.stderr, flush=True)
        if self.verbose:
            print(prune.sparsity(trainer.model, include="weights").table(), file=sys.stdout, flush=True)

    def state_dict(self) -> dict[str, Any]:
        history = self.pruner.history if self.pruner is not None else self._saved.get("history", [])
        return {"history": [list(h) for h in history], "final_sparsity": self.final_sparsity, "method": self.method}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved = dict(state)
