"""The third failure-path sweep: an option the run does not read was refused only when its value differed from
the default, so giving it at its default value (`--betas 0.9,0.999` for sgd, `--pct-start 0.3` without onecycle,
`trace --image 6` for an MLP, `prune --n 2` with global-l1) was silently ignored. What the user gave is now
tracked (argparse defaults that tell "not given" apart), while config files, which hold every setting when
written by --save-config or tune, are still checked by value."""
import pytest

from tinygrad_opt import cli
from tinygrad_opt.train import TrainConfig
from tinygrad_opt.train.config_file import load_config, save_config
from tinygrad_opt.train.errors import ConfigError

from test_cli_failure_sweep import assert_one_line_error, run_cli

TRAIN = ["train", "--epochs", "2", "--quiet"]


@pytest.mark.parametrize("argv, fragment", [
    (["--optimizer", "sgd", "--betas", "0.9,0.999"], "--betas: sgd has no betas"),
    (["--optimizer", "rprop", "--betas", "0.5,0.9"], "--betas: rprop has no betas"),
    (["--optimizer", "sam", "--sam-base", "sgd", "--betas", "0.9,0.999"], "--betas: sgd has no betas"),
    (["--pct-start", "0.3"], "--pct-start applies to --schedule onecycle, not none"),
    (["--min-lr", "0"], "--min-lr applies to --schedule cosine"),
    (["--plateau-patience", "2"], "--plateau-patience applies to --schedule plateau"),
    (["--model", "cnn", "--hidden", "256"], "--hidden applies to --model mlp, not cnn"),
    (["--model", "cnn", "--activation", "relu"], "--activation applies to --model mlp, not cnn"),
    (["--model", "cnn", "--no-batchnorm"], "--batchnorm applies to --model mlp, not cnn"),
    (["--model", "lenet5", "--dropout", "0"], "--dropout applies to --model mlp / cnn, not lenet5"),
    (["--lookahead-alpha", "0.5"], "--lookahead-alpha sets the step of Lookahead, which is off"),
    (["--momentum", "0"], "--momentum applies to sgd"),
    (["--optimizer", "rprop", "--weight-decay", "0"], "--weight-decay: rprop has no weight decay"),
    (["--sam-base", "sgd"], "--sam-base applies to --optimizer sam, not adam"),
    (["--sam-rho", "0.05"], "--sam-rho applies to --optimizer sam, not adam"),
    (["--prune-start-epoch", "0"], "--prune-start-epoch shapes the pruning, which is off"),
])
def test_an_unused_option_at_its_default_value_is_refused(tmp_path, capsys, argv, fragment):
    code, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "run", *argv)
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "run").exists()


def test_save_config_refuses_an_unused_option_too(tmp_path, capsys):
    code, err = run_cli(capsys, "train", "--optimizer", "sgd", "--betas", "0.9,0.999",
                        "--save-config", tmp_path / "c.toml")
    assert_one_line_error(code, err, "--betas: sgd has no betas")
    assert not (tmp_path / "c.toml").exists()


def test_options_the_run_reads_are_kept_at_their_default_value():
    config = TrainConfig.from_dict({"optimizer": "adam", "betas": "0.9,0.999", "momentum": 0.0,
                                    "schedule": "onecycle", "pct_start": 0.3})
    resolved = config.resolved(given=["optimizer", "betas", "pct_start", "schedule"])
    assert (resolved.betas, resolved.pct_start) == ([0.9, 0.999], 0.3)
    cnn = TrainConfig.from_dict({"model": "cnn", "dropout": 0.5}).resolved(given=["model", "dropout"])
    assert cnn.dropout == 0.5


def test_library_given_names_the_settings_by_key():
    with pytest.raises(ConfigError, match="pct_start applies to schedule onecycle"):
        TrainConfig().resolved(given=["pct-start"])


def test_betas_are_left_unset_for_an_optimizer_without_them():
    assert TrainConfig.from_dict({"optimizer": "sgd"}).resolved().betas is None
    assert TrainConfig.from_dict({"optimizer": "lion"}).resolved().betas == [0.9, 0.99]
    # SAM steps with its base optimizer, so lion's own default pair applies (it was Adam's before)
    sam = TrainConfig.from_dict({"optimizer": "sam", "sam_base": "lion"}).resolved()
    assert sam.betas == [0.9, 0.99]


def test_an_effective_config_from_before_keeps_loading(tmp_path):
    # config.toml files written before this change hold the filled betas for every optimizer
    old = tmp_path / "config.toml"
    save_config({"optimizer": "sgd", "betas": [0.9, 0.999], "pct_start": 0.3, "hidden": [8], "min_lr": 0.0}, old)
    assert load_config(old).resolved().betas is None
    changed = tmp_path / "changed.toml"
    save_config({"optimizer": "sgd", "betas": [0.5, 0.9]}, changed)
    with pytest.raises(ConfigError, match="sgd has no betas"):
        load_config(changed).resolved()


def test_an_effective_config_round_trips_through_the_cli(tmp_path, capsys):
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    assert cli.main(["train", "--optimizer", "sgd", "--model", "cnn", "--dataset", "digits",
                     "--save-config", str(first)]) == 0
    # the written file holds hidden, activation, pct_start, sam_rho, ... at their defaults: not refused
    assert "pct_start" in first.read_text()
    assert cli.main(["train", "--config", str(first), "--save-config", str(second)]) == 0
    assert load_config(first) == load_config(second)
    capsys.readouterr()


@pytest.mark.parametrize("option", [["--image", "6"], ["--pool", "max"], ["--channels", "2"]])
def test_trace_cnn_options_at_their_default_are_refused_for_an_mlp(capsys, option):
    code, err = run_cli(capsys, "trace", *option)
    assert_one_line_error(code, err, f"{option[0]} applies only to --model cnn")


def test_trace_cnn_defaults_still_apply_to_the_cnn(capsys):
    assert cli.main(["trace", "--model", "cnn", "--image", "6"]) == 0
    assert "6x6 image" in capsys.readouterr().out


def test_prune_norm_order_at_its_default_is_refused_without_a_norm_method(tmp_path, capsys):
    code, err = run_cli(capsys, "prune", tmp_path / "missing.ckpt", "--amount", "0.5", "--n", "2")
    assert_one_line_error(code, err, "--n sets the norm order", "not global-l1")
