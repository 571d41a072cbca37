"""One study shared by many workers, with an exact trial budget.

Optuna's `MaxTrialsCallback` stops a worker after the study holds N finished trials,
but each worker checks only after its own trial ends, so K workers overshoot N by up
to K - 1. Here the budget is made of slots instead: whoever creates the study enqueues
N waiting trials (the starting points first, then empty ones that the sampler fills
in), and a worker runs only trials it claims from that queue. A claim is a WAITING ->
RUNNING change made atomic (a row lock on PostgreSQL, log order in the journal, a
lock file beside the database on SQLite), so every slot runs exactly once and
the study ends with exactly N trials, however many workers on however many machines.

Creating the study is atomic too (study names are unique), so of several commands
started together exactly one creates it and the others join. The creator marks the
study ready by writing the budget last; joiners wait for that mark. Re-running the
same command joins the study and runs the slots still waiting: a resume.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any, Iterator

from .storage import sqlite_path

BUDGET_ATTR = "tune_budget"
SPACE_ATTR = "tune_space"
METRIC_ATTR = "tune_metric"
BASE_ATTR = "tune_base_config"


@dataclass
class StudyHandle:
    """A study with the ids this process needs to claim trials from it."""

    study: Any
    storage: Any
    study_id: int
    created: bool
    budget: int


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def open_study(
    storage: Any,
    name: str,
    direction: str,
    budget: int,
    *,
    sampler: Any = None,
    pruner: Any = None,
    enqueue: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
    ready_timeout: float = 120.0,
) -> StudyHandle:
    """Create the study with `budget` trial slots, or join it if it exists.

    meta: {attr: value} written on creation (the space, metric and base config), and
    compared on joining: a command that would search another space or optimise
    another metric under the same study name is refused with a message saying so.
    A larger `budget` than the study's adds slots (run such a top-up from one command
    only); a smaller one is kept at the study's budget, since recorded trials stay.
    """
    import optuna

    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise ValueError(f"tune: the number of trials must be a positive integer, got {budget!r}")
    try:
        study = optuna.create_study(
            storage=storage, sampler=sampler, pruner=pruner, study_name=name, direction=direction,
            load_if_exists=False,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    study_id = storage.get_study_id_from_name(name)
    if created:
        for key, value in (meta or {}).items():
            study.set_user_attr(key, value)
        points = list(enqueue or [])[:budget]
        for point in points:
            study.enqueue_trial(point, user_attrs={"start_point": True})
        for _ in range(budget - len(points)):
            study.enqueue_trial({})
        study.set_user_attr(BUDGET_ATTR, budget)  # last: marks the study ready for joiners
        return StudyHandle(study, storage, study_id, True, budget)
    current = _wait_ready(study, name, ready_timeout)
    _check_same_search(study, name, direction, meta or {})
    if budget > current:
        for _ in range(budget - current):
            study.enqueue_trial({})
        study.set_user_attr(BUDGET_ATTR, budget)
        current = budget
    return StudyHandle(study, storage, study_id, False, current)


def _wait_ready(study: Any, name: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        budget = study.user_attrs.get(BUDGET_ATTR)
        if budget is not None:
            return int(budget)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"study {name!r} exists but was never marked ready (no {BUDGET_ATTR!r} attribute after {timeout:.0f} s): "
                f"it was made by something other than `tinygrad-opt tune`, or its creator died while enqueueing; "
                f"use another study name (study=NAME)"
            )
        time.sleep(0.2)


def _check_same_search(study: Any, name: str, direction: str, meta: dict[str, Any]) -> None:
    have = study.direction.name.lower()
    if have != direction:
        meta_metric = study.user_attrs.get(METRIC_ATTR) or "NAME"
        raise ValueError(f"study {name!r} {'maximizes' if have == 'maximize' else 'minimizes'} its metric but this "
                         f"command would {direction} it: use the same metric (metric={meta_metric}), or another "
                         f"study name (study=NAME)")
    attrs = study.user_attrs
    for key in (METRIC_ATTR, SPACE_ATTR):
        if key in meta and key in attrs and _canonical(attrs[key]) != _canonical(meta[key]):
            what = "metric" if key == METRIC_ATTR else "search space (space=FILE and its defaults)"
            raise ValueError(
                f"study {name!r} was created with another {what}; joining it would mix two searches. "
                f"Run with the same settings, or pick another study name (study=NAME)"
            )


def claim_trial(handle: StudyHandle) -> tuple[Any, int] | None:
    """Take the next waiting slot (WAITING -> RUNNING, atomic in the storage): (Trial, trial id), or None."""
    import optuna
    from optuna.trial import TrialState

    storage, study_id = handle.storage, handle.study_id
    with _claim_lock(storage):
        for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
            try:
                if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return optuna.trial.Trial(handle.study, trial_id), trial_id
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # finished by someone else between our read and our claim
    return None


@contextlib.contextmanager
def _claim_lock(storage: Any) -> Iterator[None]:
    """On SQLite, hold an exclusive file lock while claiming.

    Optuna's claim reads the state, then writes RUNNING. PostgreSQL locks the row for
    that (SELECT ... FOR UPDATE) and the journal orders both in its log, but SQLite
    (pysqlite) runs the read outside any transaction, so two processes could both see
    WAITING and both claim the slot. SQLite serves one machine, so a lock file beside
    the database serialises claims without slowing any other query.
    """
    path = sqlite_path(storage)
    if path is None:
        yield
        return
    import fcntl

    with open(path.with_name(f".{path.name}.claim-lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def count_states(study: Any) -> dict[str, int]:
    """{'COMPLETE': n, 'PRUNED': n, 'FAIL': n, 'RUNNING': n, 'WAITING': n} for progress and reports."""
    from optuna.trial import TrialState

    counts = {s.name: 0 for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING,
                                  TrialState.WAITING)}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts
