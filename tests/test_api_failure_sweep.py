"""Failure paths of the Python API that the CLI never meets: the Trainer's and run_training's arguments, and the
scheduler errors whose class differed from torch's. Each case used to fail late (an AttributeError or unpacking
error inside fit), or not at all (a run that trained nothing, quiet="no" taken as true)."""
import numpy as np
import pytest
import torch

import tinygrad_opt as tg
from tinygrad_opt import nn, optim
from tinygrad_opt.data import DataLoader
from tinygrad_opt.train import Callback, EarlyStopping, Trainer, TrainConfig
from tinygrad_opt.train.errors import ConfigError
from tinygrad_opt.train.run import run_training

RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 4)).astype(np.float32)
Y = RNG.integers(0, 3, 24)


def model_and_optimizer():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    return model, optim.SGD(model.parameters(), lr=0.1)


MODEL, OPT = model_and_optimizer()


@pytest.mark.parametrize("arguments, error, fragment", [
    (("not a model", OPT), TypeError, "model must be an nn.Module, got str"),
    ((MODEL, "sgd"), TypeError, "optimizer must be a tinygrad_opt optimizer"),
    ((MODEL, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)), TypeError, "got SGD"),
    ((MODEL, OPT, 3), TypeError, "loss_fn must be callable"),
    ((MODEL, model_and_optimizer()[1]), ValueError, "holds none of the model's parameters"),
])
def test_trainer_refuses_a_wrong_model_optimizer_or_loss(arguments, error, fragment):
    with pytest.raises(error, match=fragment):
        Trainer(*arguments)


@pytest.mark.parametrize("options, error, fragment", [
    ({"l2": "0.1"}, TypeError, "l2 must be a number, got str"),
    ({"l1": float("inf")}, ValueError, "l1 must be >= 0"),
    ({"clip_grad": "1"}, TypeError, "clip_grad must be a number or None"),
    ({"clip_grad": float("nan")}, ValueError, "clip_grad must be > 0"),
    ({"scheduler": "cosine"}, TypeError, "scheduler must be a learning-rate scheduler"),
    ({"scheduler": optim.lr_scheduler.StepLR(model_and_optimizer()[1], 2)}, ValueError, "belongs to another optimizer"),
    ({"callbacks": 3}, TypeError, "callbacks must be a list of train.Callback objects, got int"),
    ({"callbacks": Callback()}, TypeError, "wrap it in a list"),
    ({"callbacks": [print]}, TypeError, r"callbacks\[0\] must be a train.Callback"),
    ({"early_stopping": 3}, TypeError, "early_stopping must be a train.EarlyStopping"),
    ({"device": "tpu"}, ValueError, "unknown device 'tpu'"),
    ({"out_dir": 3}, TypeError, "out_dir must be a folder path"),
])
def test_trainer_refuses_bad_options_naming_them(options, error, fragment):
    with pytest.raises(error, match=fragment):
        Trainer(MODEL, OPT, **options)


def test_trainer_keeps_what_is_right():
    model, opt = model_and_optimizer()
    scheduler = optim.lr_scheduler.StepLR(opt, 2)
    trainer = Trainer(model, opt, scheduler=scheduler, early_stopping=EarlyStopping(patience=2), callbacks=(),
                      device="cuda:0" if tg.cuda_is_available() else "cpu", l2=np.float32(0.0), verbose=False)
    assert trainer.scheduler is scheduler
    # a wrapper (SAM, Lookahead) shares its base's parameters: a scheduler on either is this run's
    sam = optim.SAM(model.parameters(), optim.SGD, lr=0.1)
    Trainer(model, sam, scheduler=optim.lr_scheduler.StepLR(sam.base_optimizer, 2))
    frozen = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))  # fine-tuning the last layer only
    Trainer(frozen, optim.SGD(frozen[1].parameters(), lr=0.1))


