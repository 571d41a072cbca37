"""`run_tune(settings)`: the whole search as `tinygrad-opt tune` runs it.

1. open the storage and create the study with its trial slots, or join it (resume);
2. run workers: this process alone (--workers 1) or K worker processes (worker_process.py),
   each with its own seeded sampler, all claiming slots from the same storage;
3. wait for trials still running elsewhere (another machine, a killed worker whose
   heartbeat has yet to expire), failing the dead ones;
4. write the reports: the results table, trials.csv, plots and best_config.toml.
"""
from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..train.config import TrainConfig
from ..train.errors import ConfigError
from .heartbeat import fail_stale_trials
from .objective import run_trial
from .report import best_config, ranked_trials, results_table, write_best_config, write_plots, write_trials_csv
from .settings import TuneSettings
from .storage import default_grace, default_storage_url, describe, open_storage
from .study import BASE_ATTR, METRIC_ATTR, SPACE_ATTR, StudyHandle, count_states, open_study
from .worker import make_pruner, make_sampler, worker_loop


@dataclass
class TuneResult:
    """What run_tune produced. `files` maps report names to paths (or why a plot was skipped)."""

    study: Any
    storage_url: str
    counts: dict[str, int]
    seconds: float
    best_value: float | None
    best_number: int | None
    best_config: dict[str, Any] | None
    files: dict[str, str] = field(default_factory=dict)
    exit_codes: list[int] = field(default_factory=list)


def _storage_url(settings: TuneSettings) -> str:
    return settings.storage or default_storage_url(settings.out_dir)


def _open(settings: TuneSettings, worker_index: int) -> StudyHandle:
    """Open the storage and create-or-join the study, with this worker's sampler."""
    storage = open_storage(_storage_url(settings), settings.heartbeat, settings.grace)
    meta = {SPACE_ATTR: settings.space.to_dict(), METRIC_ATTR: settings.metric, BASE_ATTR: dict(settings.base)}
    enqueue = [settings.space.optuna_params(p) for p in settings.space.enqueue]
    handle = open_study(storage, settings.study, settings.direction, settings.trials,
                        sampler=make_sampler(settings, worker_index), pruner=make_pruner(settings),
                        enqueue=enqueue, meta=meta)
    counts = count_states(handle.study)
    progress = counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]
    if progress:  # resumed: draw afresh rather than repeat the configurations the first run drew
        handle.study.sampler = make_sampler(settings, worker_index, progress)
    return handle


def _objective(settings: TuneSettings):
    return functools.partial(run_trial, base=settings.base, space=settings.space, metric=settings.metric)


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial replaces Optuna's


def worker_main(settings: TuneSettings, worker_index: int, deadline_in: float | None) -> int:
    """Body of a worker process: join the study, run trials until none is left, return 0."""
    _quiet_optuna()
    deadline = None if deadline_in is None else time.monotonic() + deadline_in
    handle = _open(settings, worker_index)
    worker_loop(settings, handle, _objective(settings), deadline, worker=f"w{worker_index}")
    return 0


BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _worker_env(workers: int) -> dict[str, str]:
    """The children's environment: the cores shared out among them, unless the user set the thread counts.

    Each BLAS library otherwise starts a thread per core in every worker; K workers then
    oversubscribe the machine K-fold, and OpenBLAS's spinning threads made a 2-worker
    search on 2 cores several times slower than 1 worker (measured on MNIST).
    """
    env = dict(os.environ)
    share = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    for var in BLAS_THREAD_VARS:
        env.setdefault(var, share)
    return env


def _run_local_workers(settings: TuneSettings, started: float) -> list[int]:
    """K worker processes, each `python -m tinygrad_opt.tune.worker_process SETTINGS K DEADLINE`.

    Fresh interpreters (not fork: safe with threads and BLAS pools), started as modules,
    so the caller's script needs no `if __name__ == "__main__"` guard as multiprocessing's
    spawn would. The settings travel as a pickle file in the output folder.
    """
    remaining = None if settings.timeout is None else max(0.0, settings.timeout - (time.monotonic() - started))
    settings_file = settings.out_dir / f".worker-settings-{os.getpid()}.pickle"
    settings_file.write_bytes(pickle.dumps(settings))
    env = _worker_env(settings.workers)
    package_root = str(Path(__file__).resolve().parents[2])  # so the children import this same package
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    procs = [subprocess.Popen([sys.executable, "-m", "tinygrad_opt.tune.worker_process", str(settings_file), str(k),
                               "none" if remaining is None else repr(remaining)], env=env)
             for k in range(settings.workers)]
    try:
        for p in procs:
            p.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the children too; let them record their trials as failed
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    finally:
        settings_file.unlink(missing_ok=True)
    return [p.returncode for p in procs]


