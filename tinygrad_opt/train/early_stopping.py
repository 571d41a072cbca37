"""Watching a metric for improvement (best checkpoint), and early stopping with best-weight restore."""
from __future__ import annotations

from typing import Any

from ..nn import Module


def mode_of(name: str) -> str:
    """"min" for losses, "max" for accuracies and scores."""
    return "min" if "loss" in name else "max"


class Monitor:
    """Tracks the best value of one metric: `update(value, epoch)` says whether it improved.

    Improvement means value < best - min_delta in mode "min" (value > best + min_delta in
    "max"); NaN never improves.
    """

    def __init__(self, name: str = "val_loss", mode: str = "auto", min_delta: float = 0.0) -> None:
        if mode == "auto":
            mode = mode_of(name)
        if mode not in ("min", "max"):
            raise ValueError(f"Monitor: mode must be 'min', 'max' or 'auto', got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"Monitor: min_delta must be >= 0, got {min_delta!r}")
        self.name, self.mode, self.min_delta = name, mode, float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def is_improvement(self, value: float) -> bool:
        if value != value:  # NaN
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        improved = self.is_improvement(value)
        if improved:
            self.best, self.best_epoch = float(value), int(epoch)
        return improved

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "min_delta": self.min_delta,
                "best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.name, self.mode, self.min_delta = state["name"], state["mode"], state["min_delta"]
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class EarlyStopping:
    """Stop when `monitor` has not improved for `patience` epochs; keep (and restore) the best weights.

    The trainer calls `step(value, epoch, model)` after each epoch; it returns True when
    training should stop. With restore_best_weights the trainer loads the best epoch's
    weights back into the model when training ends.
    """

    def __init__(self, patience: int, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 restore_best_weights: bool = True) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be a positive integer (epochs), got {patience!r}")
        self.patience = patience
        self.monitor = Monitor(monitor, mode, min_delta)
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None

    @property
    def stopped(self) -> bool:
        return self.stopped_epoch is not None

    def step(self, value: float, epoch: int, model: Module) -> bool:
        if self.monitor.update(value, epoch):
            self.wait = 0
            if self.restore_best_weights:
                self.best_state = model.state_dict()  # host copies
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = int(epoch)
        return self.stopped

    def restore(self, model: Module) -> bool:
        """Load the best weights into `model` (returns False when there are none to restore)."""
        if not self.restore_best_weights or self.best_state is None:
            return False
        model.load_state_dict(self.best_state)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"patience": self.patience, "monitor": self.monitor.state_dict(), "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "restore_best_weights": self.restore_best_weights,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
        self.wait = state["wait"]
        # this object's patience wins: a resumed run given more patience trains on
        self.stopped_epoch = state["stopped_epoch"] if self.wait >= self.patience else None
        self.best_state = state.get("best_state")