@pytest.mark.parametrize("loader, error, fragment", [
    ((X, Y), TypeError, "got a tuple of arrays; wrap them: DataLoader"),
    ("train.npz", TypeError, "train_loader must be a loader .* got str"),
    (3, TypeError, "got int"),
])
def test_fit_refuses_what_is_not_a_loader(loader, error, fragment):
    with pytest.raises(error, match=fragment):
        Trainer(*model_and_optimizer(), verbose=False).fit(loader, epochs=1)


def test_fit_epochs_type_and_value():
    trainer = Trainer(*model_and_optimizer(), verbose=False)
    loader = DataLoader((X, Y), batch_size=8)
    with pytest.raises(TypeError, match="epochs must be a non-negative integer, got str '2'"):
        trainer.fit(loader, epochs="2")
    with pytest.raises(ValueError, match="got -1"):
        trainer.fit(loader, epochs=-1)
    assert len(trainer.fit(loader, epochs=np.int64(1))) == 1


@pytest.mark.parametrize("data", ["test.npz", (X,), (X, Y, Y)])
def test_evaluate_refuses_what_is_not_data(data):
    with pytest.raises(TypeError, match="data must be a DataLoader, an ArrayDataset or a tuple"):
        Trainer(*model_and_optimizer(), verbose=False).evaluate(data)


def test_a_model_whose_output_does_not_fit_the_loss_or_data_is_named():  # already clear before; kept as a guard
    model = nn.Sequential(nn.Linear(4, 2))  # two classes, labels 0..2
    with pytest.raises(ValueError, match="target 2 is out of range for 2 classes"):
        Trainer(model, optim.SGD(model.parameters(), lr=0.1), verbose=False).fit(
            DataLoader((X, Y), batch_size=8), epochs=1)
    with pytest.raises(tg.ShapeError, match=r"does not fit a weight of shape \(2, 4\)"):
        Trainer(model, optim.SGD(model.parameters(), lr=0.1), verbose=False).fit(
            DataLoader((X[:, :3], np.minimum(Y, 1)), batch_size=8), epochs=1)


def test_run_training_takes_a_train_config_only():
    with pytest.raises(TypeError, match="config must be a TrainConfig, got dict; .* TrainConfig.from_dict"):
        run_training({"epochs": 1})


@pytest.mark.parametrize("field, value, fragment", [
    ("epochs", "x", "epochs: expected an integer, got 'x'"),
    ("seed", 1.5, "seed: expected an integer"),
    ("quiet", "sometimes", "quiet: expected true or false"),
    ("hidden", "64,,32", "empty item"),
    ("lr", float("nan"), "lr: expected a finite number"),
    ("betas", [0.9], "betas: expected two numbers"),
    ("batch_size", None, "batch_size: a value is required"),
])
def test_a_train_config_built_in_python_is_parsed_as_a_file_is(field, value, fragment):
    # TrainConfig(...) from Python skipped the parsing a config file gets: a TypeError from a comparison, or
    # a wrong value taken silently
    with pytest.raises(ConfigError, match=fragment):
        TrainConfig(**{field: value}).resolved()


def test_python_values_are_read_as_a_config_file_reads_them():
    config = TrainConfig(quiet="no", epochs="2", hidden="16,8", lr=1).resolved()
    assert (config.quiet, config.epochs, config.hidden, config.lr) == (False, 2, [16, 8], 1.0)  # "no" was truthy


def test_scheduler_errors_raise_torch_classes():
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    g_opt = optim.SGD([nn.Parameter(tg.zeros(1))], lr=0.1)
    for lib, opt in ((torch.optim.lr_scheduler, t_opt), (optim.lr_scheduler, g_opt)):
        with pytest.raises(ValueError):
            lib.CosineAnnealingWarmRestarts(opt, T_0=5, eta_min="0")
        with pytest.raises(ValueError):
            lib.ReduceLROnPlateau(opt).step("x")
        with pytest.raises(TypeError):
            lib.ReduceLROnPlateau(opt).step(None)
