"""`tinygrad-opt distill` and compress.DistillationLoss inside the Trainer."""
import json

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import cli, nn, optim
from tinygrad_opt.compress import DistillationLoss
from tinygrad_opt.data import DataLoader, load_dataset
from tinygrad_opt.train import Trainer, load_checkpoint


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "run"
    assert cli.main(["train", "--hidden", "64", "--epochs", "6", "--batch-size", "64", "--quiet", "--out", str(out)]) == 0
    return out


def test_distill_command_with_scratch_baseline(teacher_run, tmp_path, capsys):
    out = tmp_path / "student"
    code, stdout, err = run_cli(capsys, "distill", "--teacher", teacher_run, "--hidden", "8", "--temperature", "3",
                                "--alpha", "0.7", "--epochs", "3", "--compare-scratch", "--quiet", "--out", out,
                                "--json", tmp_path / "s.json")
    assert code == 0, err
    assert "student 64-8-10: distilled with T=3, alpha=0.7, adam lr 0.001, batch 64, 3 epochs" in stdout
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["student_hidden"] == [8] and summary["epochs"] == 3
    assert 0.1 < summary["distilled_accuracy"] <= 1 and 0.1 < summary["scratch_accuracy"] <= 1
    assert summary["teacher_accuracy"] > 0.85
    ckpt = load_checkpoint(out / "last.ckpt")
    assert ckpt["model_config"]["hidden"] == [8] and ckpt["distillation"] == {"T": 3.0, "alpha": 0.7}
    assert json.loads((out / "test_report.json").read_text())["accuracy"] == summary["distilled_accuracy"]
    code, stdout, err = run_cli(capsys, "evaluate", out)
    assert code == 0 and "64-8-10 MLP" in stdout


@pytest.mark.parametrize("argv, message", [
    (["--temperature", "0"], "--temperature must be a number > 0, got 0.0"),
    (["--alpha", "2"], "--alpha (the weight of the soft-target term) must be in [0, 1], got 2.0"),
    (["--hidden", "8,x"], "--hidden: expected an integer, got 'x'"),
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--log-every", "0"], "--log-every must be a positive integer"),
])
def test_distill_bad_input(teacher_run, tmp_path, capsys, argv, message):
    code, stdout, err = run_cli(capsys, "distill", "--teacher", teacher_run, *argv, "--out", tmp_path / "s")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_distill_missing_teacher(tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "distill", "--teacher", tmp_path / "none")
    assert code == 2 and "not found" in err


def test_distillation_loss_in_the_trainer():
    x, y, xt, yt = load_dataset("digits")
    tg.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(64, 10))
    student = nn.Sequential(nn.Linear(64, 10))
    loss_fn = DistillationLoss(student, teacher, T=2.0, alpha=1.0)
    assert not teacher.training and list(loss_fn.parameters()) == [] and "T=2" in repr(loss_fn)
    before = [p.numpy().copy() for p in teacher.parameters()]
    Trainer(student, optim.Adam(student.parameters(), lr=0.05), loss_fn, verbose=False).fit(
        DataLoader((x, y), batch_size=64, shuffle=True), DataLoader((xt, yt), batch_size=512), epochs=6)
    for p, b in zip(teacher.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)  # the teacher is never trained
    with tg.no_grad():  # with alpha = 1 the student learns the teacher's function, labels unseen
        agree = (student(tg.Tensor(xt)).numpy().argmax(1) == teacher(tg.Tensor(xt)).numpy().argmax(1)).mean()
    assert agree > 0.9
    student.eval()
    out = student(tg.Tensor(xt[:5]))
    assert loss_fn(out, yt[:5]).item() == pytest.approx(tg.nn.functional.cross_entropy(out, yt[:5]).item())
    loss_fn.remove()
    assert not student._forward_hooks


def test_distill_log_every_sets_the_students_reads(teacher_run, tmp_path, capsys, monkeypatch):
    from tinygrad_opt.train import readback
    from tinygrad_opt.train import trainer as trainer_module

    sizes = []
    real = readback.read_to_host
    monkeypatch.setattr(trainer_module, "read_to_host", lambda results: sizes.append(len(results)) or real(results))
    out = tmp_path / "student"
    code, stdout, err = run_cli(capsys, "distill", "--teacher", teacher_run, "--hidden", "8", "--epochs", "1",
                                "--log-every", "3", "--quiet", "--out", out)
    assert code == 0, err
    assert len(sizes) > 2 and set(sizes[:-1]) == {3} and 1 <= sizes[-1] <= 3  # one epoch, read every 3 steps
    assert load_checkpoint(out / "last.ckpt")["config"]["log_every"] == 3
