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
