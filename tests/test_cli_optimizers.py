"""Every optimizer and the new schedules through `tinygrad-opt train`: flags, config keys, resume, bad input."""
import pytest

from tinygrad_opt import cli, optim
from tinygrad_opt.train.config import OPTIMIZERS, TrainConfig
from tinygrad_opt.train.errors import ConfigError
from tinygrad_opt.optim import lr_scheduler
from tinygrad_opt.train import load_checkpoint, make_optimizer, make_scheduler, read_history
from tinygrad_opt.train.combined_optimizer import CombinedOptimizer
from tinygrad_opt.train.models import build_mlp

FAST = ["--hidden", "16", "--epochs", "2", "--batch-size", "128", "--quiet"]
CLASSES = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
           "adagrad": optim.Adagrad, "adadelta": optim.Adadelta, "adamax": optim.Adamax, "nadam": optim.NAdam,
           "radam": optim.RAdam, "rprop": optim.Rprop, "asgd": optim.ASGD, "adafactor": optim.Adafactor,
           "lion": optim.Lion, "schedulefree-adamw": optim.ScheduleFreeAdamW,
           "schedulefree-sgd": optim.ScheduleFreeSGD, "sam": optim.SAM, "lbfgs": optim.LBFGS,
           "muon": CombinedOptimizer}


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _model():
    return build_mlp(8, 3, [4])


def test_every_cli_optimizer_builds_its_class_with_torch_defaults():
    assert set(OPTIMIZERS) == set(CLASSES)
    for name, cls in CLASSES.items():
        config = TrainConfig(optimizer=name).resolved()
        opt = make_optimizer(config, _model().parameters())
        assert type(opt) is cls, name
        assert opt.param_groups[0]["lr"] == config.lr
    lion = make_optimizer(TrainConfig(optimizer="lion").resolved(), _model().parameters())
    assert lion.defaults["lr"] == 1e-4 and lion.defaults["betas"] == (0.9, 0.99)
    sf = make_optimizer(TrainConfig(optimizer="schedulefree-sgd").resolved(), _model().parameters())
    assert sf.defaults["lr"] == 1.0 and sf.defaults["momentum"] == 0.9
    nadam = make_optimizer(TrainConfig(optimizer="nadam", betas=[0.8, 0.99], weight_decay=0.1).resolved(),
                           _model().parameters())
    assert nadam.defaults["betas"] == (0.8, 0.99) and nadam.defaults["weight_decay"] == 0.1


def test_muon_takes_the_matrices_and_adamw_the_rest():
    model = _model()
    opt = make_optimizer(TrainConfig(optimizer="muon").resolved(), model.parameters())
    muon, adamw = opt.optimizers
    assert isinstance(muon, optim.Muon) and isinstance(adamw, optim.AdamW)
    assert all(p.ndim == 2 for p in muon.param_groups[0]["params"])
    assert all(p.ndim == 1 for p in adamw.param_groups[0]["params"])
    assert muon.defaults["adjust_lr_fn"] == "match_rms_adamw" and muon.defaults["momentum"] == 0.95
    assert len(opt.param_groups) == 2 and opt.param_groups[0]["lr"] == opt.param_groups[1]["lr"] == 1e-3
    sched = make_scheduler(TrainConfig(optimizer="muon", schedule="onecycle", epochs=2).resolved(), opt, 5)
    assert isinstance(sched, lr_scheduler.OneCycleLR) and not sched.cycle_momentum


def test_sam_and_lookahead_options():
    config = TrainConfig.from_dict({"optimizer": "sam", "sam-base": "adamw", "sam-rho": 0.1, "lookahead-k": 3,
                                    "lookahead-alpha": 0.8}).resolved()
    opt = make_optimizer(config, _model().parameters())
    assert isinstance(opt, optim.Lookahead) and (opt.k, opt.alpha) == (3, 0.8)
    sam = opt.base_optimizer
    assert isinstance(sam, optim.SAM) and isinstance(sam.base_optimizer, optim.AdamW)
    assert sam.param_groups[0]["rho"] == 0.1 and sam.param_groups[0]["lr"] == 1e-3  # adamw's default lr


