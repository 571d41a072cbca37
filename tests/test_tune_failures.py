"""`tinygrad-opt tune` failure paths: unreachable storage, resumed studies, bad options, paused workers."""
import sqlite3
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tinygrad_opt import cli  # noqa: E402
from tinygrad_opt.tune import TuneSettings, run_tune, space_from_dict  # noqa: E402
from tinygrad_opt.tune.runner import _open  # noqa: E402
from tinygrad_opt.tune.storage import set_wal_journal  # noqa: E402
from tinygrad_opt.tune.study import claim_trial  # noqa: E402
from tinygrad_opt.tune.worker import run_one  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"replace": True, "fixed": {"hidden": [16]},
         "params": {"lr": {"type": "float", "low": 1e-3, "high": 0.1, "log": True},
                    "batch_size": {"type": "categorical", "choices": [32, 64]}}}


def settings(tmp_path: Path, trials: int, **kw) -> TuneSettings:
    return TuneSettings(out=str(tmp_path / "out"), space=space_from_dict(SPACE), trials=trials,
                        base={"dataset": "digits", "epochs": 1, "seed": 0}, verbose=False, pruner="none", **kw)


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_an_unreachable_postgresql_storage_is_one_line_and_leaves_no_out_folder(tmp_path, capsys):
    pytest.importorskip("psycopg2")
    out = tmp_path / "tune"
    code, _, err = run_cli(capsys, "tune", "--trials", "1", "--out", out,
                           "--storage", "postgresql://nobody:secret@127.0.0.1:1/nothing")
    one_line_error(code, err, "storage postgresql://nobody:***@127.0.0.1:1/nothing: cannot open the database")
    assert "secret" not in err and not out.exists()


def test_a_resumed_study_never_repeats_the_configurations_it_scored(tmp_path):
    first = run_tune(settings(tmp_path, 3))
    scored = [t.params for t in first.study.trials]
    resumed = run_tune(settings(tmp_path, 6))
    later = [t.params for t in resumed.study.trials[3:]]
    assert len(later) == 3 and not [p for p in later if p in scored], (scored, later)


def test_ctrl_c_says_how_to_resume_the_study(tmp_path, capsys, monkeypatch):
    from tinygrad_opt.tune import runner

    def interrupted(settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_tune", interrupted)
    code, _, err = run_cli(capsys, "tune", "--trials", "2", "--study", "mine", "--out", tmp_path / "t")
    assert code == 130
    assert "the study 'mine' keeps every finished trial" in err and "running the same command again" in err


@pytest.mark.parametrize("argv, fragment", [
    (["--enqueue", "lr=abc"], "--enqueue: lr: expected a number, got 'abc'"),
    (["--enqueue", "batch_size=1.5"], "--enqueue: batch_size: expected an integer"),
    (["--grace", "5", "--heartbeat", "10"], "--grace 5.0 must be longer than --heartbeat 10.0 seconds"),
    (["--trials", "0"], "--trials 0 must be a positive integer"),
])
def test_bad_tune_options_are_refused_before_any_trial(tmp_path, capsys, argv, fragment):
    out = tmp_path / "t"
    code, stdout, err = run_cli(capsys, "tune", "--trials", "2", "--out", out, *argv)
    one_line_error(code, err, fragment)
    assert not out.exists() and "trial" not in stdout


def test_a_worker_paused_past_the_grace_period_drops_its_failed_trial_and_carries_on(tmp_path):
    from optuna.trial import TrialState

    s = settings(tmp_path, 2)
    s.out_dir.mkdir(parents=True)
    handle = _open(s, 0)
    trial, trial_id = claim_trial(handle)
    # meanwhile another worker saw no heartbeat for longer than the grace period and failed the trial
    handle.storage.set_trial_state_values(trial_id, state=TrialState.FAIL)

    def objective(t):
        t.report(0.5, 1)  # the paused worker wakes up and reports
        return 0.5

    outcome = run_one(handle, trial, objective)
    assert outcome.state == "FAIL" and "another worker failed the trial" in outcome.note
    assert claim_trial(handle) is not None  # the worker goes on with the next slot


class _LockedCursor:
    """A cursor whose journal pragma meets a locked database `locked` times before it goes through."""

    def __init__(self, locked, message="database is locked"):
        self.locked, self.message, self.pragmas = locked, message, 0

    def execute(self, sql):
        self.pragmas += 1
        if self.locked:
            self.locked -= 1
            raise sqlite3.OperationalError(self.message)


def test_the_wal_pragma_is_asked_again_while_another_process_holds_the_new_file():
    cursor = _LockedCursor(3)
    set_wal_journal(cursor, seconds=5)
    assert cursor.pragmas == 4 and cursor.locked == 0


def test_the_wal_pragma_gives_up_after_its_time_and_on_other_errors():
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        set_wal_journal(_LockedCursor(10**6), seconds=0.05)
    cursor = _LockedCursor(1, "disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        set_wal_journal(cursor, seconds=5)
    assert cursor.pragmas == 1
