"""A worker: claim a waiting trial, train it with heartbeats running, record the outcome, repeat.

Every worker, whether the command's own process, one of its --workers children, or a
command on another machine, runs this same loop against the shared storage. Before
each claim it fails trials whose worker stopped beating (killed, machine lost), so a
dead worker costs only the trial it was running.
"""
from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from .heartbeat import FAIL_REASON_ATTR, Heartbeat, fail_stale_trials
from .settings import TuneSettings
from .study import StudyHandle, claim_trial


WORKER_ATTR = "worker"  # host:pid of the process that ran the trial


@dataclass
class TrialOutcome:
    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    seconds: float
    note: str
    config: dict[str, Any]


def make_sampler(settings: TuneSettings, worker_index: int, progress: int = 0) -> Any:
    """TPE (Optuna's default) seeded per worker, with the constant liar so parallel workers spread out.

    `progress` (trials the study has finished) enters the seed: a resumed study would
    otherwise draw its first trials again, spending budget on configurations already scored.
    """
    import numpy as np
    import optuna

    seed = None if settings.seed is None else settings.seed + worker_index
    if seed is not None and progress:
        seed = int(np.random.SeedSequence([settings.seed, worker_index, progress]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=settings.n_startup_trials, constant_liar=True)


def make_pruner(settings: TuneSettings) -> Any:
    """median: stop a trial whose epoch-k score is worse than the median of earlier trials at epoch k.
    hyperband: successive halving over epochs (1 .. --epochs, factor 3). none: never prune."""
    import optuna

    if settings.pruner == "median":
        # the median of fewer than 3 finished trials is too noisy to stop anything on
        return optuna.pruners.MedianPruner(n_startup_trials=max(3, settings.n_startup_trials // 2), n_warmup_steps=0)
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, settings.epochs), reduction_factor=3)
    return optuna.pruners.NopPruner()


def _format_params(config: dict[str, Any]) -> str:
    parts = []
    for key, value in config.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, list):
            value = "-".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return " ".join(parts)


def format_outcome(settings: TuneSettings, outcome: TrialOutcome, study: Any, config: dict[str, Any],
                   worker: str = "") -> str:
    """The progress line printed when a trial ends."""
    width = len(str(settings.trials))
    head = f"trial {outcome.number + 1:>{width}}/{settings.trials}"
    if worker:
        head += f" [{worker}]"
    if outcome.state == "COMPLETE":
        result = f"{settings.metric} {outcome.value:.4f}"
    elif outcome.value is not None:
        result = f"PRUNED ({settings.metric} {outcome.value:.4f})"
    else:
        result = outcome.state
    try:
        best = study.best_trial
        best_text = f"best {best.value:.4f} (trial {best.number + 1})"
    except ValueError:
        best_text = "best -"
    line = f"{head}  {result:<24} {best_text}  {outcome.seconds:5.1f}s  {_format_params(config)}"
    if outcome.note:
        line += f"\n    {outcome.note}"
    return line


def run_one(handle: StudyHandle, trial: Any, objective: Callable[[Any], float]) -> TrialOutcome:
    """Run the objective on a claimed trial and tell the study how it ended."""
    import optuna
    from optuna.trial import TrialState

    started = time.perf_counter()
    value, state, note = None, TrialState.COMPLETE, ""
    try:
        value = objective(trial)
    except optuna.TrialPruned as pruned:
        state, note = TrialState.PRUNED, str(pruned)
    except KeyboardInterrupt:
        trial.set_user_attr(FAIL_REASON_ATTR, "interrupted (Ctrl-C)")
        handle.study.tell(trial, state=TrialState.FAIL)
        raise
    except optuna.exceptions.UpdateFinishedTrialError as err:
        return _dropped(trial, started, err)
    except Exception as err:  # a broken trial must not end the search: record why and go on
        state, note = TrialState.FAIL, f"{type(err).__name__}: {' '.join(str(err).split())}"
        trial.set_user_attr(FAIL_REASON_ATTR, note[:2000])
        if not _is_user_error(err):
            note += "\n" + traceback.format_exc()
    try:
        frozen = handle.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
    except optuna.exceptions.UpdateFinishedTrialError as err:
        return _dropped(trial, started, err)
    return TrialOutcome(frozen.number, frozen.state.name, frozen.value, time.perf_counter() - started, note,
                        dict(frozen.user_attrs.get("config", {})))


def _dropped(trial: Any, started: float, err: Exception) -> TrialOutcome:
    """A worker paused past the grace period finds its trial failed by another worker: drop the result, go on."""
    note = ("dropped: this worker was silent longer than the grace period, so another worker failed the trial "
            f"meanwhile ({' '.join(str(err).split())})")
    return TrialOutcome(trial.number, "FAIL", None, time.perf_counter() - started, note, {})


def _is_user_error(err: BaseException) -> bool:
    """Errors whose message says it all (ConfigError and the data errors are ValueErrors): no traceback."""
    return isinstance(err, ValueError)


def worker_loop(settings: TuneSettings, handle: StudyHandle, objective: Callable[[Any], float],
                deadline: float | None, worker: str = "", out: Any = None) -> list[TrialOutcome]:
    """Claim and run trials until no slot is waiting or the deadline (time.monotonic) passes."""
    out = out or sys.stdout
    outcomes: list[TrialOutcome] = []
    while deadline is None or time.monotonic() < deadline:
        for number in fail_stale_trials(handle.study, handle.storage, settings.heartbeat, settings.grace):
            _say(settings, out, f"trial {number + 1} failed: its worker stopped sending heartbeats (killed?)")
        claimed = claim_trial(handle)
        if claimed is None:
            break
        trial, trial_id = claimed
        with Heartbeat(handle.storage, trial_id, settings.heartbeat):  # first: a trial with no beat is never failed
            trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}" + (f" {worker}" if worker else ""))
            outcome = run_one(handle, trial, objective)
        outcomes.append(outcome)
        _say(settings, out, format_outcome(settings, outcome, handle.study, outcome.config, worker))
    return outcomes


def _say(settings: TuneSettings, out: Any, line: str) -> None:
    if settings.verbose:
        print(line, file=out, flush=True)
