"""Heartbeats of running trials, and failing the trials whose worker died.

RDB storages (SQLite, PostgreSQL) have Optuna's heartbeat table: a background thread
calls `storage.record_heartbeat(trial_id)` and `optuna.storages.fail_stale_trials`
fails RUNNING trials whose last beat is older than the grace period, by the
database's clock. The journal storage has no such table, so its workers write the
time into the trial's system attribute `tune:heartbeat` and compare it with their own
clock (keep machines' clocks in sync, as NTP does, when a journal is shared).
"""
from __future__ import annotations

import threading
import time
import warnings
from typing import Any

from .storage import default_grace

HEARTBEAT_ATTR = "tune:heartbeat"
FAIL_REASON_ATTR = "fail_reason"


def _is_rdb(storage: Any) -> bool:
    from optuna.storages import RDBStorage

    return isinstance(storage, RDBStorage)


def _beat(storage: Any, trial_id: int) -> None:
    if _is_rdb(storage):
        storage.record_heartbeat(trial_id)
    else:
        storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())


class Heartbeat:
    """`with Heartbeat(storage, trial_id, interval):` beats now, then every `interval` seconds until exit."""

    def __init__(self, storage: Any, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                _beat(self.storage, self.trial_id)
            except Exception:  # a finished trial (failed by another worker after a long stall) refuses beats
                return

    def __enter__(self) -> "Heartbeat":
        _beat(self.storage, self.trial_id)  # at once, so a worker killed in its first second is still detected
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def fail_stale_trials(study: Any, storage: Any, interval: float, grace: float | None = None) -> list[int]:
    """Fail RUNNING trials whose heartbeat is older than the grace period; return their numbers."""
    import optuna
    from optuna.trial import TrialState

    grace = default_grace(interval) if grace is None else grace
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    if _is_rdb(storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        after = {t.number: t.state for t in study.get_trials(deepcopy=False)}
        return [t.number for t in running if after.get(t.number) == TrialState.FAIL]
    now = time.time()
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for t in running:
        last = t.system_attrs.get(HEARTBEAT_ATTR)
        if last is None and t.datetime_start is not None:
            last = t.datetime_start.timestamp()
        if last is None or now - float(last) <= grace:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, f"no heartbeat for {now - float(last):.0f} s (worker gone)")
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(t.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker failed it first, or its own worker finished it just now
    return failed
