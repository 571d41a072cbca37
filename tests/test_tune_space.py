"""The search space: parsing, conditional sampling, replaying a trial's params, files and their errors."""
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tinygrad_opt.train.config import TrainConfig  # noqa: E402
from tinygrad_opt.tune import SpaceError, default_space, load_space, space_from_dict  # noqa: E402
from tinygrad_opt.tune.defaults import DEFAULT_SPACE  # noqa: E402
from tinygrad_opt.tune.settings import TuneSettings, canonical_metric  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sample(space, n, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(n):
        trial = study.ask()
        configs.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return study, configs


def test_default_space_samples_valid_training_configs_with_conditions_respected():
    space = default_space()
    study, configs = _sample(space, 120)  # enough draws to see each of the thirteen optimizers
    seen_optimizers = set()
    for trial, config in zip(study.trials, configs):
        TrainConfig.from_dict(config).resolved()  # every sample is a config `train` accepts
        seen_optimizers.add(config["optimizer"])
        assert ("momentum" in config) == (config["optimizer"] in ("sgd", "rmsprop", "sam"))
        assert ("nesterov" in config) == (config["optimizer"] == "sgd")
        # at most one penalty, chosen by the _regularizer switch, which never reaches the config
        switch = trial.params["_regularizer"]
        penalties = [k for k in ("weight_decay", "l1", "l2") if k in config]
        assert penalties == ([] if switch == "none" else [switch])
        assert not any(k.startswith("_") for k in config)
        assert 1 <= len(config["hidden"]) <= 2 and all(32 <= h <= 512 for h in config["hidden"])
        assert 1e-4 <= config["lr"] <= 1e-1
        # replaying the stored params rebuilds exactly the sampled config
        assert space.config_from_params(trial.params) == config
    assert seen_optimizers == set(DEFAULT_SPACE["params"]["optimizer"]["choices"])


def test_lr_is_sampled_on_a_log_scale():
    space = space_from_dict({"params": {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}}})
    _, configs = _sample(space, 200, seed=1)
    lrs = [c["lr"] for c in configs]
    # log-uniform over 4 decades: about a quarter below 1e-4; uniform would put ~0.1% there
    share = sum(lr < 1e-4 for lr in lrs) / len(lrs)
    assert 0.12 < share < 0.4, share


def test_list_choices_and_layer_choices_round_trip():
    space = space_from_dict({"params": {
        "hidden": {"type": "categorical", "choices": [[256], [128, 64]]},
        "batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
    }})
    study, configs = _sample(space, 20)
    assert {tuple(c["hidden"]) for c in configs} == {(256,), (128, 64)}
    assert all(c["batch_size"] in (16, 32, 48, 64) for c in configs)
    assert all(space.config_from_params(t.params) == c for t, c in zip(study.trials, configs))
    layers = space_from_dict({"params": {"hidden": {"type": "layers", "layers": [2, 3], "unit_choices": [8, 16]}}})
    _, configs = _sample(layers, 20)
    assert all(2 <= len(c["hidden"]) <= 3 and set(c["hidden"]) <= {8, 16} for c in configs)


def test_starting_points_translate_to_optuna_params_and_are_tried_first():
    space = default_space()
    fixed = space.optuna_params({"lr": 1e-5, "hidden": [64, 32], "optimizer": "sgd"})
    assert fixed == {"lr": 1e-5, "hidden_layers": 2, "hidden_0": 64, "hidden_1": 32, "optimizer": "sgd"}
    study = optuna.create_study()
    study.enqueue_trial(fixed)
    with pytest.warns(UserWarning, match="out of range"):  # 1e-5 lies below the default low on purpose
        config = space.suggest(study.ask())
    assert config["lr"] == 1e-5 and config["hidden"] == [64, 32] and config["optimizer"] == "sgd"
    with pytest.raises(SpaceError, match="'momentumm'.*not a searched parameter"):
        space.optuna_params({"momentumm": 0.9})


