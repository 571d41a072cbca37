"""TuneSettings: everything one `tinygrad-opt tune` command decides, shared by all its workers."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .defaults import default_space
from .space import SearchSpace

METRICS = {"val_acc": "maximize", "val_loss": "minimize"}
METRIC_ALIASES = {"val_accuracy": "val_acc", "accuracy": "val_acc", "acc": "val_acc", "loss": "val_loss"}
PRUNERS = ("median", "hyperband", "none")


def canonical_metric(metric: str) -> str:
    key = METRIC_ALIASES.get(str(metric).strip().lower(), str(metric).strip().lower())
    if key not in METRICS:
        raise ValueError(f"tune: unknown metric {metric!r}; choose one of {', '.join(METRICS)} "
                         f"(validation accuracy, maximised, or validation loss, minimised)")
    return key


@dataclass
class TuneSettings:
    """One search. `base` holds the training settings every trial shares (dataset, epochs, seed, ...).

    trials: the study's total budget (over all workers and machines), not per worker.
    timeout: seconds after which a worker starts no new trial (None: no limit).
    storage: an Optuna storage URL (see tune.storage); None: sqlite:///OUT/study.db.
    heartbeat / grace: seconds between heartbeats of a running trial, and how long a
    silent trial lives before another worker fails it (default 3 * heartbeat + 5).
    seed: the sampler's seed (worker k of a multi-worker command uses seed + k); None: random.
    """

    trials: int = 20
    timeout: float | None = None
    storage: str | None = None
    study: str = "tinygrad-opt"
    workers: int = 1
    out: str = ""
    metric: str = "val_acc"
    pruner: str = "median"
    seed: int | None = 0
    heartbeat: float = 10.0
    grace: float | None = None
    startup_trials: int | None = None
    space: SearchSpace | None = None  # None: the built-in space of base's model (mlp, cnn, lenet5)
    base: dict[str, Any] = field(default_factory=dict)
    top: int = 10
    plots: bool = True
    verbose: bool = True

    def __post_init__(self) -> None:
        self.metric = canonical_metric(self.metric)
        if self.pruner not in PRUNERS:
            raise ValueError(f"tune: unknown pruner {self.pruner!r}; choose one of {', '.join(PRUNERS)}")
        # messages name the parameters as `name=value`, which the CLI turns into its flags
        for name in ("trials", "workers", "top"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TuneSettings: {name}={value!r} must be a positive integer")
        if not str(self.study).strip():
            raise ValueError(f"TuneSettings: study={self.study!r} must name the study (e.g. study=mnist)")
        if self.base.get("val_fraction") == 0:  # every trial is scored on the validation split
            raise ValueError(f"TuneSettings: val_fraction=0 leaves no validation set to score the trials "
                             f"({self.metric}) on; use e.g. val_fraction=0.1")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"TuneSettings: timeout={self.timeout!r} must be > 0 seconds")
        if not self.heartbeat > 0:
            raise ValueError(f"TuneSettings: heartbeat={self.heartbeat!r} must be > 0 seconds")
        if self.grace is not None and not self.grace > self.heartbeat:
            raise ValueError(f"TuneSettings: grace={self.grace!r} must be longer than heartbeat={self.heartbeat!r} "
                             "seconds, or the trials of live workers are failed between two of their heartbeats")
        if not self.out:
            self.out = os.path.join("runs", f"tune-{self.study}")
        if self.space is None:
            self.space = default_space(str(self.base.get("model", "mlp")))

    @property
    def direction(self) -> str:
        return METRICS[self.metric]

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    @property
    def epochs(self) -> int:
        return int(self.base.get("epochs", 3))

    @property
    def n_startup_trials(self) -> int:
        """Random trials before TPE models the results: a third of the budget, between 4 and 10."""
        if self.startup_trials is not None:
            return int(self.startup_trials)
        return max(4, min(10, self.trials // 3))
