"""Many workers, one study: SQLite, journal and a real PostgreSQL; killed workers; resuming.

Each search here runs real training on the embedded digits with a tiny fixed net, so
the trials are short and the workers contend for slots often.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from pg_fixture import postgres_server, why_unavailable  # noqa: E402

from tinygrad_opt.tune import TuneSettings, run_tune, space_from_dict  # noqa: E402
from tinygrad_opt.tune.storage import open_storage  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parent.parent

TINY = {
    "replace": True,
    "fixed": {"hidden": [16], "batch_size": 64},
    "params": {"lr": {"type": "float", "low": 1e-3, "high": 0.1, "log": True},
               "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]}},
}


@pytest.fixture(scope="module")
def postgres_url():
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


def _trials(url, study="shared"):
    return optuna.load_study(study_name=study, storage=open_storage(url)).trials


@pytest.mark.parametrize("backend", ["sqlite", "journal", "postgresql"])
def test_two_worker_processes_share_one_study_and_run_exactly_n_trials(tmp_path, backend, request):
    url = {"sqlite": None, "journal": f"journal:{tmp_path / 'study.log'}"}.get(backend)
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    n = 12
    settings = TuneSettings(trials=n, workers=2, storage=url, study=f"shared-{backend}", out=str(tmp_path / "out"),
                            space=space_from_dict(TINY), base={"dataset": "digits", "epochs": 3},
                            pruner="none", heartbeat=1.0, verbose=False, plots=False)
    result = run_tune(settings)
    assert result.exit_codes == [0, 0]
    trials = optuna.load_study(study_name=settings.study, storage=open_storage(result.storage_url)).trials
    # every slot ran exactly once: n trials, numbered 0..n-1, all finished by one worker each
    assert len(trials) == n
    assert sorted(t.number for t in trials) == list(range(n))
    assert all(t.state.name == "COMPLETE" and t.value is not None for t in trials)
    workers = [t.user_attrs["worker"] for t in trials]
    assert all(w.endswith((" w0", " w1")) for w in workers)
    assert {w.split()[-1] for w in workers} == {"w0", "w1"}, "both workers should have run trials"
    # another command joining the finished study (as from a second machine) finds nothing left to run
    again = run_tune(TuneSettings(**{**settings.__dict__, "workers": 1}))
    assert len(again.study.trials) == n and again.counts["COMPLETE"] == n


CLAIMER = r"""
import os, sys, time
from tinygrad_opt.tune.storage import open_storage
from tinygrad_opt.tune.study import claim_trial, open_study
url, name, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
handle = open_study(open_storage(url, heartbeat_interval=60), name, "maximize", budget)
ran = 0
while (claimed := claim_trial(handle)) is not None:
    trial, _ = claimed
    trial.set_user_attr("claimer", os.getpid())
    time.sleep(0.02)  # a little work, so that no process drains the queue before the others have started
    handle.study.tell(trial, float(trial.number))  # raises if another process had finished this trial
    ran += 1
print(ran)
"""


@pytest.mark.parametrize("backend", ["sqlite", "journal", "postgresql"])
def test_racing_processes_create_or_join_the_study_and_claim_each_slot_once(tmp_path, backend, request):
    """Three processes start at once on a new study and claim as fast as they can: no slot twice, none lost."""
    url = {"sqlite": f"sqlite:///{tmp_path / 'race.db'}", "journal": f"journal:{tmp_path / 'race.log'}"}.get(backend)
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    open_storage(url)  # the schema exists before the race (as when `tune --workers K` starts its workers)
    budget, name = 60, f"race-{backend}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, url, name, str(budget)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    ran = [int(out.strip()) for out, _ in results]
    assert sum(ran) == budget
    trials = _trials(url, name)
    assert len(trials) == budget and all(t.state.name == "COMPLETE" for t in trials)
    assert sorted(t.value for t in trials) == [float(i) for i in range(budget)]
    assert len({t.user_attrs["claimer"] for t in trials}) >= 2  # they really raced


def _tune_cmd(out, storage, trials, epochs, workers=1):
    return [sys.executable, "-m", "tinygrad_opt", "tune", "--trials", str(trials), "--epochs", str(epochs),
            "--pruner", "none", "--heartbeat", "1", "--grace", "3", "--space", str(out / "space.toml"),
            "--out", str(out), "--storage", storage, "--study", "kill", "--no-plots", "--workers", str(workers)]


def _write_space(out):
    out.mkdir(parents=True, exist_ok=True)
    (out / "space.toml").write_text(
        'replace = true\n[fixed]\nhidden = [8]\nbatch_size = 128\n'
        '[params.lr]\ntype = "float"\nlow = 0.001\nhigh = 0.01\nlog = true\n')


def _wait_for(predicate, what, timeout=60.0, proc=None):
    """predicate()'s first true answer; fails on the timeout, or at once with its output where `proc` (the tune
    command) has exited meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the tune command exited ({proc.returncode}) before {what}:\n{output}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _running(url):
    try:
        return [t for t in _trials(url, "kill") if t.state.name == "RUNNING" and "worker" in t.user_attrs]
    except (KeyError, ValueError, optuna.exceptions.StorageInternalError):
        return []  # the study is not created yet


