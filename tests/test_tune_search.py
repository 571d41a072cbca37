"""Searches in one process on the embedded digits: improvement, pruning, divergence, reports, resume, CLI."""
import csv
import json

import pytest

optuna = pytest.importorskip("optuna")

from tinygrad_opt import cli  # noqa: E402
from tinygrad_opt.cli.tune import _as_flags  # noqa: E402
from tinygrad_opt.tune import TuneSettings, run_tune, space_from_dict  # noqa: E402
from tinygrad_opt.tune.heartbeat import FAIL_REASON_ATTR, HEARTBEAT_ATTR, fail_stale_trials  # noqa: E402
from tinygrad_opt.tune.storage import open_storage  # noqa: E402
from tinygrad_opt.tune.study import claim_trial, open_study  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

# a small, fast space: digits trains in a fraction of a second per epoch with these nets
SMALL = {
    "replace": True,
    "fixed": {"hidden": [32]},
    "params": {
        "lr": {"type": "float", "low": 1e-4, "high": 0.3, "log": True},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.5, "high": 0.95, "when": {"optimizer": ["sgd"]}},
        "batch_size": {"type": "categorical", "choices": [32, 64]},
    },
}


def _settings(tmp_path, **kw):
    space = space_from_dict(kw.pop("space", SMALL))
    space.enqueue = kw.pop("enqueue", [])
    base = {"dataset": "digits", "epochs": 2, "seed": 0, **kw.pop("base", {})}
    return TuneSettings(out=str(tmp_path / "out"), space=space, base=base, verbose=False, **kw)


def test_search_beats_a_deliberately_bad_start_and_writes_its_reports(tmp_path):
    settings = _settings(tmp_path, trials=20, enqueue=[{"lr": 1e-5, "optimizer": "sgd", "momentum": 0.5}])
    result = run_tune(settings)
    trials = result.study.trials
    assert len(trials) == 20 and all(t.state.is_finished() for t in trials)
    first = trials[0]
    assert first.params["lr"] == 1e-5 and first.user_attrs["start_point"] is True
    bad = first.value if first.value is not None else first.intermediate_values[max(first.intermediate_values)]
    assert bad < 0.5, bad  # 2 epochs of SGD at lr 1e-5 barely move a fresh net
    assert result.best_value > 0.9 and result.best_value > bad + 0.4
    assert result.best_config["lr"] > 1e-4
    states = {t.state.name for t in trials}
    assert "PRUNED" in states  # the median pruner stopped some trials after their first epoch
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert all(len(t.intermediate_values) == 1 and "pruned after epoch 1" in t.user_attrs["pruned_reason"] for t in pruned)
    # reports
    out = tmp_path / "out"
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [int(r["trial"]) for r in rows] == list(range(1, 21))
    assert {r["state"] for r in rows} == states and rows[0]["lr"] == "1e-05"
    assert all(r["reason"] for r in rows if r["state"] == "PRUNED")
    for name in ("optimization_history", "param_importances"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert (out / "study.db").exists() and (out / "best_config.toml").exists()


def test_a_diverging_trial_is_pruned_with_its_reason_and_the_search_goes_on(tmp_path):
    explode = {"lr": 1e4, "optimizer": "sgd", "momentum": 0.95}  # the weights overflow within two epochs
    settings = _settings(tmp_path, trials=3, pruner="none", enqueue=[explode, {"lr": 0.01, "optimizer": "adam"}])
    result = run_tune(settings)
    nan_trial, good, _ = result.study.trials
    assert nan_trial.state.name == "PRUNED"
    reason = nan_trial.user_attrs["diverged"]
    assert reason.startswith("diverged: loss") and ("nan" in reason or "inf" in reason), reason
    assert " at epoch " in reason and ", step " in reason
    assert good.state.name == "COMPLETE" and good.value > 0.8
    assert result.best_number == 1
    rows = list(csv.DictReader((tmp_path / "out" / "trials.csv").open()))
    assert rows[0]["state"] == "PRUNED" and rows[0]["reason"] == reason


def test_best_config_retrains_to_the_same_score_with_train_config(tmp_path, capsys):
    result = run_tune(_settings(tmp_path, trials=4, pruner="none"))
    best_file = tmp_path / "out" / "best_config.toml"
    text = best_file.read_text()
    assert text.startswith("# best of study 'tinygrad-opt': val_acc") and "hidden = [32]" in text
    run_dir = tmp_path / "retrain"
    assert cli.main(["train", "--config", str(best_file), "--out", str(run_dir), "--quiet"]) == 0
    history = json.loads((run_dir / "history.json").read_text())
    records = history if isinstance(history, list) else history["history"]
    # same data split, seed, model, optimizer and loop: the retrain reproduces the trial's score exactly
    assert records[-1]["val_acc"] == pytest.approx(result.best_value, abs=1e-12)
    assert len(records) == 2


def test_rerunning_resumes_the_study_and_a_larger_budget_adds_trials(tmp_path):
    first = run_tune(_settings(tmp_path, trials=3))
    assert len(first.study.trials) == 3
    again = run_tune(_settings(tmp_path, trials=3))  # same command: nothing left to do
    assert len(again.study.trials) == 3 and again.best_value == first.best_value
    more = run_tune(_settings(tmp_path, trials=5))
    assert len(more.study.trials) == 5 and all(t.state.is_finished() for t in more.study.trials)
    assert more.study.user_attrs["tune_budget"] == 5
    with pytest.raises(ValueError, match="created with another search space") as space_error:
        run_tune(_settings(tmp_path, trials=5, space={**SMALL, "fixed": {"hidden": [64]}}))
    with pytest.raises(ValueError, match="maximizes its metric but this command would minimize") as metric_error:
        run_tune(_settings(tmp_path, trials=5, metric="val_loss"))
    # the library names its parameters; the CLI shows them as flags
    assert "--" not in str(space_error.value) and "--" not in str(metric_error.value)
    assert "(--space FILE and its defaults)" in _as_flags(str(space_error.value))
    assert "use the same metric (--metric val_acc), or another study name (--study NAME)" in \
        _as_flags(str(metric_error.value))


def test_hyperband_pruner_and_loss_metric(tmp_path):
    result = run_tune(_settings(tmp_path, trials=6, pruner="hyperband", metric="val_loss", base={"epochs": 3}))
    assert result.study.direction.name == "MINIMIZE"
    assert len(result.study.trials) == 6 and 0 < result.best_value < 1.0


def test_journal_heartbeats_fail_a_silent_trial_with_a_reason(tmp_path):
    storage = open_storage(f"journal:{tmp_path / 'j.log'}", heartbeat_interval=1.0)
    handle = open_study(storage, "s", "maximize", 2)
    trial, trial_id = claim_trial(handle)
    storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, 0.0)  # last beat long ago: its worker is gone
    assert fail_stale_trials(handle.study, storage, interval=1.0, grace=5.0) == [0]
    failed = handle.study.trials[0]
    assert failed.state.name == "FAIL" and "no heartbeat" in failed.user_attrs[FAIL_REASON_ATTR]
    trial2, trial_id2 = claim_trial(handle)  # the study goes on
    storage.set_trial_system_attr(trial_id2, HEARTBEAT_ATTR, __import__("time").time())
    assert fail_stale_trials(handle.study, storage, interval=1.0, grace=5.0) == []  # a fresh beat is alive
    handle.study.tell(trial2, 0.5)
    assert claim_trial(handle) is None  # budget of 2 used up: no third trial is created


