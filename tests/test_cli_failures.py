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