def test_a_killed_command_loses_only_its_running_trial_and_a_rerun_completes_the_rest(tmp_path):
    out = tmp_path / "run"
    _write_space(out)
    url = f"journal:{out / 'study.log'}"
    cmd = _tune_cmd(out, url, trials=3, epochs=150)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        running = _wait_for(lambda: _running(url), "the first trial to start", proc=proc)
        os.kill(proc.pid, signal.SIGKILL)  # mid-trial: 150 epochs take far longer than the poll
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = running[0].number
    states = [t.state.name for t in _trials(url, "kill")]
    assert states[killed] == "RUNNING" and states.count("WAITING") == 2  # nothing else was touched
    # the same command again: resumes, fails the dead trial once its heartbeat is stale, runs the rest
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resuming" in rerun.stdout or "joined" in rerun.stdout
    assert f"trial {killed + 1} failed: its worker stopped sending heartbeats" in rerun.stdout
    assert "3/3 trials done: 2 complete, 0 pruned, 1 failed" in rerun.stdout
    trials = _trials(url, "kill")
    assert len(trials) == 3 and [t.state.name for t in trials].count("COMPLETE") == 2
    assert trials[killed].state.name == "FAIL" and "no heartbeat" in trials[killed].user_attrs["fail_reason"]


def test_killing_one_of_two_workers_mid_trial_leaves_the_other_to_finish(tmp_path):
    out = tmp_path / "run"
    _write_space(out)
    url = f"sqlite:///{out / 'study.db'}"
    cmd = _tune_cmd(out, url, trials=3, epochs=300, workers=2)  # trials of seconds: the kill lands mid-trial
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        running = _wait_for(lambda: _running(url), "a worker to start a trial", proc=proc)
        # the trial started last: the one furthest from its end (an older one could finish, and its worker
        # leave, between this look and the kill; then nothing ends abnormally)
        victim = max(running, key=lambda t: t.datetime_start)
        pid = int(victim.user_attrs["worker"].split()[0].rsplit(":", 1)[1])
        os.kill(pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "ended abnormally" in output and f"trial {victim.number + 1} failed: its worker stopped" in output
    trials = _trials(url, "kill")
    assert len(trials) == 3 and all(t.state.is_finished() for t in trials)
    states = [t.state.name for t in trials]
    assert states[victim.number] == "FAIL" and states.count("COMPLETE") == 2
    # the surviving worker went on: it ran completed trials (the slots the victim would have taken)
    survivors = {t.user_attrs["worker"] for t in trials if t.state.name == "COMPLETE"}
    assert any(int(w.split()[0].rsplit(":", 1)[1]) != pid for w in survivors)


@pytest.mark.parametrize("lost_on", ["version row", "table"])
def test_a_database_whose_schema_another_process_wrote_meanwhile_opens_on_a_retry(tmp_path, monkeypatch, lost_on):
    """Two processes opening a new SQLite file at once both write Optuna's schema; the slower one fails on the
    version row (alembic_version) the other wrote, or on a table the other created between Optuna's look and
    its own CREATE TABLE. open_storage opens it again instead of failing the run."""
    import sqlite3

    import sqlalchemy.exc

    real, calls = optuna.storages.RDBStorage, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1 and lost_on == "version row":
            raise sqlalchemy.exc.IntegrityError("INSERT INTO alembic_version", {}, sqlite3.IntegrityError(
                "UNIQUE constraint failed: alembic_version.version_num"))
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {}, sqlite3.OperationalError(
                "table studies already exists"))
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    opened = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert len(calls) == 2
    assert opened.get_all_studies() == []


_OPEN_AT = """
import sys, time
from tinygrad_opt.tune.storage import open_storage
start = float(sys.argv[2])
while time.time() < start:
    pass
open_storage(sys.argv[1]).get_all_studies()
"""


def test_processes_opening_one_new_database_at_the_same_moment_all_open_it(tmp_path):
    """Two processes open a new SQLite file at the same instant, a few times over: each time either may lose
    one of the races above (each came up in about half of such pairs), and both must open it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for attempt in range(4):
        url = f"sqlite:///{tmp_path / f'study{attempt}.db'}"
        start = str(time.time() + 4.0)  # after both have imported Optuna
        procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, url, start], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        for proc in procs:
            output, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, output


def test_another_database_error_is_not_retried(tmp_path, monkeypatch):

    calls = []

    def refusing(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("disk I/O error")

    monkeypatch.setattr(optuna.storages, "RDBStorage", refusing)
    with pytest.raises(RuntimeError, match="cannot open the database \\(disk I/O error\\)"):
        open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert len(calls) == 1
