"""Trainer(capture=True): the same history and weights as the eager Trainer, end to end."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn, optim
from tinygrad_opt.capture import CaptureWarning
from tinygrad_opt.data import DataLoader, load_dataset
from tinygrad_opt.optim import lr_scheduler
from tinygrad_opt.train import Trainer


def loaders(n=200, batch_size=32):
    """200 samples in batches of 32: the last batch of each epoch has 8 (it runs eagerly)."""
    data = load_dataset("digits")
    train = DataLoader((data.x_train[:n], data.y_train[:n]), batch_size=batch_size, shuffle=True)
    val = DataLoader((data.x_train[n:n + 96], data.y_train[n:n + 96]), batch_size=96)
    return train, val


def fit(capture: bool, make_optimizer, schedule=None, **options):
    tg.manual_seed(3)
    model = nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Dropout(0.2), nn.Linear(24, 10))
    optimizer = make_optimizer(model.parameters())
    scheduler = schedule(optimizer) if schedule else None
    trainer = Trainer(model, optimizer, scheduler=scheduler, progress=False, verbose=False, capture=capture,
                      **options)
    train, val = loaders()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = trainer.fit(train, val, epochs=3)
    return trainer, history, [str(w.message) for w in caught if issubclass(w.category, CaptureWarning)]


CASES = {
    "adam": (lambda p: optim.Adam(p, lr=1e-2), None, {}),
    "sgd+onecycle+clip+l2": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
                             lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=21),
                             dict(clip_grad=0.5, l2=1e-3)),
    "adamw+step-schedule+l1": (lambda p: optim.AdamW(p, lr=1e-2),
                               lambda o: lr_scheduler.StepLR(o, step_size=1, gamma=0.5), dict(l1=1e-4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_captured_trainer_equals_eager_trainer(case):
    make_optimizer, schedule, options = CASES[case]
    eager, eager_history, _ = fit(False, make_optimizer, schedule, **options)
    captured, captured_history, messages = fit(True, make_optimizer, schedule, **options)
    assert captured._compiled_step.replaying
    drop = ("time",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in captured_history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in eager_history]
    for (name, p), q in zip(eager.model.named_parameters(), captured.model.parameters()):
        assert np.array_equal(p.data, q.data), name
    assert messages == []  # the last batch of each epoch (8 of 32) takes the eager path, which is no surprise


def test_closure_optimizers_train_eagerly():
    trainer, history, messages = fit(True, lambda p: optim.LBFGS(p, lr=0.1, max_iter=2))
    assert trainer._compiled_step is None and not trainer.capture and messages == []
    assert len(history) == 3


def test_a_diverging_captured_run_stops_with_the_same_error():
    from tinygrad_opt.train import NonFiniteLossError

    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=1e30), progress=False, verbose=False, capture=True)
    train, val = loaders()
    with pytest.raises(NonFiniteLossError, match=r"loss became (nan|inf) at epoch 1, step \d+ \(batch \d+ of 7\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)
            trainer.fit(train, val, epochs=2)


def test_weights_changed_between_epochs_and_early_stopping_restore_match_eager():
    from tinygrad_opt.train import EarlyStopping, LambdaCallback

    def wreck(trainer, epoch):  # in place, between steps: the replay reads the same arrays
        if epoch >= 2:
            for p in trainer.model.parameters():
                p.data += np.random.default_rng(epoch).normal(0, 3.0, p.shape).astype(p.dtype)

    runs = []
    for capture in (False, True):
        trainer, history, _ = fit(capture, lambda p: optim.Adam(p, lr=1e-2), early_stopping=EarlyStopping(patience=1),
                                  callbacks=[LambdaCallback(on_epoch_start=wreck)])
        runs.append((trainer, [(r["train_loss"], r["val_loss"]) for r in history]))
    assert runs[0][1] == runs[1][1]
    for p, q in zip(runs[0][0].model.parameters(), runs[1][0].model.parameters()):
        assert np.array_equal(p.data, q.data)