def test_cli_tune_end_to_end_with_enqueue_and_exit_codes(tmp_path, capsys):
    out = tmp_path / "cli"
    space = tmp_path / "space.toml"
    space.write_text('replace = true\n[fixed]\nhidden = [16]\n[params.lr]\ntype = "float"\nlow = 0.001\nhigh = 0.1\nlog = true\n')
    code = cli.main(["tune", "--trials", "3", "--epochs", "1", "--space", str(space), "--out", str(out), "--no-plots",
                     "--enqueue", "lr=0.05", "--study", "demo"])
    text = capsys.readouterr().out
    assert code == 0
    assert "study 'demo' created in sqlite:///" in text and "trial 1/3" in text and "lr=0.05" in text
    assert "rank  trial  val_acc" in text and "retrain with: tinygrad-opt train --config" in text
    assert (out / "best_config.toml").exists() and not (out / "optimization_history.png").exists()
    # user errors: one line, exit code 2
    assert cli.main(["tune", "--trials", "1", "--storage", "redis://x", "--out", str(tmp_path / "e")]) == 2
    assert "unsupported form; use one of sqlite:///PATH" in capsys.readouterr().err
    assert cli.main(["tune", "--trials", "1", "--enqueue", "lr", "--out", str(tmp_path / "e")]) == 2
    assert "--enqueue: expected KEY=VALUE pairs" in capsys.readouterr().err
    assert cli.main(["tune", "--trials", "1", "--enqueue", "lrr=1", "--out", str(tmp_path / "e")]) == 2
    assert "'lrr', which is not a searched parameter" in capsys.readouterr().err
    bad_space = tmp_path / "bad.toml"
    bad_space.write_text('[params.colour]\nchoices = ["red"]\n')
    assert cli.main(["tune", "--trials", "1", "--space", str(bad_space), "--out", str(tmp_path / "e")]) == 2
    assert "'colour' are not training settings" in capsys.readouterr().err


def test_timeout_stops_starting_trials_and_a_rerun_finishes_the_waiting_slots(tmp_path):
    cut = run_tune(_settings(tmp_path, trials=40, timeout=1.0, base={"epochs": 1}))
    counts = cut.counts
    assert counts["WAITING"] > 0 and counts["RUNNING"] == 0
    assert counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"] + counts["WAITING"] == 40
    rest = run_tune(_settings(tmp_path, trials=40, base={"epochs": 1}))
    assert rest.counts["WAITING"] == 0 and len(rest.study.trials) == 40
