"""One trial: a training run from the training stack, reporting each epoch to Optuna.

A trial trains exactly as `tinygrad-opt train --config FILE` would with the same
settings (same data split, seed, model, optimizer and schedule builders, same loop),
so the best trial's score is what retraining its config reproduces. Two things
differ, both for speed: the dataset is loaded once per worker process rather than per
trial, and no files (checkpoints, curves) are written.

After every epoch the validation metric goes to `trial.report(value, epoch)`; when the
pruner says the trial is behind the others at that epoch, it stops (TrialPruned). A
loss that turns NaN or infinite (a learning rate far too high) also ends the trial as
PRUNED, with the reason in the user attribute `diverged`, so a search through wild
learning rates goes on.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Mapping

from ..backend import to_device
from ..data import check_batch_size
from ..train.callbacks import Callback
from ..train.config import TrainConfig
from ..train.errors import ConfigError, NonFiniteLossError
from ..train.run import build_trainer, prepare_data

PRUNED_ATTR = "pruned_reason"
DIVERGED_ATTR = "diverged"
FAIL_ATTR = "fail_reason"
CONFIG_ATTR = "config"


def trial_config(base: Mapping[str, Any], sampled: Mapping[str, Any]) -> TrainConfig:
    """The (unresolved) training config of a trial: the shared settings, then the sampled ones."""
    config = TrainConfig.from_dict(dict(base), source="tune settings")
    config = config.updated(dict(sampled), source="search space")
    return dataclasses.replace(config, out=None, quiet=True)


class _DataCache:
    """The last dataset split loaded by this process (trials of one search share it)."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.value: Any = None

    def get(self, config: TrainConfig) -> Any:
        key = (config.dataset, config.data_dir, config.normalize, config.val_fraction, config.seed, config.device)
        if key != self.key:
            self.key, self.value = None, None  # free the old arrays before loading new ones
            data, train, val = prepare_data(dataclasses.replace(config, batch_size=1))
            if config.device == "cuda":  # as run_training: the data moves to the GPU once
                train = (to_device(train[0], "cuda"), to_device(train[1], "cuda"))
                val = None if val is None else (to_device(val[0], "cuda"), to_device(val[1], "cuda"))
            self.key, self.value = key, (data, train, val)
        return self.value


_CACHE = _DataCache()


def _pruning_callback(trial: Any, metric: str):
    """A training callback: report each epoch's metric to the trial, stop the run when told to prune."""
    import optuna

    class ReportToOptuna(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
            value = logs.get(metric)
            if value is None:
                raise ConfigError.about("tune: the epoch record has no {metric!r} (is {val_fraction} 0?); tuning "
                                        "needs a validation split", metric=metric)
            trial.report(float(value), epoch)
            trial.set_user_attr("epochs_run", epoch)
            if epoch < trainer.epochs and trial.should_prune():  # a finished run is kept, never pruned
                reason = f"pruned after epoch {epoch} of {trainer.epochs}: {metric} {value:.4f} behind the other trials"
                trial.set_user_attr(PRUNED_ATTR, reason)
                raise optuna.TrialPruned(reason)

    return ReportToOptuna()


def train_trial(config: TrainConfig, callbacks: list = ()) -> tuple[Any, list[dict[str, Any]]]:
    """Train one config as run_training does, without output files; return (trainer, history)."""
    config = config.resolved()
    data, (x_train, y_train), val = _CACHE.get(config)
    try:
        check_batch_size(config.batch_size, len(y_train), f"the {config.dataset} training set")
    except (TypeError, ValueError) as err:
        raise ConfigError.about("{batch_size}: {err}", err=err) from None
    trainer, train_loader, val_loader, _ = build_trainer(config, data, (x_train, y_train), val, callbacks=callbacks)
    history = trainer.fit(train_loader, val_loader, epochs=config.epochs)
    return trainer, history


def final_value(trainer: Any, history: list[dict[str, Any]], metric: str) -> float:
    """The trial's score: the last epoch's metric, or with early stopping the restored best epoch's."""
    es = trainer.early_stopping
    if es is not None and es.monitor.name == metric and es.monitor.best is not None:
        return float(es.monitor.best)
    return float(history[-1][metric])


def run_trial(trial: Any, base: Mapping[str, Any], space: Any, metric: str) -> float:
    """Optuna objective: sample a config from `space`, train it, return the validation metric.

    Raises optuna.TrialPruned when the pruner stops it or the loss diverges (the reason
    is stored in the user attributes); ConfigError for a sampled combination the
    training config rejects (the trial then fails, with the message in `fail_reason`).
    """
    import optuna


    with warnings.catch_warnings():
        # a starting point outside the space's ranges (lr 1e-5 below 1e-4, say) is asked for on purpose
        warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
        sampled = space.suggest(trial)
    config = trial_config(base, sampled)
    trial.set_user_attr(CONFIG_ATTR, {k: v for k, v in sampled.items()})
    started = time.perf_counter()
    try:
        trainer, history = train_trial(config, [_pruning_callback(trial, metric)])
    except NonFiniteLossError as err:
        reason = f"diverged: loss {err.value} at epoch {err.epoch}, step {err.step}"
        trial.set_user_attr(DIVERGED_ATTR, reason)
        trial.set_user_attr(PRUNED_ATTR, reason)
        raise optuna.TrialPruned(reason) from None
    finally:
        trial.set_user_attr("train_seconds", round(time.perf_counter() - started, 3))
    value = final_value(trainer, history, metric)
    if not math.isfinite(value):
        reason = f"diverged: {metric} is {value}"
        trial.set_user_attr(DIVERGED_ATTR, reason)
        raise optuna.TrialPruned(reason)
    return value
