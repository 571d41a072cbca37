"""Callbacks: code that the training loop calls at fixed points, and the built-in ones (progress, logging).

Subclass `Callback` and override the hooks you need; pass instances to
`Trainer(callbacks=[...])`. Each hook gets the trainer, whose attributes (model,
optimizer, epoch, step, history, stop_training, ...) it may read; setting
`trainer.stop_training = True` ends training after the current epoch, and raising an
exception (say optuna.TrialPruned) stops it at once. A callback with state that must
survive --resume sets `state_key` and implements state_dict() / load_state_dict().
Order of calls:
    on_train_start
    per epoch: on_epoch_start, (on_batch_start, on_batch_end) per batch, on_epoch_end
    on_train_end (after a normal end), close (always, errors included)
"""
from __future__ import annotations

import sys
from typing import Any, Callable, TextIO


class Callback:
    """Base class: every hook does nothing."""

    state_key: str | None = None  # a name under which the checkpoint keeps state_dict()

    def on_train_start(self, trainer: Any) -> None:
        pass

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        """`epoch` is 1-based: the epoch about to run."""

    def on_batch_start(self, trainer: Any, batch: int) -> None:
        """`batch` is 1-based within the epoch."""

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, Any]) -> None:
        """logs: "batch_size", "lr", and on the steps where the trainer read the loss back to the
        host (every `trainer.log_every` batches, the epoch's last, every batch by default on the
        CPU) "loss": this batch's loss before the penalties. A callback that wants a number on
        other steps reads it itself (`trainer.running_metrics()` covers the batches read so far)."""

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        """logs: the epoch's history record (train_loss, train_acc, val_loss, val_acc, val_f1, lr, time, ...)."""

    def on_train_end(self, trainer: Any) -> None:
        pass

    def close(self, trainer: Any) -> None:
        """Release resources (progress bars, files); called however fit() ends."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class LambdaCallback(Callback):
    """A callback from functions: LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: ...)."""

    _HOOKS = ("on_train_start", "on_epoch_start", "on_batch_start", "on_batch_end", "on_epoch_end",
              "on_train_end", "close")

    def __init__(self, **hooks: Callable) -> None:
        unknown = set(hooks) - set(self._HOOKS)
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook(s) {sorted(unknown)}; valid hooks: {', '.join(self._HOOKS)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


class ProgressBar(Callback):
    """A tqdm bar per epoch over the batches, showing the running mean loss and accuracy.

    The numbers change at most every `update_every` batches and only on the steps where the
    trainer read the loss back (see Trainer's log_every), so the bar never forces a GPU sync.
    """

    def __init__(self, file: TextIO | None = None, update_every: int = 10, mininterval: float = 0.2) -> None:
        self.file = file
        self.update_every = max(1, int(update_every))
        self.mininterval = mininterval
        self.bar = None
        self._shown = 0  # the batch whose running numbers the bar shows

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        from tqdm.auto import tqdm  # noqa: PLC0415 - tqdm only when bars are shown

        self.bar = tqdm(total=trainer.batches_per_epoch, initial=trainer.batches_done, leave=False,
                        desc=f"epoch {epoch}/{trainer.epochs}", unit="batch", dynamic_ncols=True,
                        file=self.file or sys.stderr, mininterval=self.mininterval)
        self._shown = trainer.batches_done

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, Any]) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        if "loss" in logs and (batch - self._shown >= self.update_every or batch == trainer.batches_per_epoch):
            self._shown = batch
            loss, acc = trainer.running_metrics()
            self.bar.set_postfix_str(f"loss {loss:.4f} acc {acc:.4f}", refresh=self.mininterval == 0)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        self.close(trainer)

    def close(self, trainer: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_epoch(logs: dict[str, Any], epochs: int) -> str:
    """One line per epoch: losses, accuracies, learning rate, time."""
    width = len(str(epochs))
    parts = [f"epoch {logs['epoch']:>{width}}/{epochs}", f"loss {logs['train_loss']:.4f}", f"acc {logs['train_acc']:.4f}"]
    if "val_loss" in logs:
        parts += [f"| val loss {logs['val_loss']:.4f}", f"acc {logs['val_acc']:.4f}"]
    parts += [f"| lr {logs['lr']:.3g}", f"{logs['time']:.1f}s"]
    return "  ".join(parts)


class EpochLogger(Callback):
    """Print one line per epoch (format_epoch) to `file` (stdout)."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        line = format_epoch(logs, trainer.epochs)
        if trainer.early_stopping is not None and trainer.early_stopping.stopped_epoch == epoch:
            line += f"  (early stop: no {trainer.early_stopping.monitor.name} improvement in " \
                    f"{trainer.early_stopping.patience} epochs; best epoch {trainer.early_stopping.monitor.best_epoch})"
        print(line, file=self.file or sys.stdout, flush=True)
