"""Hyperparameter search on Optuna: `tinygrad-opt tune`, or from Python:

    from tinygrad_opt.tune import TuneSettings, run_tune, load_space
    result = run_tune(TuneSettings(trials=20, base={"dataset": "digits", "epochs": 2},
                                   space=load_space("examples/tune_space.toml"), out="runs/tune-demo"))
    result.best_value, result.best_config, result.files["best_config"]

Optuna does the searching (TPE sampler, median or Hyperband pruner) and keeps the
study in a storage that many workers share: SQLite by default, PostgreSQL or a
journal file for workers on several machines. This package adds the search space over
the training config (space.py, defaults.py), the objective that trains one config
with the training stack and reports each epoch (objective.py), an exact trial budget
across workers (study.py), heartbeats for dead workers (heartbeat.py), and the
reports (report.py). Needs the `tune` extra: pip install 'tinygrad_opt[tune]'.
"""
from .defaults import DEFAULT_SPACE, default_space, load_space
from .settings import METRICS, PRUNERS, TuneSettings, canonical_metric
from .space import Param, SearchSpace, SpaceError, parse_param, space_from_dict
from .storage import default_storage_url, open_storage

__all__ = [
    "TuneSettings", "run_tune", "TuneResult", "SearchSpace", "Param", "SpaceError", "load_space", "default_space",
    "DEFAULT_SPACE", "space_from_dict", "parse_param", "open_storage", "default_storage_url", "METRICS", "PRUNERS",
    "canonical_metric",
]


def __getattr__(name: str):
    """run_tune / TuneResult import Optuna-using modules on first use."""
    if name in ("run_tune", "TuneResult"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'tinygrad_opt.tune' has no attribute {name!r}")
