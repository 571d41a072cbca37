"""What a search leaves behind: a table of the best trials, trials.csv, plots, and the best config.

    best_config.toml          the winner as a `tinygrad-opt train --config` file
    trials.csv                one row per trial: state, score, epochs, time, every setting, why it stopped
    optimization_history.png  score per trial and the best so far (Optuna's matplotlib plot)
    param_importances.png     how much each searched setting mattered (Optuna's PED-ANOVA importances)
"""
from __future__ import annotations

import csv
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Mapping

from ..train.config import TrainConfig
from ..train.config_file import dumps_toml, save_config
from ..train.serialization import atomic_write_text
from .objective import CONFIG_ATTR, DIVERGED_ATTR, FAIL_ATTR, PRUNED_ATTR

# settings of the search itself that a retrain should not inherit
_NOT_FOR_RETRAIN = ("out", "quiet")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    return "" if value is None else str(value)


def _reason(trial: Any) -> str:
    attrs = trial.user_attrs
    return attrs.get(DIVERGED_ATTR) or attrs.get(PRUNED_ATTR) or attrs.get(FAIL_ATTR) or ""


def ranked_trials(study: Any) -> list[Any]:
    """Completed trials, best first (the earlier trial first at equal score); pruned ones never rank."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    scored = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    reverse = study.direction == StudyDirection.MAXIMIZE
    return sorted(scored, key=lambda t: (t.value, -t.number) if reverse else (-t.value, -t.number), reverse=True)


def results_table(study: Any, metric: str, top: int = 10) -> str:
    """The `top` completed trials as an aligned text table."""
    trials = ranked_trials(study)[:top]
    if not trials:
        return "no trial completed"
    keys: list[str] = []
    for t in trials:
        keys += [k for k in t.user_attrs.get(CONFIG_ATTR, {}) if k not in keys]
    header = ["rank", "trial", metric, "epochs", "seconds", *keys]
    rows = [header]
    for rank, t in enumerate(trials, 1):
        config = t.user_attrs.get(CONFIG_ATTR, {})
        seconds = t.duration.total_seconds() if t.duration is not None else None
        rows.append([str(rank), str(t.number + 1), f"{t.value:.4f}", _fmt(t.user_attrs.get("epochs_run")),
                     f"{seconds:.1f}" if seconds is not None else "", *[_fmt(config.get(k)) for k in keys]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def write_trials_csv(study: Any, path: str | os.PathLike) -> Path:
    """Every trial, one row each: trial (Optuna's number + 1, as printed), state, value, epochs_run,
    seconds, the sampled settings, reason (why pruned or failed), start and end times."""
    trials = study.get_trials(deepcopy=False)
    keys: list[str] = []
    for t in trials:
        keys += [k for k in t.user_attrs.get(CONFIG_ATTR, {}) if k not in keys]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["trial", "state", "value", "epochs_run", "seconds", *keys, "reason", "start", "complete"])
    for t in trials:
        config = t.user_attrs.get(CONFIG_ATTR, {})
        seconds = t.duration.total_seconds() if t.duration is not None else ""
        writer.writerow([
            t.number + 1, t.state.name, "" if t.value is None else repr(float(t.value)),
            t.user_attrs.get("epochs_run", ""), seconds,
            *[_fmt(config[k]) if isinstance(config.get(k), (list, tuple)) else config.get(k, "") for k in keys],
            _reason(t), t.datetime_start or "", t.datetime_complete or "",
        ])
    return atomic_write_text(path, buf.getvalue())


def best_config(study: Any, base: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """(training config of the best trial, that trial): the shared settings, then the trial's."""
    trials = ranked_trials(study)
    if not trials:
        raise ValueError(f"study {study.study_name!r} has no completed trial yet, so there is no best config")
    best = trials[0]
    values = {k: v for k, v in base.items() if k not in _NOT_FOR_RETRAIN and v is not None}
    values.update(best.user_attrs.get(CONFIG_ATTR, {}))
    return values, best


def write_best_config(study: Any, base: Mapping[str, Any], metric: str, path: str | os.PathLike) -> Path:
    """The best trial's settings as a TOML (or YAML) file that `tinygrad-opt train --config` reads."""
    values, best = best_config(study, base)
    TrainConfig.from_dict(values, source="best config").resolved()  # refuse to write a file train would reject
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return save_config(values, path)
    header = (f"best of study {study.study_name!r}: {metric} {best.value:.4f} (trial {best.number + 1}, "
              f"{best.user_attrs.get('epochs_run', '?')} epochs)\n"
              f"retrain: tinygrad-opt train --config {path.name}   (add e.g. --epochs 10 to train longer)")
    return atomic_write_text(path, dumps_toml(values, header))


def write_plots(study: Any, out_dir: str | os.PathLike, metric: str) -> dict[str, str]:
    """Optimisation history and parameter importances as PNG; {name: path or why it was skipped}."""
    out_dir = Path(out_dir)
    try:
        import matplotlib
    except ImportError:
        return {"plots": "skipped: matplotlib is not installed (pip install 'tinygrad_opt[tune]')"}
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # files only; never open a window from a search
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as vis

    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, str] = {}
    plots = (("optimization_history", vis.plot_optimization_history),
             ("param_importances", vis.plot_param_importances))
    for name, plot in plots:
        path = out_dir / f"{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                ax = plot(study, target_name=metric)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(path, dpi=100)
            plt.close(fig)
            results[name] = str(path)
        except (ValueError, RuntimeError, ZeroDivisionError, optuna.exceptions.OptunaError) as err:
            # too few completed trials, or no setting that varied: say so rather than fail the search
            results[name] = f"skipped: {' '.join(str(err).split()) or type(err).__name__}"
    return results
