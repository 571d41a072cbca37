"""`tinygrad-opt train` / `evaluate`: runs, config files, resume, Ctrl-C, and every bad input of issue 3
(exit code 2 and a one-line message, no traceback). In-process through cli.main, plus subprocess runs."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_opt import cli
from tinygrad_opt.train.config import TrainConfig
from tinygrad_opt.train.config_file import load_config
from tinygrad_opt.data import write_idx
from tinygrad_opt.train import load_checkpoint, read_history
from tinygrad_opt.train.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--hidden", "16", "--epochs", "2", "--batch-size", "64", "--quiet"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fake_mnist(folder: Path, n_train=120, n_test=40, bad_label=False) -> Path:
    """Small IDX files with MNIST's names and layout (random pixels), so nothing is downloaded."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = np.arange(n_train, dtype=np.uint8) % 10
    if bad_label:
        labels[7] = 10
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(n_test, dtype=np.uint8) % 10)
    return folder


def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", *FAST, "--out", out)
    assert code == 0, err
    assert stdout.startswith("test accuracy 0.") and f"outputs in {out}" in stdout
    assert {"config.toml", "last.ckpt", "best.ckpt", "history.json", "history.csv", "test_report.json"} <= {
        p.name for p in out.iterdir()}
    assert len(read_history(out / "history.json")) == 2
    code, stdout, err = run_cli(capsys, "evaluate", out, "--json", tmp_path / "report.json")
    assert code == 0, err
    assert f"checkpoint {out / 'last.ckpt'}: 64-16-10 MLP (relu) trained on digits for 2 epochs" in stdout
    assert "digits test set: 359 samples" in stdout and "macro precision" in stdout
    assert "precision    recall  f1-score   support" in stdout  # the per-class table
    assert "confusion matrix (rows: true class, columns: predicted class)" in stdout
    matrix_rows = stdout.split("predicted class)\n")[1].strip().splitlines()[1:11]
    assert sum(int(v) for row in matrix_rows for v in row.split()[1:]) == 359
    assert stdout.strip().endswith(f"wrote {tmp_path / 'report.json'}") and (tmp_path / "report.json").is_file()


def test_the_default_run_is_configured_for_the_embedded_digits():
    config = TrainConfig().resolved()
    assert (config.dataset, config.hidden, config.optimizer, config.lr, config.batch_size, config.epochs) == (
        "digits", [256], "adam", 1e-3, 32, 30)
    assert config.normalize == "standard" and TrainConfig(dataset="mnist").resolved().normalize == "unit"


def test_train_on_idx_files_from_data_dir(tmp_path, capsys):
    data = fake_mnist(tmp_path / "mnist")
    code, stdout, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-dir", data, *FAST,
                                "--out", tmp_path / "run")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "run")["model_config"]["in_features"] == 784


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_config_file_round_trip_and_flags_override_it(tmp_path, capsys, suffix):
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    code, stdout, _ = run_cli(capsys, "train", "--hidden", "32,16", "--optimizer", "sgd", "--lr", "0.05",
                              "--momentum", "0.9", "--nesterov", "--schedule", "multistep", "--batchnorm",
                              "--save-config", first)
    assert code == 0 and f"wrote the effective config to {first}" in stdout
    code, _, _ = run_cli(capsys, "train", "--config", first, "--save-config", second)
    assert code == 0 and first.read_text() == second.read_text()
    config = load_config(first)
    assert (config.hidden, config.optimizer, config.lr, config.momentum, config.nesterov, config.batchnorm) == (
        [32, 16], "sgd", 0.05, 0.9, True, True)
    assert config.milestones == [15, 22] and config.gamma == 0.1 and config.betas is None  # resolved; sgd has no betas
    code, _, _ = run_cli(capsys, "train", "--config", first, "--lr", "0.2", "--no-batchnorm", "--save-config", second)
    assert code == 0
    override = load_config(second)
    assert (override.lr, override.batchnorm, override.hidden) == (0.2, False, [32, 16])


def test_config_file_with_dashed_keys_trains(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('hidden = 16\nbatch-size = 64\nepochs = 1\nquiet = true\nschedule = "cosine"\n')
    code, _, err = run_cli(capsys, "train", "--config", path, "--out", tmp_path / "run")
    assert code == 0, err
    saved = load_checkpoint(tmp_path / "run")["config"]
    assert (saved["hidden"], saved["batch_size"], saved["schedule"]) == ([16], 64, "cosine")


def test_resume_from_the_cli_continues_the_run(tmp_path, capsys):
    straight = tmp_path / "straight"
    assert run_cli(capsys, "train", *FAST, "--epochs", "3", "--out", straight)[0] == 0
    split = tmp_path / "split"
    assert run_cli(capsys, "train", *FAST, "--out", split)[0] == 0
    code, _, err = run_cli(capsys, "train", "--resume", "--out", split, "--epochs", "3", "--quiet")
    assert code == 0, err
    a, b = read_history(straight / "history.json"), read_history(split / "history.json")
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b] and len(b) == 3
    code, _, err = run_cli(capsys, "train", *FAST, "--out", split)  # a new run may not overwrite it
    assert code == 2 and f"{split} already holds a run (last.ckpt): continue it with --resume {split}" in err


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    calls = {"n": 0}
    real_step = Trainer._train_step

    def step_then_interrupt(self, *args):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real_step(self, *args)

    monkeypatch.setattr(Trainer, "_train_step", step_then_interrupt)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *FAST, "--out", out)
    assert code == 130
    assert f"checkpoint saved to {out / 'last.ckpt'}" in err
    assert f"resume with: tinygrad-opt train --resume {out / 'last.ckpt'}" in err
    assert load_checkpoint(out)["partial"]["batches_done"] == 29 - 21
    monkeypatch.undo()
    code, _, err = run_cli(capsys, "train", "--resume", out / "last.ckpt")
    assert code == 0, err
    assert len(read_history(out / "history.json")) == 2


