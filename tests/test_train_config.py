"""The training settings as a library (train/config.py): errors name settings by key, the CLI by flag;
each model's own defaults for unset settings."""
import pytest

from tinygrad_opt.cli.config import with_flags
from tinygrad_opt.cli.main import main
from tinygrad_opt.train.config import TrainConfig
from tinygrad_opt.train.config_file import load_config
from tinygrad_opt.train.errors import ConfigError
from tinygrad_opt.train.models import model_config_for

# (settings, the library's message start, the CLI's message start)
BAD_SETTINGS = [
    (dict(lr=-1.0), "lr must be > 0, got -1.0", "--lr must be > 0, got -1.0"),
    (dict(batch_size=0), "batch_size must be a positive integer", "--batch-size must be a positive integer"),
    (dict(nesterov=True), "nesterov needs optimizer sgd and momentum > 0 (e.g. momentum 0.9)",
     "--nesterov needs --optimizer sgd and --momentum > 0 (e.g. --momentum 0.9)"),
    (dict(momentum=0.9), "momentum applies to sgd", "--momentum applies to sgd"),
    (dict(optimizer="rprop", weight_decay=0.1), "weight_decay: rprop has no weight decay; use l2 0.1",
     "--weight-decay: rprop has no weight decay; use --l2 0.1"),
    (dict(schedule="warmup-cosine", warmup_epochs=40), "warmup_epochs must be between 1 and epochs - 1 (29)",
     "--warmup-epochs must be between 1 and --epochs - 1 (29)"),
    (dict(patience=3, val_fraction=0.0), "patience watch the validation set: use val_fraction > 0",
     "--patience watch the validation set: use --val-fraction > 0"),
    (dict(prune="l1"), "prune l1 needs sparsity", "--prune l1 needs --sparsity"),
    (dict(prune="l1", sparsity=0.5, prune_end_epoch=40.0), "prune_end_epoch 40 is past the last epoch (30)",
     "--prune-end-epoch 40 is past the last epoch (30)"),
    (dict(seed=-1), "seed must be a non-negative integer", "--seed must be a non-negative integer"),
    (dict(dropout=1.0), "dropout must be in [0, 1)", "--dropout must be in [0, 1)"),
    (dict(hidden=[10**10]), "hidden 10000000000 makes a model", "--hidden 10000000000 makes a model"),
]


@pytest.mark.parametrize("settings, library, cli", BAD_SETTINGS, ids=[str(s[0]) for s in BAD_SETTINGS])
def test_library_errors_name_the_setting_and_the_cli_its_flag(settings, library, cli):
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**settings).resolved()
    assert str(caught.value).startswith(library), str(caught.value)
    assert "--" not in str(caught.value)
    assert with_flags(caught.value).startswith(cli), with_flags(caught.value)


def test_parsing_errors_name_the_setting_or_the_file_key():
    with pytest.raises(ConfigError) as caught:
        TrainConfig().updated({"hidden": "abc"})
    assert str(caught.value) == "hidden: expected an integer, got 'abc'"
    assert with_flags(caught.value) == "--hidden: expected an integer, got 'abc'"
    with pytest.raises(ConfigError) as caught:  # a config file names its own key, not a flag
        TrainConfig().updated({"batch-size": "x{y}"}, source="config file a.toml")
    assert with_flags(caught.value) == "config file a.toml: batch_size: expected an integer, got 'x{y}'"


def test_a_plain_config_error_renders_unchanged():
    error = ConfigError("a message with {braces} and --flags")
    assert with_flags(error) == str(error) == "a message with {braces} and --flags"


def test_the_cli_prints_flags(capsys):
    assert main(["train", "--lr", "-1", "--epochs", "1"]) == 2
    assert capsys.readouterr().err.strip() == "tinygrad-opt train: error: --lr must be > 0, got -1.0"


