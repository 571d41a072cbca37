"""benchmarks/optimizer_shootout.py on the embedded digits: split runs, a tuning subset, and --combine."""
import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("optuna")

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "optimizer_shootout.py"


def _shootout():
    spec = importlib.util.spec_from_file_location("optimizer_shootout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


QUICK = ["--dataset", "digits", "--trials", "2", "--seeds", "2", "--epochs", "2", "--tune-train-size", "300"]


def test_split_runs_combine_into_one_report(tmp_path, capsys):
    shootout = _shootout()
    first = shootout.main(QUICK + ["--optimizers", "adam", "--out", str(tmp_path / "a.json")])
    second = shootout.main(QUICK + ["--optimizers", "sgd", "--out", str(tmp_path / "b.json")])
    assert [len(t) for t in first["rows"][0]["test_accuracy"]] == [2, 2]  # 2 seeds x 2 epochs
    assert len(first["rows"][0]["trials"]) == 2
    combined = shootout.main(["--combine", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                              "--out", str(tmp_path / "all.json")])
    assert [r["optimizer"] for r in combined["rows"]] == ["adam", "sgd"]
    assert combined["rows"][0]["final"] == first["rows"][0]["final"]
    assert len(combined["verdict"]) == 1 and ("adam" in combined["verdict"][0] and "sgd" in combined["verdict"][0])
    written = json.loads((tmp_path / "all.json").read_text())
    assert written["settings"]["tune_train_size"] == 300 and len(written["parts"]) == 2
    assert "--combine" in written["command"]


def test_combine_refuses_files_of_different_settings(tmp_path):
    shootout = _shootout()
    shootout.main(QUICK + ["--optimizers", "adam", "--out", str(tmp_path / "a.json")])
    shootout.main(QUICK[:-2] + ["--optimizers", "sgd", "--out", str(tmp_path / "b.json")])
    with pytest.raises(SystemExit, match="different settings"):
        shootout.main(["--combine", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                       "--out", str(tmp_path / "all.json")])


def test_time_steps_reports_seconds_per_epoch_of_each_optimizer(tmp_path):
    shootout = _shootout()
    result = shootout.main(["--dataset", "digits", "--optimizers", "adam", "sam", "--time-steps", "3",
                            "--time-rounds", "2", "--out", str(tmp_path / "times.json")])
    rows = {r["optimizer"]: r for r in result["rows"]}
    assert set(rows) == {"adam", "sam"} and all(len(r["rounds"]) == 2 for r in rows.values())
    assert all(r["seconds_per_epoch"] > 0 for r in rows.values())
    assert json.loads((tmp_path / "times.json").read_text())["steps"] == 3