def _bad_inputs(tmp_path):
    """(argv, words the one-line message must contain) for each bad input of issue 3."""
    good = tmp_path / "good"
    corrupt = fake_mnist(tmp_path / "corrupt")
    images = corrupt / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:300])
    bad_labels = fake_mnist(tmp_path / "badlabels", bad_label=True)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    return {
        "missing data dir": (["train", "--dataset", "mnist", "--data-dir", tmp_path / "nowhere"],
                             ["data dir", "nowhere", "does not exist", "To get mnist", "--data-dir"]),
        "corrupt IDX": (["train", "--dataset", "mnist", "--data-dir", corrupt],
                        ["train-images-idx3-ubyte.gz", "truncated"]),
        "labels out of range": (["train", "--dataset", "mnist", "--data-dir", bad_labels],
                                ["label 10 at index 7 is outside [0, 10)", "train-labels-idx1-ubyte.gz"]),
        "unknown optimizer": (["train", "--optimizer", "adamx"],
                              ["invalid choice: 'adamx'", "'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'"]),
        "unknown schedule": (["train", "--schedule", "triangle"],
                             ["invalid choice: 'triangle'", "'onecycle', 'plateau', 'warmup-cosine'"]),
        "zero learning rate": (["train", "--lr", "0"], ["--lr must be > 0, got 0.0"]),
        "negative learning rate": (["train", "--lr", "-0.1"], ["--lr must be > 0, got -0.1"]),
        "batch larger than the data": (["train", "--batch-size", "100000"],
                                       ["batch size 100000 is larger than the digits training set (1294 samples)"]),
        "checkpoint of another architecture": (
            ["train", "--resume", good, "--hidden", "8"],
            ["different architecture", "0.weight (16, 64) vs (8, 64)", "2.weight (10, 16) vs (10, 8)"]),
        "NaN loss": (["train", "--optimizer", "sgd", "--lr", "1e30", "--hidden", "16", "--quiet",
                      "--out", tmp_path / "nan"],
                     ["loss became nan at epoch 1, step 2 (batch 2 of 41)", "no checkpoint had been written yet"]),
        "unknown config key": ([], []),  # filled below (needs a file)
        "evaluate on data of another shape": (["evaluate", good, "--dataset", "mnist", "--data-dir", corrupt.parent / "mnist"],
                                              ["64 input features", "mnist has 784 features", "evaluate it on digits"]),
        "evaluate a missing checkpoint": (["evaluate", tmp_path / "none.ckpt"], ["none.ckpt not found"]),
        "evaluate a file that is no checkpoint": (["evaluate", garbage], ["garbage.ckpt is not a tinygrad_opt checkpoint"]),
        "resume with a changed optimizer": (["train", "--resume", good, "--optimizer", "sgd"],
                                            ["differ from it: optimizer ('adam' in the checkpoint, 'sgd' given)"]),
        "nesterov without momentum": (["train", "--optimizer", "sgd", "--nesterov"], ["--nesterov needs"]),
    }


def test_every_bad_input_exits_2_with_a_one_line_message(tmp_path, capsys):
    assert run_cli(capsys, "train", *FAST, "--out", tmp_path / "good")[0] == 0
    fake_mnist(tmp_path / "mnist")
    cases = _bad_inputs(tmp_path)
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("hiden = 32\n")
    cases["unknown config key"] = (["train", "--config", bad_config], ["unknown key 'hiden'", "valid keys: dataset"])
    for name, (argv, words) in cases.items():
        code, stdout, err = run_cli(capsys, *argv)
        assert code == 2, f"{name}: exit code {code}, stderr {err!r}"
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, f"{name}: {err!r}"
        assert lines[0].startswith("tinygrad-opt "), name
        for word in words:
            assert word in lines[0], f"{name}: {word!r} not in {lines[0]!r}"
    assert not (tmp_path / "nan" / "last.ckpt").exists()


def test_help_lists_commands_and_options(capsys):
    code, stdout, _ = run_cli(capsys, "--help")
    assert code == 0 and "train" in stdout and "evaluate" in stdout
    code, stdout, _ = run_cli(capsys, "train", "--help")
    assert code == 0
    for option in ("--dataset", "--hidden", "--optimizer", "--schedule", "--patience", "--resume", "--config",
                   "--save-config", "--clip-grad", "--warmup-epochs", "--max-lr", "--device"):
        assert option in stdout


def test_every_registered_command_module_has_the_interface():
    import importlib

    for name in cli.COMMANDS:
        module = importlib.import_module(f"tinygrad_opt.cli.{name}")
        assert callable(module.add_arguments) and callable(module.run) and module.__doc__


def _subprocess(*argv, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "tinygrad_opt", *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_python_dash_m_runs_and_reports_errors_in_one_line(tmp_path):
    done = _subprocess("train", "--hidden", "8", "--epochs", "1", "--quiet", "--out", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout and (tmp_path / "run" / "last.ckpt").is_file()
    bad = _subprocess("train", "--lr", "0", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "tinygrad-opt train: error: --lr must be > 0, got 0.0"