@pytest.mark.parametrize("model, given, expected", [
    ("mlp", None, 0.0), ("cnn", None, 0.5), ("cnn", 0.0, 0.0), ("cnn", 0.25, 0.25), ("mlp", 0.3, 0.3),
])
def test_dropout_unset_is_the_models_default_and_an_explicit_zero_is_kept(model, given, expected):
    config = TrainConfig(model=model, dropout=given, dataset="mnist")
    assert config.resolved().dropout == expected
    model_config = model_config_for(config, 784, 10)
    assert model_config["dropout"] == expected
    assert model_config_for(config.resolved(), 784, 10)["dropout"] == expected


def test_dropout_zero_switches_the_cnns_dropout_off_through_the_cli(tmp_path):
    path = tmp_path / "cnn.toml"
    assert main(["train", "--dataset", "mnist", "--model", "cnn", "--dropout", "0", "--save-config", str(path)]) == 0
    assert "dropout = 0.0" in path.read_text().splitlines()
    assert load_config(path).dropout == 0.0
    assert main(["train", "--dataset", "mnist", "--model", "cnn", "--save-config", str(path)]) == 0
    assert "dropout = 0.5" in path.read_text().splitlines()



def _cli_config(argv, tmp_path, name="c.toml"):
    path = tmp_path / name
    assert main(["train", *argv, "--save-config", str(path)]) == 0
    return load_config(path)


def test_the_cnn_recipe_is_the_default_of_an_unset_cnn_run(tmp_path):
    """The lead's acceptance runs give `--model cnn --epochs 10 --schedule cosine`: the bare command is the same."""
    bare = _cli_config(["--dataset", "mnist", "--model", "cnn"], tmp_path, "bare.toml")
    explicit = _cli_config(["--dataset", "mnist", "--model", "cnn", "--epochs", "10", "--schedule", "cosine"],
                           tmp_path, "explicit.toml")
    assert bare == explicit
    assert (bare.epochs, bare.schedule, bare.dropout, bare.min_lr, bare.optimizer, bare.lr, bare.batch_size) == \
        (10, "cosine", 0.5, 0.0, "adam", 0.001, 32)
    assert TrainConfig(dataset="mnist", model="cnn").resolved() == explicit.resolved()


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_the_other_models_keep_30_epochs_without_a_schedule(model, tmp_path):
    config = _cli_config(["--dataset", "mnist", "--model", model], tmp_path)
    assert (config.epochs, config.schedule, config.dropout) == (30, "none", 0.0)


def test_given_settings_beat_the_recipe_on_the_command_line_and_in_a_config_file(tmp_path):
    assert _cli_config(["--dataset", "mnist", "--model", "cnn", "--epochs", "3"], tmp_path).epochs == 3
    assert _cli_config(["--dataset", "mnist", "--model", "cnn", "--schedule", "none"], tmp_path).schedule == "none"
    file = tmp_path / "mine.toml"
    file.write_text('dataset = "mnist"\nmodel = "cnn"\nschedule = "step"\nepochs = 4\n')
    from_file = _cli_config(["--config", str(file)], tmp_path)
    assert (from_file.schedule, from_file.epochs, from_file.step_size) == ("step", 4, 1)
    file.write_text('dataset = "mnist"\nmodel = "cnn"\n')  # unset in the file too: the recipe
    assert (_cli_config(["--config", str(file)], tmp_path).schedule, load_config(file).schedule) == ("cosine", None)


def test_resuming_an_older_cnn_checkpoint_keeps_the_dropout_its_model_was_built_with():
    """Before unset meant "the model's default", a CNN run stored dropout = 0.0 and built dropout 0.5."""
    from tinygrad_opt.train.run import resume_config

    old = TrainConfig(dataset="mnist", model="cnn", dropout=0.0, epochs=10, schedule="cosine").resolved()
    checkpoint = {"config": old.to_dict(), "model_config": {"type": "cnn", "dropout": 0.5}, "path": "old/last.ckpt"}
    assert resume_config(TrainConfig(), checkpoint, ()).dropout == 0.5
    assert resume_config(TrainConfig(dropout=0.5), checkpoint, ("dropout",)).dropout == 0.5  # no conflict
    checkpoint["model_config"]["dropout"] = 0.0  # a run that switched it off stays off
    assert resume_config(TrainConfig(), checkpoint, ()).dropout == 0.0