def test_file_extends_the_defaults_fixed_pins_and_drop_removes(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(
        'drop = ["dropout"]\n'
        '[fixed]\nhidden = [16]\n'
        '[params.lr]\ntype = "float"\nlow = 0.001\nhigh = 0.01\n'
        '[params.gamma]\ntype = "float"\nlow = 0.1\nhigh = 0.9\nwhen = { schedule = ["step"] }\n'
    )
    space = load_space(path)
    names = space.names
    assert "dropout" not in names and "hidden" not in names and names[-1] == "gamma"
    assert space.fixed == {"hidden": [16]}
    _, configs = _sample(space, 30)
    for c in configs:
        assert c["hidden"] == [16] and 0.001 <= c["lr"] <= 0.01 and "dropout" not in c
        assert ("gamma" in c) == (c["schedule"] == "step")


def test_yaml_space_and_replace(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "space.yaml"
    path.write_text("replace: true\nparams:\n  lr: {type: float, low: 0.01, high: 0.1, log: true}\n")
    space = load_space(path)
    assert space.names == ["lr"] and not space.fixed


def test_example_space_file_loads_and_pins_the_seed_model():
    space = load_space(ROOT / "examples" / "tune_space.toml")
    assert space.fixed["hidden"] == [256]
    assert space.enqueue and space.enqueue[0]["lr"] == 1e-3
    _, configs = _sample(space, 10)
    for c in configs:
        TrainConfig.from_dict(c).resolved()


def test_to_dict_round_trips():
    space = default_space()
    again = space_from_dict(space.to_dict())
    assert again.to_dict() == space.to_dict()


@pytest.mark.parametrize("data, message", [
    ({"params": {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}}, r"'lr' is log-scaled, so low must be > 0"),
    ({"params": {"lr": {"type": "float", "low": 1.0, "high": 0.1}}}, r"'lr' \(float\) needs low < high"),
    ({"params": {"lr": {"type": "normal"}}}, r"'lr' has type 'normal'; choose one of float, int, categorical, layers"),
    ({"params": {"lr": {"type": "float", "low": 1e-3, "hi": 1.0}}}, r"'lr' has unknown key\(s\) \['hi'\]"),
    ({"params": {"optimizer": {"type": "categorical", "choices": []}}}, r"'optimizer' needs a non-empty list 'choices'"),
    ({"params": {"momentum": {"type": "float", "low": 0, "high": 0.9, "when": {"optimizer": ["sgd"]}}}},
     r"'momentum' has a condition on 'optimizer', which is not declared before it"),
    ({"params": {"hidden": {"type": "layers", "layers": [2, 1], "units": [8, 16]}}}, r"'layers' of 'hidden' must be \[min, max\]"),
    ({"params": {"batch_size": {"type": "int", "low": 1.5, "high": 4}}}, r"int parameter 'batch_size' needs integer bounds"),
    ({"parms": {}}, r"unknown top-level key\(s\) \['parms'\]"),
])
def test_bad_space_definitions_name_the_parameter_and_the_fix(data, message):
    with pytest.raises(SpaceError, match=message):
        space_from_dict(data)


def test_bad_space_file_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[params.lr\n")
    with pytest.raises(SpaceError, match=r"search-space file .*bad.toml is not valid TOML"):
        load_space(path)
    path.write_text('[params.lr]\ntype = "float"\nlow = 1\nhigh = 0\n')
    with pytest.raises(SpaceError, match=r"bad.toml: search space: parameter 'lr'"):
        load_space(path)


def test_settings_validate_their_options():
    assert canonical_metric("val_accuracy") == "val_acc" and canonical_metric("loss") == "val_loss"
    assert TuneSettings(metric="val_loss").direction == "minimize"
    assert TuneSettings(study="abc").out == str(Path("runs") / "tune-abc")
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        TuneSettings(metric="f2")
    with pytest.raises(ValueError, match="unknown pruner 'asha'; choose one of median, hyperband, none"):
        TuneSettings(pruner="asha")
    with pytest.raises(ValueError, match="trials=0 must be a positive integer"):
        TuneSettings(trials=0)
    with pytest.raises(ValueError, match="workers=-1 must be a positive integer"):
        TuneSettings(workers=-1)
