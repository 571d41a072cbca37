"""Exceptions of the training loop, so that the CLI (and tuners) can react to each by meaning."""
from __future__ import annotations

from .serialization import StateFormatError


class CheckpointError(ValueError):
    """A checkpoint cannot be used: missing, unreadable, or saved by something else; the message says why."""


class ArchitectureMismatchError(CheckpointError):
    """A checkpoint's weights do not fit the model; the message names every mismatching key and shape."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step, and the checkpoint kept.

    Attributes: epoch (1-based), step (global optimizer step, 1-based), batch (within the
    epoch, 1-based; None for the validation loss), value, checkpoint (the last good one or None).
    """

    def __init__(self, message: str, epoch: int, step: int, batch: int | None, value: float, checkpoint=None):
        super().__init__(message)
        self.epoch, self.step, self.batch, self.value, self.checkpoint = epoch, step, batch, value, checkpoint


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during fit(): a checkpoint was saved first (`checkpoint`, None without an output folder)."""

    def __init__(self, message: str, checkpoint=None, epoch: int = 0, batch: int = 0):
        super().__init__(message)
        self.checkpoint, self.epoch, self.batch = checkpoint, epoch, batch

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "training interrupted"


__all__ = ["CheckpointError", "ArchitectureMismatchError", "NonFiniteLossError", "TrainingInterrupted", "StateFormatError"]
