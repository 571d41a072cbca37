"""Exceptions of the training loop, so that the CLI (and tuners) can react to each by meaning."""
from __future__ import annotations

import string
from typing import Any, Callable

from .serialization import StateFormatError


class ConfigError(ValueError):
    """A setting is unknown, of the wrong type or out of range; the message names it and says what is valid.

    Built with `ConfigError.about`, the message names settings as format fields ("{lr} must be > 0"):
    str() shows each setting's own name (lr), and the CLI shows its flag (--lr) through `render`.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.template: str | None = None
        self.values: dict[str, Any] = {}

    @classmethod
    def about(cls, template: str, **values: Any) -> ConfigError:
        """The error whose `template` names settings as {key} fields; its other fields come from `values`."""
        error = cls(_fill(template, values, str))
        error.template, error.values = template, values
        return error

    def render(self, name: Callable[[str], str]) -> str:
        """The message with every setting it names spelled name(key)."""
        return str(self) if self.template is None else _fill(self.template, self.values, name)


def _fill(template: str, values: dict[str, Any], name: Callable[[str], str]) -> str:
    settings = {field for _, field, _, _ in string.Formatter().parse(template) if field and field not in values}
    return template.format(**values, **{key: name(key) for key in settings})


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


__all__ = ["ConfigError", "CheckpointError", "ArchitectureMismatchError", "NonFiniteLossError", "TrainingInterrupted",
           "StateFormatError"]