@pytest.mark.parametrize("name", ["nadam", "lion", "schedulefree-adamw", "sam", "lbfgs", "adadelta", "muon"])
def test_train_runs_and_resumes_with(name, tmp_path, capsys):
    out = tmp_path / "run"
    extra = {"lbfgs": ["--lookahead-k", "2"], "lion": ["--lr", "3e-3"]}.get(name, [])
    code, stdout, err = run_cli(capsys, "train", *FAST, "--optimizer", name, "--out", out, *extra)
    assert code == 0, err
    assert stdout.startswith("test accuracy 0.")
    history = read_history(out / "history.json")
    assert len(history) == 2 and history[-1]["train_loss"] < 2.3  # below chance level (ln 10)
    ckpt = load_checkpoint(out / "last.ckpt")
    assert ckpt["config"]["optimizer"] == name
    code, _, err = run_cli(capsys, "train", "--resume", out, "--epochs", "3", "--quiet")
    assert code == 0, err
    assert len(read_history(out / "history.json")) == 3


@pytest.mark.parametrize("schedule,kind,interval", [("polynomial", lr_scheduler.PolynomialLR, "epoch"),
                                                    ("warm-restarts", lr_scheduler.CosineAnnealingWarmRestarts,
                                                     "epoch"),
                                                    ("cyclic", lr_scheduler.CyclicLR, "batch")])
def test_new_schedules(schedule, kind, interval, tmp_path, capsys):
    config = TrainConfig(schedule=schedule, optimizer="sgd", momentum=0.9, epochs=8).resolved()
    opt = make_optimizer(config, _model().parameters())
    assert isinstance(make_scheduler(config, opt, 10), kind)
    code, _, err = run_cli(capsys, "train", *FAST, "--schedule", schedule, "--out", tmp_path / "run")
    assert code == 0, err
    lrs = [r["lr"] for r in read_history(tmp_path / "run" / "history.json")]
    assert len(lrs) == 2


def test_cyclic_defaults():
    config = TrainConfig(schedule="cyclic", lr=0.01, epochs=8).resolved()
    assert config.max_lr == 0.04 and config.step_size == 2


@pytest.mark.parametrize("argv,message", [
    (["--optimizer", "rprop", "--weight-decay", "0.1"], "--weight-decay: rprop has no weight decay; use --l2 0.1"),
    (["--optimizer", "sam", "--sam-rho", "0"], "--sam-rho must be > 0, got 0.0"),
    (["--optimizer", "sam", "--sam-base", "lbfgs"], "--sam-base: invalid choice: 'lbfgs'"),
    (["--lookahead-k", "0"], "--lookahead-k must be a positive integer"),
    (["--lookahead-alpha", "1.5"], "--lookahead-alpha must be in [0, 1], got 1.5"),
    (["--optimizer", "lamb"], "--optimizer: invalid choice: 'lamb'"),
    (["--schedule", "cyclic", "--lr", "0.1", "--max-lr", "0.01"], "--max-lr (the top of the cycle) must be >= --lr"),
    (["--schedule", "polynomial", "--power", "-1"], "--power must be > 0"),
])
def test_bad_optimizer_options_exit_2_with_one_line(argv, message, capsys):
    code, stdout, err = run_cli(capsys, "train", *FAST, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_config_keys_round_trip():
    config = TrainConfig.from_dict({"optimizer": "schedulefree_adamw", "lookahead_k": 4, "sam_rho": 0.2})
    assert config.optimizer == "schedulefree-adamw" and config.lookahead_k == 4
    with pytest.raises(ConfigError, match="unknown key 'sam_radius'"):
        TrainConfig.from_dict({"sam_radius": 0.1})
