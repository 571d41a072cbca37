"""`tinygrad-opt train --model cnn|lenet5 [--augment]`: training, checkpoints, evaluate, resume, bad input."""
from pathlib import Path

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import cli
from tinygrad_opt.train.config import TrainConfig
from tinygrad_opt.data import DatasetSplits
from tinygrad_opt.data.augment import RandomShiftLoader, random_shift
from tinygrad_opt.train import load_checkpoint
from tinygrad_opt.train.models import model_config_for

FAST = ["--epochs", "1", "--batch-size", "128", "--quiet"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("model", ["cnn", "lenet5"])
def test_train_cnn_on_the_digits_then_evaluate_and_resume(tmp_path, capsys, model):
    out = tmp_path / model
    code, stdout, err = run_cli(capsys, "train", "--model", model, *FAST, "--out", out)
    assert code == 0, err
    accuracy = float(stdout.split("test accuracy ")[1].split()[0])
    assert accuracy > {"cnn": 0.5, "lenet5": 0.2}[model]  # ~10 steps on the 8x8 digits: above chance (0.1)
    ckpt = load_checkpoint(out / "last.ckpt")
    assert ckpt["model_config"]["type"] == model and ckpt["model_config"]["image_size"] == 8
    code, stdout, err = run_cli(capsys, "evaluate", out)
    assert code == 0, err
    assert f"{accuracy:.4f}" in stdout
    code, stdout, err = run_cli(capsys, "train", "--resume", out, "--epochs", "2", "--quiet")
    assert code == 0, err
    assert load_checkpoint(out / "last.ckpt")["epoch"] == 2


def test_augment_trains_and_shifts_reproducibly(tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "train", "--model", "cnn", "--augment", *FAST, "--out", tmp_path / "aug")
    assert code == 0, err
    x = np.arange(2 * 64, dtype=np.float32).reshape(2, 64) + 1
    a = random_shift(x, (1, 8, 8), 2, np.random.default_rng(0))
    b = random_shift(x, (1, 8, 8), 2, np.random.default_rng(0))
    assert a.shape == x.shape and np.array_equal(a, b)
    images, shifted = x.reshape(2, 8, 8), a.reshape(2, 8, 8)
    for img, out in zip(images, shifted):  # some shift in [-2, 2]^2 explains each output exactly
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                padded = np.pad(img, 2)
                if np.array_equal(padded[2 + dy:10 + dy, 2 + dx:10 + dx], out):
                    found = True
        assert found
    loader = RandomShiftLoader([(x, np.array([0, 1]))], (1, 8, 8))
    assert len(loader) == 1 and next(iter(loader))[0].shape == (2, 64)


def test_cnn_on_non_image_data_is_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    flat = DatasetSplits("digits", rng.random((40, 10), dtype=np.float32), np.arange(40) % 3,
                         rng.random((10, 10), dtype=np.float32), np.arange(10) % 3, ("a", "b", "c"), "test")
    monkeypatch.setattr("tinygrad_opt.train.run.load_dataset", lambda *a, **k: flat)
    code, stdout, err = run_cli(capsys, "train", "--model", "cnn", "--batch-size", "8", "--epochs", "1", "--out", tmp_path / "bad")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--model cnn needs square one-channel images" in lines[0] and "10 features" in lines[0]
    with pytest.raises(ValueError, match="lenet5 needs square"):
        model_config_for(TrainConfig(model="lenet5"), 10, 3)


def test_unknown_model_is_exit_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--model", "resnet", *FAST, "--out", tmp_path / "x")
    assert code == 2 and "resnet" in err


def test_a_cnn_teacher_distills_into_an_mlp_and_quantizes(tmp_path, capsys):
    teacher = tmp_path / "teacher"
    code, _, err = run_cli(capsys, "train", "--model", "cnn", *FAST, "--out", teacher)
    assert code == 0, err
    code, stdout, err = run_cli(capsys, "distill", "--teacher", teacher, "--hidden", "16", "--epochs", "1",
                                "--quiet", "--out", tmp_path / "student")
    assert code == 0, err
    assert "distilled student" in stdout
    code, stdout, err = run_cli(capsys, "quantize", teacher, "--repeats", "1")
    assert code == 0 and "int8" in stdout, err
