"""`tinygrad-opt train` captures its step by default (--no-capture or capture = false turn it off), same numbers."""
from __future__ import annotations

from tinygrad_opt import cli, nn
from tinygrad_opt.train import read_history, run_training
from tinygrad_opt.train.config import TrainConfig

FAST = ["--hidden", "16", "--epochs", "2", "--batch-size", "64", "--quiet", "--seed", "3"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def without_time(history):
    return [{k: v for k, v in record.items() if k != "time"} for record in history]


def test_capture_is_the_default_and_the_trainer_replays(tmp_path):
    assert TrainConfig().capture is True
    config = TrainConfig(hidden=[16], epochs=1, batch_size=64, quiet=True, out=str(tmp_path / "run"))
    result = run_training(config, progress=False)
    assert result.trainer.capture and result.trainer._compiled_step.replaying


def test_the_cli_with_and_without_capture_gives_the_same_run(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", *FAST, "--out", tmp_path / "captured")
    assert code == 0 and "capture" not in err
    code, _, _ = run_cli(capsys, "train", *FAST, "--no-capture", "--out", tmp_path / "eager")
    assert code == 0
    captured = read_history(tmp_path / "captured" / "history.json")
    eager = read_history(tmp_path / "eager" / "history.json")
    assert without_time(captured) == without_time(eager)
    assert "capture = false" in (tmp_path / "eager" / "config.toml").read_text()


def test_a_step_that_cannot_be_replayed_is_one_note_on_stderr(tmp_path, capsys, monkeypatch):
    forward = nn.BatchNorm1d.forward

    def reading_forward(self, input):
        input.sum().item()  # a value read into Python inside the step: the replay cannot repeat it
        return forward(self, input)

    monkeypatch.setattr(nn.BatchNorm1d, "forward", reading_forward)
    code, _, err = run_cli(capsys, "train", *FAST, "--batchnorm", "--out", tmp_path / "bn")
    assert code == 0
    notes = [line for line in err.splitlines() if "capture" in line]
    assert len(notes) == 1 and notes[0].startswith("note: capture: the step reads a tensor's values into Python "
                                                   "(Tensor.item)")
    assert notes[0].endswith("(--no-capture skips the attempt)")


def test_a_batchnorm_mlp_run_replays_and_equals_the_eager_run(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", *FAST, "--batchnorm", "--out", tmp_path / "captured")
    assert code == 0 and "capture" not in err
    code, _, _ = run_cli(capsys, "train", *FAST, "--batchnorm", "--no-capture", "--out", tmp_path / "eager")
    assert code == 0
    captured = read_history(tmp_path / "captured" / "history.json")
    assert without_time(captured) == without_time(read_history(tmp_path / "eager" / "history.json"))


def test_the_clis_default_cnn_replays_its_conv_batchnorm_step(tmp_path, capsys):
    config = TrainConfig(model="cnn", conv_widths=[4, 8], epochs=1, batch_size=64, quiet=True, seed=2,
                         out=str(tmp_path / "run"))
    result = run_training(config, progress=False)
    assert result.trainer._compiled_step.replaying
    assert "BatchNormChannels" in result.trainer._compiled_step.plan.ops
    args = ("train", "--model", "cnn", "--conv-widths", "4,8", "--epochs", "1", "--batch-size", "64", "--quiet",
            "--seed", "2")
    code, _, err = run_cli(capsys, *args, "--out", tmp_path / "captured")
    assert code == 0 and "capture" not in err
    code, _, _ = run_cli(capsys, *args, "--no-capture", "--out", tmp_path / "eager")
    assert code == 0
    captured = read_history(tmp_path / "captured" / "history.json")
    assert without_time(captured) == without_time(read_history(tmp_path / "eager" / "history.json"))


def test_capture_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text("capture = false\n")
    code, _, _ = run_cli(capsys, "train", *FAST, "--config", config, "--save-config", tmp_path / "saved.toml")
    assert code == 0 and "capture = false" in (tmp_path / "saved.toml").read_text()
