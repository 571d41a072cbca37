"""Exceptions of the training loop, so that the CLI (and tuners) can react to each by meaning."""
from __future__ import annotations

import string
from typing import Any, Callable

from .serialization import StateFormatError


class NamesSettings:
    """An error whose message may name settings as format fields ("{lr} must be > 0").

    str() shows each setting's own name (lr), so a Python caller reads its parameter names; the
    CLI shows the flag (--lr) through `render`. Build one with `about`; `names_settings` attaches a template
    to an error whose constructor takes more than the message.
    """

    template: str | None = None
    values: dict[str, Any] = {}

    def render(self, name: Callable[[str], str]) -> str:
        """The message with every setting it names spelled name(key)."""
        return str(self) if self.template is None else fill_settings(self.template, self.values, name)

    @classmethod
    def about(cls, template: str, **values: Any):
        """The error whose `template` names settings as {key} fields; its other fields come from `values`."""
        return names_settings(cls(fill_settings(template, values)), template, **values)


def names_settings(error: NamesSettings, template: str, **values: Any) -> NamesSettings:
    """`error` (built with the message `template` filled by setting names) keeps the template for render()."""
    error.template, error.values = template, values
    return error


class ConfigError(NamesSettings, ValueError):
    """A setting is unknown, of the wrong type or out of range; the message names it and says what is valid.

    Built with `ConfigError.about`, the message names settings as format fields ("{lr} must be > 0"):
    str() shows each setting's own name (lr), and the CLI shows its flag (--lr) through `render`.
    """


def fill_settings(template: str, values: dict[str, Any], name: Callable[[str], str] = str) -> str:
    settings = {field for _, field, _, _ in string.Formatter().parse(template) if field and field not in values}
    return template.format(**values, **{key: name(key) for key in settings})


class CheckpointError(NamesSettings, ValueError):
    """A checkpoint cannot be used: missing, unreadable, or saved by something else; the message says why."""


class ArchitectureMismatchError(CheckpointError):
    """A checkpoint's weights do not fit the model; the message names every mismatching key and shape."""


class NonFiniteLossError(NamesSettings, FloatingPointError):
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


__all__ = ["NamesSettings", "names_settings", "ConfigError", "CheckpointError", "ArchitectureMismatchError", "NonFiniteLossError", "TrainingInterrupted",
           "StateFormatError"]