def _wait_for_running(settings: TuneSettings, handle: StudyHandle, deadline: float | None) -> None:
    """Trials still RUNNING belong to other commands or to dead workers: wait until each ends or is failed."""
    from optuna.trial import TrialState

    announced = False
    while True:
        running = handle.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return
        if deadline is not None and time.monotonic() > deadline:
            _say(settings, f"timeout: {len(running)} trial(s) still running elsewhere are left to their workers")
            return
        if not announced:
            _say(settings, f"waiting for {len(running)} trial(s) running in other workers "
                           f"(a dead worker's trial is failed {settings.grace or default_grace(settings.heartbeat):.0f} s "
                           f"after its last heartbeat)")
            announced = True
        for number in fail_stale_trials(handle.study, handle.storage, settings.heartbeat, settings.grace):
            _say(settings, f"trial {number + 1} failed: its worker stopped sending heartbeats (killed?)")
        time.sleep(min(2.0, settings.heartbeat))


def _say(settings: TuneSettings, line: str) -> None:
    if settings.verbose:
        print(line, flush=True)


def _counts_line(counts: dict[str, int], budget: int) -> str:
    done = counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]
    parts = [f"{done}/{budget} trials done: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
             f"{counts['FAIL']} failed"]
    if counts["RUNNING"]:
        parts.append(f"{counts['RUNNING']} running")
    if counts["WAITING"]:
        parts.append(f"{counts['WAITING']} waiting")
    return ", ".join(parts)


def run_tune(settings: TuneSettings) -> TuneResult:
    """Run (or resume, or join) the search `settings` describes; see the module docstring."""
    _quiet_optuna()
    started = time.monotonic()
    deadline = None if settings.timeout is None else started + settings.timeout
    _check_keys(settings)
    TrainConfig.from_dict(settings.base, source="tune settings").resolved()  # bad shared settings fail now
    url = _storage_url(settings)
    created = not settings.out_dir.exists()
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        handle = _open(settings, 0)
    except BaseException:
        if created and not any(settings.out_dir.iterdir()):  # an unreachable storage leaves no empty out folder
            settings.out_dir.rmdir()
        raise
    counts = count_states(handle.study)
    done = counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]
    verb = "created" if handle.created else ("resuming" if done else "joined")
    _say(settings, f"study {settings.study!r} {verb} in {describe(url)}: {handle.budget} trials in all"
                   + (f", {done} already done" if done else "")
                   + f"; {settings.workers} worker(s) here, metric {settings.metric} ({settings.direction}), "
                     f"pruner {settings.pruner}, {settings.epochs} epoch(s) per trial")
    exit_codes: list[int] = []
    if settings.workers == 1:
        worker_loop(settings, handle, _objective(settings), deadline)
    else:
        exit_codes = _run_local_workers(settings, started)
        lost = [k for k, code in enumerate(exit_codes) if code != 0]
        if lost:
            _say(settings, f"worker(s) {', '.join(f'w{k}' for k in lost)} ended abnormally "
                           f"(exit codes {[exit_codes[k] for k in lost]}); their running trials are failed "
                           f"by heartbeat and the others completed the rest")
    _wait_for_running(settings, handle, deadline)
    result = write_reports(settings, handle.study, url, time.monotonic() - started)
    result.exit_codes = exit_codes
    return result


def _check_keys(settings: TuneSettings) -> None:
    keys = set(TrainConfig.keys())
    names = [p.name for p in settings.space.params if not p.name.startswith("_")] + list(settings.space.fixed)
    unknown = sorted(n for n in names if n not in keys)
    if unknown:
        raise ConfigError(f"search space: {', '.join(map(repr, unknown))} are not training settings; "
                          f"valid names: {', '.join(sorted(keys))} (a name starting with '_' is a switch)")


def write_reports(settings: TuneSettings, study: Any, url: str, seconds: float) -> TuneResult:
    """Print the results table and write trials.csv, the plots and best_config.toml to the output folder."""
    out = settings.out_dir
    counts = count_states(study)
    files: dict[str, str] = {"trials_csv": str(write_trials_csv(study, out / "trials.csv"))}
    best_value = best_number = best_cfg = None
    if ranked_trials(study):
        values, best = best_config(study, settings.base)
        best_value, best_number, best_cfg = best.value, best.number, values
        files["best_config"] = str(write_best_config(study, settings.base, settings.metric, out / "best_config.toml"))
    if settings.plots:
        files.update(write_plots(study, out, settings.metric))
    budget = int(study.user_attrs.get("tune_budget", settings.trials))
    _say(settings, "")
    _say(settings, _counts_line(counts, budget) + f" in {seconds:.1f} s")
    _say(settings, results_table(study, settings.metric, settings.top))
    if best_cfg is not None:
        _say(settings, f"best: trial {best_number + 1}, {settings.metric} {best_value:.4f}; "
                       f"retrain with: tinygrad-opt train --config {files['best_config']}")
    for name, where in files.items():
        if name != "best_config":
            _say(settings, f"{name}: {where}")
    return TuneResult(study, url, counts, seconds, best_value, best_number, best_cfg, files)
