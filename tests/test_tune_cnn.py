"""Tuning CNNs: the built-in cnn/lenet5 spaces (conv widths, dropout, optimizer, schedule), the conv_widths config
key, and `tinygrad-opt tune --model cnn` on the 8x8 digits with a tiny budget."""
import csv

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from tinygrad_opt import cli  # noqa: E402
from tinygrad_opt.train import load_checkpoint  # noqa: E402
from tinygrad_opt.train.config import TrainConfig  # noqa: E402
from tinygrad_opt.train.errors import ConfigError  # noqa: E402
from tinygrad_opt.train.models import build_model, model_config_for  # noqa: E402
from tinygrad_opt.tune import SpaceError, TuneSettings, default_space, load_space  # noqa: E402
from tinygrad_opt.tune.defaults import CNN_SPACE  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_each_model_family_has_its_own_built_in_space():
    mlp, cnn, lenet5 = (default_space(m).names for m in ("mlp", "cnn", "lenet5"))
    assert "hidden" in mlp and "conv_widths" not in mlp
    assert {"conv_widths", "dropout", "optimizer", "schedule", "lr", "batch_size"} <= set(cnn)
    assert "hidden" not in cnn and "l1" not in cnn  # knobs a CNN does not have, or rarely wants
    assert "conv_widths" not in lenet5 and "dropout" not in lenet5 and "optimizer" in lenet5
    assert load_space(None, model="cnn").to_dict() == default_space("cnn").to_dict()
    with pytest.raises(SpaceError, match="no built-in space for model 'resnet'; choose one of mlp, cnn, lenet5"):
        default_space("resnet")


def test_the_cnn_space_samples_two_stage_widths_from_its_choices():
    space = default_space("cnn")
    choices = CNN_SPACE["params"]["conv_widths"]["unit_choices"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        config = space.suggest(study.ask())
        assert len(config["conv_widths"]) == 2 and set(config["conv_widths"]) <= set(choices)
        assert 0.0 <= config["dropout"] <= 0.5
        seen.add(tuple(config["conv_widths"]))
        TrainConfig.from_dict({"model": "cnn", **config}).resolved()  # every sample is a valid training config
    assert len(seen) > 3
    again = space.config_from_params({"lr": 1e-3, "batch_size": 64, "optimizer": "adam", "_regularizer": "none",
                                      "dropout": 0.2, "conv_widths_layers": 2, "conv_widths_0": 16,
                                      "conv_widths_1": 48, "schedule": "none"})
    assert again["conv_widths"] == [16, 48] and "momentum" not in again


def test_settings_pick_the_space_of_their_base_model():
    assert "conv_widths" in TuneSettings(base={"model": "cnn"}).space.names
    assert "hidden" in TuneSettings().space.names


def test_conv_widths_is_a_config_key_that_builds_the_cnn():
    config = TrainConfig.from_dict({"model": "cnn", "conv_widths": "16,24"}).resolved()
    model_config = model_config_for(config, 64, 10)
    assert model_config["widths"] == [16, 24]
    convs = [m for m in build_model(model_config) if type(m).__name__ == "Conv2d"]
    assert [c.out_channels for c in convs] == [16, 24]
    default = model_config_for(TrainConfig.from_dict({"model": "cnn"}).resolved(), 64, 10)
    assert "widths" not in default  # unset: the builder's 32,64, and older checkpoints' configs unchanged
    three = TrainConfig.from_dict({"model": "cnn", "conv_widths": [8, 8, 8]}).resolved()
    assert model_config_for(three, 64, 10)["widths"] == [8, 8, 8]  # 8 -> 4 -> 2 -> 1
    with pytest.raises(ConfigError, match="pools once per stage \\(3\\), so the image side must be divisible by 8, "
                                          "got 28"):
        model_config_for(three, 784, 10)


@pytest.mark.parametrize("settings, message", [
    ({"conv_widths": [16, 32]}, "--conv-widths applies only to --model cnn, not mlp"),
    ({"model": "lenet5", "conv_widths": [16, 32]}, "--conv-widths applies only to --model cnn, not lenet5"),
    ({"model": "cnn", "conv_widths": [16, 0]}, "--conv-widths needs positive channel counts"),
])
def test_bad_conv_widths_are_refused_with_the_flag(settings, message):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict(settings).resolved()
    assert message in caught.value.render(lambda key: "--" + key.replace("_", "-"))


def test_tune_model_cnn_on_the_digits_and_retrain_its_best_config(capsys, tmp_path):
    out = tmp_path / "tune"
    code, stdout, err = run_cli(capsys, "tune", "--model", "cnn", "--trials", "3", "--epochs", "1", "--out", out,
                                "--no-plots", "--pruner", "none")
    assert code == 0, err
    assert "study 'digits-cnn' created" in stdout and "3/3 trials done: 3 complete" in stdout
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 3 and all(r["conv_widths"] for r in rows) and "hidden" not in rows[0]
    assert len({r["conv_widths"] for r in rows}) > 1  # the widths were searched, not fixed
    best = tomllib.loads((out / "best_config.toml").read_text())
    assert best["model"] == "cnn" and len(best["conv_widths"]) == 2 and "hidden" not in best
    run = tmp_path / "retrained"
    code, stdout, err = run_cli(capsys, "train", "--config", out / "best_config.toml", "--out", run)
    assert code == 0, err
    widths = "-pool-".join(f"conv{w}" for w in best["conv_widths"])
    assert f"CNN {widths}-pool-fc128" in stdout
    checkpoint = load_checkpoint(run / "last.ckpt")
    assert checkpoint["model_config"]["widths"] == best["conv_widths"]
    convs = [m for m in build_model(checkpoint["model_config"]) if type(m).__name__ == "Conv2d"]
    assert [c.out_channels for c in convs] == best["conv_widths"]
    accuracy = float(stdout.split("test accuracy ")[1].split()[0])
    assert np.isfinite(accuracy) and accuracy > 0.3  # one epoch of any sampled CNN learns the digits somewhat


def test_tune_model_lenet5_and_a_space_file_on_top_of_the_cnn_space(capsys, tmp_path):
    space_file = tmp_path / "space.toml"
    space_file.write_text('[fixed]\noptimizer = "adam"\nschedule = "none"\n\n[params.conv_widths]\n'
                          'type = "layers"\nlayers = [2, 2]\nunit_choices = [8, 12]\n')
    code, stdout, err = run_cli(capsys, "tune", "--model", "cnn", "--space", space_file, "--trials", "2", "--epochs",
                                "1", "--out", tmp_path / "a", "--no-plots", "--quiet")
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "a" / "trials.csv").open()))
    assert all(set(r["conv_widths"].split("-")) <= {"8", "12"} for r in rows)
    code, stdout, err = run_cli(capsys, "tune", "--model", "lenet5", "--trials", "1", "--epochs", "1", "--out",
                                tmp_path / "b", "--no-plots")
    assert code == 0, err
    assert "study 'digits-lenet5' created" in stdout and "conv_widths" not in stdout
