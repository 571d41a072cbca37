"""The failure paths of issue 13: every user error exits with code 2 and one line (never a traceback),
killed runs repair themselves, and nothing is written before the inputs are known to be good."""
import json
import shutil
from pathlib import Path

import pytest

from tinygrad_opt import cli
from tinygrad_opt.train import load_checkpoint

FAST = ["--hidden", "8", "--epochs", "1", "--batch-size", "64", "--quiet"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def run_one_epoch(tmp_path_factory):
    out = tmp_path_factory.mktemp("failures") / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    return out


def copy_run(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


# ---- checkpoints ------------------------------------------------------------------------

def test_resume_repairs_a_best_ckpt_left_stale_by_a_kill(run_one_epoch, tmp_path, capsys):
    run = copy_run(run_one_epoch, tmp_path)
    stale = (run / "best.ckpt").read_bytes()  # epoch 1's
    code, _, err = run_cli(capsys, "train", "--resume", run, "--epochs", "2", "--quiet")
    assert code == 0, err
    assert load_checkpoint(run / "last.ckpt")["best"]["best_epoch"] == 2  # epoch 2 improved
    (run / "best.ckpt").write_bytes(stale)  # as if killed after last.ckpt, before best.ckpt
    code, _, err = run_cli(capsys, "train", "--resume", run, "--epochs", "2", "--quiet")
    assert code == 0, err
    assert load_checkpoint(run / "best.ckpt")["epoch"] == 2


def test_resume_with_fewer_epochs_than_done_is_refused_and_writes_nothing(run_one_epoch, tmp_path, capsys):
    run = copy_run(run_one_epoch, tmp_path)
    assert cli.main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = run_cli(capsys, "train", "--resume", run, "--epochs", "1")
    one_line_error(code, err, "--epochs 1 is fewer than the 2 epochs", "--epochs 3 or more")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_output_respects_the_umask(tmp_path, capsys, umask):
    import os

    old = os.umask(umask)
    try:
        code, _, err = run_cli(capsys, "train", *FAST, "--out", tmp_path / "run")
    finally:
        os.umask(old)
    assert code == 0, err
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert modes and set(modes.values()) == {0o666 & ~umask}, modes


def test_temporary_files_of_killed_writes_are_removed(run_one_epoch, tmp_path, capsys):
    import subprocess
    import sys

    run = copy_run(run_one_epoch, tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = run / f".last.ckpt.{int(dead.stdout)}-0badf00d.tmp"  # what a write killed mid-way leaves
    left.write_bytes(b"PK\x03\x04 half a checkpoint")
    code, _, err = run_cli(capsys, "train", "--resume", run, "--epochs", "2", "--quiet")
    assert code == 0, err
    assert not left.exists() and not [p for p in run.iterdir() if p.name.endswith(".tmp")]


# ---- outputs ----------------------------------------------------------------------------

def _unwritable_targets(tmp_path: Path) -> list[tuple[str, str]]:
    """(path, what the message says) for outputs that cannot be written, checked before work starts."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    targets = [(str(a_file), "is a file"), (str(a_file / "below"), "lies under")]
    if Path("/proc/self").is_dir():
        targets.append(("/proc/tinygrad-opt-out", "cannot write in /proc"))
    return targets


@pytest.mark.parametrize("which", [0, 1, 2])
def test_unwritable_out_folders_are_refused_before_training(tmp_path, capsys, which):
    targets = _unwritable_targets(tmp_path)
    if which >= len(targets):
        pytest.skip("no /proc here")
    out, says = targets[which]
    code, stdout, err = run_cli(capsys, "train", *FAST, "--out", out)
    one_line_error(code, err, "--out", says)
    assert stdout == ""


def test_unwritable_report_files_are_refused_before_the_work(run_one_epoch, tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    for argv in (["train", *FAST, "--save-config", folder], ["evaluate", run_one_epoch, "--json", folder],
                 ["quantize", run_one_epoch, "--json", tmp_path / "a_file" / "r.json"],
                 ["prune", run_one_epoch, "--amount", "0.5", "--json", folder, "--out", tmp_path / "p"]):
        (tmp_path / "a_file").write_text("x")
        code, stdout, err = run_cli(capsys, *argv)
        one_line_error(code, err, "--save-config" if "--save-config" in argv else "--json")
        assert stdout == "", argv  # nothing was computed first
    config_file = tmp_path / "with_out.toml"
    config_file.write_text(f'out = "{tmp_path / "a_file"}"\n')
    code, _, err = run_cli(capsys, "train", *FAST, "--config", config_file)  # --out from a config file
    one_line_error(code, err, "--out", "is a file")


def test_a_full_disk_is_one_line(run_one_epoch, tmp_path, capsys, monkeypatch):
    import errno
    import os

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "report.json")

    monkeypatch.setattr(os, "fsync", full)
    code, _, err = run_cli(capsys, "evaluate", run_one_epoch, "--json", tmp_path / "report.json")
    one_line_error(code, err, "report.json: No space left on device")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_prune_refuses_to_overwrite_a_pruned_checkpoint(run_one_epoch, tmp_path, capsys):
    out = tmp_path / "pruned"
    code, _, err = run_cli(capsys, "prune", run_one_epoch, "--amount", "0.5", "--out", out)
    assert code == 0, err
    before = (out / "pruned.ckpt").read_bytes()
    code, stdout, err = run_cli(capsys, "prune", run_one_epoch, "--amount", "0.9", "--out", out)
    one_line_error(code, err, "already holds a pruned checkpoint")
    assert (out / "pruned.ckpt").read_bytes() == before and "before pruning" not in stdout


def test_a_fine_tuned_pruned_checkpoint_counts_the_fine_tuning_steps(run_one_epoch, tmp_path, capsys):
    out = tmp_path / "pruned"
    code, _, err = run_cli(capsys, "prune", run_one_epoch, "--amount", "0.5", "--finetune-epochs", "1",
                           "--out", out, "--quiet")
    assert code == 0, err
    source, pruned = load_checkpoint(run_one_epoch / "last.ckpt"), load_checkpoint(out / "pruned.ckpt")
    assert pruned["epoch"] == source["epoch"] + 1
    assert pruned["step"] == 2 * source["step"]  # one more epoch of the same batches


def test_a_trainer_refuses_an_out_dir_that_holds_a_run(run_one_epoch, tmp_path):
    import numpy as np

    from tinygrad_opt import nn, optim
    from tinygrad_opt.data import DataLoader
    from tinygrad_opt.train import Trainer

    run = copy_run(run_one_epoch, tmp_path)
    before = (run / "last.ckpt").read_bytes()
    model = nn.Sequential(nn.Linear(4, 2))
    data = (np.zeros((8, 4), np.float32), np.zeros(8, np.int64))
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), out_dir=run, verbose=False, progress=False)
    with pytest.raises(ValueError, match="already holds a run.*load_checkpoint"):
        trainer.fit(DataLoader(data, batch_size=4), epochs=1)
    assert (run / "last.ckpt").read_bytes() == before


# ---- options and data -------------------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["train", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["distill", "--teacher", "RUN", "--seed", "-1"], "argument --seed: expected a non-negative integer"),
    (["trace", "--seed", "-1"], "argument --seed: expected a non-negative integer"),
    (["train", "--hidden", "10000000000"], "--hidden 10000000000 makes a model of"),
    (["distill", "--teacher", "RUN", "--hidden", "10000000000"], "--hidden 10000000000 makes a model of"),
    (["train", "--pct-start", "nan"], "argument --pct-start: expected a finite number"),
    (["train", "--end-factor", "inf", "--save-config", "OUT/c.toml"], "argument --end-factor: expected a finite"),
    (["trace", "--lr", "inf"], "argument --lr: expected a finite number"),
    (["prune", "RUN", "--amount", "nan"], "argument --amount: expected a finite number"),
    (["train", "--optimizer", "adam", "--momentum", "0.9"], "--momentum applies to sgd, rmsprop"),
])
def test_bad_options_are_one_line_errors(run_one_epoch, tmp_path, capsys, argv, fragment):
    argv = [str(run_one_epoch) if a == "RUN" else a.replace("OUT", str(tmp_path)) for a in argv]
    code, stdout, err = run_cli(capsys, *argv, *(["--out", tmp_path / "new"] if argv[0] != "trace" else []))
    one_line_error(code, err, fragment)
    assert not (tmp_path / "c.toml").exists() and not (tmp_path / "new").exists()


@pytest.mark.parametrize("text", ["pct_start = nan", "end_factor = inf", "seed = -1", "momentum = 0.5"])
def test_bad_values_in_config_files_are_refused(tmp_path, capsys, text):
    (tmp_path / "c.toml").write_text(text + "\n")
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "c.toml", "--save-config", tmp_path / "out.toml")
    one_line_error(code, err)
    assert not (tmp_path / "out.toml").exists()


def test_a_relative_data_dir_is_stored_absolute(tmp_path, capsys, monkeypatch):
    from test_cli import fake_mnist

    fake_mnist(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-dir", "data", *FAST, "--out", "run")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "run" / "last.ckpt")["config"]["data_dir"] == str(tmp_path / "data")
    monkeypatch.chdir(tmp_path.parent)  # evaluate from another folder finds the data
    code, stdout, err = run_cli(capsys, "evaluate", tmp_path / "run")
    assert code == 0, err


def test_version(capsys):
    from tinygrad_opt import __version__

    code, stdout, _ = run_cli(capsys, "--version")
    assert code == 0 and stdout.strip() == f"tinygrad-opt {__version__}"


def test_idx_header_whose_size_overflows_int64_is_a_format_error():
    import struct

    from tinygrad_opt.data.errors import IDXFormatError
    from tinygrad_opt.data.idx import parse_idx

    header = struct.pack(">HBB", 0, 0x08, 4) + struct.pack(">4I", 65536, 65536, 65536, 65536)  # 2**64 bytes
    with pytest.raises(IDXFormatError, match="truncated: dimensions .* need 18446744073709551616 data bytes"):
        parse_idx(header, "huge")  # in int64 the size wraps to 0, which the empty data would match


def test_idx_files_with_zero_images_are_one_line_errors(tmp_path, capsys):
    import numpy as np

    from test_cli import fake_mnist
    from tinygrad_opt.data import write_idx

    data = fake_mnist(tmp_path / "data")
    write_idx(data / "train-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8))
    write_idx(data / "train-labels-idx1-ubyte.gz", np.zeros(0, np.uint8))
    code, _, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-dir", data, *FAST, "--out", tmp_path / "r")
    one_line_error(code, err, "holds 0 images")


# ---- every setting is a config key ------------------------------------------------------

def test_a_pruned_runs_config_toml_reproduces_the_pruned_run(tmp_path, capsys):
    prune_options = ["--prune", "global-l1", "--sparsity", "0.6", "--epochs", "2"]
    code, _, err = run_cli(capsys, "train", *FAST, *prune_options, "--out", tmp_path / "a")
    assert code == 0, err
    text = (tmp_path / "a" / "config.toml").read_text()
    assert 'prune = "global-l1"' in text and "sparsity = 0.6" in text
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "a" / "config.toml", "--out", tmp_path / "b")
    assert code == 0, err
    a, b = load_checkpoint(tmp_path / "a" / "last.ckpt"), load_checkpoint(tmp_path / "b" / "last.ckpt")
    assert a["history"][-1]["sparsity"] == pytest.approx(0.6, abs=1e-3)
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert a["model"].keys() == b["model"].keys() and "0.weight_mask" in b["model"]


def test_save_config_keeps_the_pruning_settings(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--prune", "l1", "--sparsity", "0.5", "--prune-frequency", "7",
                           "--save-config", tmp_path / "c.toml")
    assert code == 0, err
    from tinygrad_opt.train.config_file import load_config

    config = load_config(tmp_path / "c.toml")
    assert (config.prune, config.sparsity, config.prune_frequency) == ("l1", 0.5, 7)


def test_unset_optimizer_settings_take_the_optimizers_own_signature_defaults(monkeypatch):
    from tinygrad_opt import optim
    from tinygrad_opt.train.config import TrainConfig

    class Adam(optim.Adam):  # an optimizer whose signature says other defaults
        def __init__(self, params, lr=0.005, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.25):
            super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    monkeypatch.setattr(optim, "Adam", Adam)
    config = TrainConfig(optimizer="adam").resolved()
    assert (config.lr, config.weight_decay, config.eps) == (0.005, 0.25, 1e-7)
    assert TrainConfig(optimizer="sgd").resolved().lr == 0.01  # the CLI's one choice of its own
