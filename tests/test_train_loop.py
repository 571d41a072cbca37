"""The training loop: learning, exact resume (also after Ctrl-C mid-epoch), NaN stop, early stopping,
schedules in the history, penalties, clipping, callbacks, output files. Digits and tiny MLPs only."""
import json
import math
import re
import sys

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import optim
from tinygrad_opt.train.config import TrainConfig
from tinygrad_opt.data import DataLoader, load_dataset
from tinygrad_opt.optim import lr_scheduler
from tinygrad_opt.train import (
    EarlyStopping, LambdaCallback, NonFiniteLossError, ProgressBar, Trainer, TrainingInterrupted, build_mlp, load_checkpoint,
    read_history, run_training,
)

TINY = dict(hidden=[16], batch_size=64, quiet=True)


def tiny_run(tmp_path, name, **options):
    settings = {**TINY, **options}
    return run_training(TrainConfig(**settings, out=str(tmp_path / name)), progress=False)


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), key


def loss_columns(history):
    return [(r["epoch"], r["step"], r["lr"], r["train_loss"], r["train_acc"], r["val_loss"], r["val_acc"]) for r in history]


def test_training_improves_accuracy_and_writes_outputs(tmp_path):
    result = tiny_run(tmp_path, "run", epochs=3, lr=3e-3)
    history = result.history
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_acc"] > history[0]["val_acc"]
    assert result.test.accuracy > 0.85
    out = result.out_dir
    for name in ("config.toml", "last.ckpt", "best.ckpt", "history.json", "history.csv", "test_report.json"):
        assert (out / name).is_file(), name
    assert read_history(out / "history.json") == history
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[:5] == ["epoch", "step", "lr", "train_loss", "train_acc"]
    assert float(rows[3].split(",")[3]) == history[2]["train_loss"]  # CSV keeps every digit
    report = json.loads((out / "test_report.json").read_text())
    assert report["accuracy"] == result.test.accuracy and len(report["confusion_matrix"]) == 10


RESUME_CASES = {
    "adam+dropout+batchnorm+step": dict(dropout=0.2, batchnorm=True, schedule="step", step_size=1, gamma=0.7),
    "sgd+nesterov+onecycle+l1/l2+clip": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True,
                                             schedule="onecycle", l1=1e-5, l2=1e-4, clip_grad=1.0),
    "rmsprop+plateau+early stopping": dict(optimizer="rmsprop", lr=1e-3, schedule="plateau", plateau_patience=0,
                                           patience=3),
}


@pytest.mark.parametrize("options", RESUME_CASES.values(), ids=RESUME_CASES.keys())
def test_resume_gives_the_same_losses_and_weights_as_an_uninterrupted_run(tmp_path, options):
    straight = tiny_run(tmp_path, "straight", epochs=4, **options)

    def stop_after_two(trainer, epoch, logs):  # as if the process had been killed after epoch 2
        trainer.stop_training = epoch == 2

    run_training(TrainConfig(**TINY, **options, epochs=4, out=str(tmp_path / "split")), progress=False,
                 callbacks=[LambdaCallback(on_epoch_end=stop_after_two)])
    assert load_checkpoint(tmp_path / "split")["epoch"] == 2
    tg.manual_seed(123)  # whatever happened in between must not matter
    resumed = run_training(TrainConfig(), resume=tmp_path / "split", progress=False)
    assert resumed.out_dir == tmp_path / "split"
    assert loss_columns(resumed.history) == loss_columns(straight.history)
    assert_same_weights(resumed.model, straight.model)
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "split")
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    for index, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert np.array_equal(value, b["optimizer"]["state"][index][key]), key
    assert resumed.test.accuracy == straight.test.accuracy


def test_ctrl_c_mid_epoch_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    options = dict(epochs=3, dropout=0.3, schedule="onecycle")
    straight = tiny_run(tmp_path, "straight", **options)

    def interrupt(trainer, batch, logs):
        if trainer.epoch == 1 and batch == 5:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as info:
        run_training(TrainConfig(**TINY, **options, out=str(tmp_path / "cut")), progress=False,
                     callbacks=[LambdaCallback(on_batch_end=interrupt)])
    assert info.value.checkpoint == tmp_path / "cut" / "last.ckpt"
    assert "epoch 2, after batch 5 of 21" in str(info.value)
    saved = load_checkpoint(info.value.checkpoint)
    assert saved["epoch"] == 1 and saved["partial"]["batches_done"] == 5 and saved["step"] == 21 + 5
    resumed = run_training(TrainConfig(**TINY, **options), resume=tmp_path / "cut", progress=False)
    assert loss_columns(resumed.history) == loss_columns(straight.history)
    assert_same_weights(resumed.model, straight.model)


def _digits_loaders(n=256, batch_size=32):
    data = load_dataset("digits")
    train = DataLoader((data.x_train[:n], data.y_train[:n]), batch_size=batch_size, shuffle=True)
    val = DataLoader((data.x_train[n:n + 128], data.y_train[n:n + 128]), batch_size=128)
    return train, val


def _trainer(tmp_path=None, lr=1e-2, **options):
    model = build_mlp(64, 10, hidden=[16])
    options = {"progress": False, "verbose": False, **options}
    return Trainer(model, optim.Adam(model.parameters(), lr=lr), out_dir=tmp_path, **options)


def test_ctrl_c_without_an_output_folder_still_raises_cleanly():
    train, val = _digits_loaders()
    trainer = _trainer(callbacks=[LambdaCallback(on_epoch_start=lambda t, e: (_ for _ in ()).throw(KeyboardInterrupt))])
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit(train, val, epochs=2)
    assert info.value.checkpoint is None and "no checkpoint" in str(info.value)


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    train, val = _digits_loaders()

    def poison(trainer, epoch):
        if epoch == 2:
            next(trainer.model.parameters()).data[0, 0] = np.nan

    trainer = _trainer(tmp_path, callbacks=[LambdaCallback(on_epoch_start=poison)])
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(train, val, epochs=3)
    err = info.value
    assert (err.epoch, err.step, err.batch) == (2, 9, 1)  # 8 batches per epoch: the first step of epoch 2
    message = str(err)
    assert "loss became nan at epoch 2, step 9 (batch 1 of 8)" in message
    assert f"last good checkpoint {tmp_path / 'last.ckpt'} (epoch 1) was kept unchanged" in message
    kept = load_checkpoint(tmp_path / "last.ckpt")
    assert kept["epoch"] == 1 and kept["partial"] is None
    assert all(np.isfinite(v).all() for v in kept["model"].values())
    assert len(read_history(tmp_path / "history.json")) == 1


def test_huge_learning_rate_diverges_with_a_clear_error():
    train, val = _digits_loaders()
    model = build_mlp(64, 10, hidden=[16])
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=1e30), progress=False, verbose=False)
    with pytest.raises(NonFiniteLossError, match=r"loss became (nan|inf) at epoch 1, step \d+ \(batch \d+ of 8\)"):
        trainer.fit(train, val, epochs=2)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    train, val = _digits_loaders()
    snapshots = {}

    def wreck(trainer, epoch):  # from epoch 2 on, scramble the weights so validation only gets worse
        if epoch >= 2:
            for p in trainer.model.parameters():
                p.data += np.random.default_rng(epoch).normal(0, 3.0, p.shape).astype(p.dtype)

    def remember(trainer, epoch, logs):
        snapshots[epoch] = trainer.model.state_dict()

    early = EarlyStopping(patience=2)
    trainer = _trainer(early_stopping=early, callbacks=[LambdaCallback(on_epoch_start=wreck, on_epoch_end=remember)])
    history = trainer.fit(train, val, epochs=10)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert early.stopped_epoch == 3 and early.monitor.best_epoch == 1
    assert history[0]["val_loss"] < min(r["val_loss"] for r in history[1:])
    for key, value in trainer.model.state_dict().items():
        assert np.array_equal(value, snapshots[1][key])
    assert trainer.best.best_epoch == 1


def test_early_stopping_on_accuracy_uses_max_mode():
    early = EarlyStopping(patience=1, monitor="val_acc")
    assert early.monitor.mode == "max"
    model = build_mlp(4, 2, hidden=[3])
    assert not early.step(0.5, 1, model) and not early.step(0.6, 2, model)
    assert early.step(0.6, 3, model) and early.stopped_epoch == 3 and early.monitor.best_epoch == 2


def test_early_stopping_state_round_trip_and_more_patience_on_resume():
    model = build_mlp(4, 2, hidden=[3])
    early = EarlyStopping(patience=2)
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.97], start=1):
        early.step(loss, epoch, model)
    assert early.stopped_epoch == 4 and early.wait == 2
    same = EarlyStopping(patience=2)
    same.load_state_dict(early.state_dict())
    assert same.stopped and same.monitor.best == 0.9 and same.monitor.best_epoch == 2
    assert all(np.array_equal(same.best_state[k], early.best_state[k]) for k in early.best_state)
    patient = EarlyStopping(patience=5)
    patient.load_state_dict(early.state_dict())
    assert not patient.stopped and patient.wait == 2


def _lrs(history):
    return [r["lr"] for r in history]


def test_step_schedule_in_history(tmp_path):
    result = tiny_run(tmp_path, "step", epochs=3, lr=0.01, schedule="step", step_size=1, gamma=0.5)
    assert _lrs(result.history) == pytest.approx([0.01, 0.005, 0.0025], rel=1e-12)


def test_cosine_and_warmup_cosine_schedules_in_history(tmp_path):
    cosine = tiny_run(tmp_path, "cos", epochs=4, lr=0.01, schedule="cosine")
    assert _lrs(cosine.history) == pytest.approx([0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    warm = tiny_run(tmp_path, "warm", epochs=4, lr=0.01, schedule="warmup-cosine", warmup_epochs=2)
    # LinearLR from lr/3 to lr over 2 epochs, then cosine over the remaining 2
    assert _lrs(warm.history) == pytest.approx([0.01 / 3, 0.01 * 2 / 3, 0.01, 0.005])


def test_onecycle_steps_per_batch_like_a_reference_scheduler(tmp_path):
    seen = []
    run_training(TrainConfig(**TINY, epochs=2, lr=0.01, schedule="onecycle", out=str(tmp_path / "one")),
                 progress=False, callbacks=[LambdaCallback(on_batch_end=lambda t, b, logs: seen.append(logs["lr"]))])
    param = tg.zeros(1, requires_grad=True)
    opt = optim.Adam([param], lr=0.01)
    reference = lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=len(seen))
    expected = []
    for _ in seen:  # the trainer reports the rate after each batch's scheduler step
        opt.step()
        reference.step()
        expected.append(opt.param_groups[0]["lr"])
    assert len(seen) == 42 and seen == expected
    assert max(seen) == pytest.approx(0.01, rel=1e-3) and seen[0] < 0.001


def test_plateau_schedule_follows_the_validation_loss(tmp_path):
    result = tiny_run(tmp_path, "plateau", epochs=6, lr=0.05, schedule="plateau", plateau_patience=0, gamma=0.5)
    history = result.history
    best = math.inf
    for before, after in zip(history, history[1:]):
        improved = before["val_loss"] < best * (1 - 1e-4)
        best = min(best, before["val_loss"]) if improved else best
        assert after["lr"] == pytest.approx(before["lr"] * (1.0 if improved else 0.5))


def test_penalties_shrink_the_weights_and_clipping_bounds_the_gradient_norm():
    train, val = _digits_loaders()
    norms = {}
    for lam in (0.0, 1e-2):
        tg.manual_seed(0)
        trainer = _trainer(l2=lam)
        trainer.fit(train, None, epochs=2)
        norms[lam] = sum(float((p.numpy() ** 2).sum()) for p in trainer.model.parameters())
    assert norms[1e-2] < 0.7 * norms[0.0]

    grad_norms = []

    def record(trainer, batch, logs):
        grad_norms.append(math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in trainer.model.parameters())))

    trainer = _trainer(lr=0.5, clip_grad=0.1, callbacks=[LambdaCallback(on_batch_end=record)])
    trainer.fit(train, None, epochs=1)
    assert max(grad_norms) <= 0.1 + 1e-5


def test_callback_hooks_run_in_order():
    data = load_dataset("digits")
    train = DataLoader((data.x_train[:64], data.y_train[:64]), batch_size=32)
    events = []
    hooks = {name: (lambda name: lambda trainer, *args: events.append((name, *args[:1])))(name)
             for name in ("on_train_start", "on_epoch_start", "on_batch_start", "on_batch_end", "on_epoch_end",
                          "on_train_end", "close")}
    _trainer(callbacks=[LambdaCallback(**hooks)]).fit(train, None, epochs=2)
    epoch = [("on_batch_start", 1), ("on_batch_end", 1), ("on_batch_start", 2), ("on_batch_end", 2)]
    assert events == ([("on_train_start",), ("on_epoch_start", 1), *epoch, ("on_epoch_end", 1),
                       ("on_epoch_start", 2), *epoch, ("on_epoch_end", 2), ("close",), ("on_train_end",)])
    with pytest.raises(TypeError, match="unknown hook"):
        LambdaCallback(on_epoch_begin=print)


def test_progress_bar_and_epoch_lines(capsys):
    train, val = _digits_loaders()
    model = build_mlp(64, 10, hidden=[8])
    Trainer(model, optim.Adam(model.parameters()), progress=True, verbose=True).fit(train, val, epochs=2)
    captured = capsys.readouterr()
    assert "epoch 1/2" in captured.err and "0/8" in captured.err  # the tqdm bar
    bar = ProgressBar(update_every=4, mininterval=0)
    Trainer(model, optim.Adam(model.parameters()), progress=False, verbose=False, callbacks=[bar]).fit(train, val, 1)
    assert re.search(r"epoch 1/1: .*4/8.*loss \d\.\d{4} acc \d\.\d{4}", capsys.readouterr().err)
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2  loss ") and "| val loss" in lines[1]


def test_missing_matplotlib_skips_the_plot_with_a_note(tmp_path, monkeypatch, capsys):
    train, val = _digits_loaders()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    trainer = _trainer(tmp_path, verbose=True)
    trainer.fit(train, val, epochs=1)
    assert not (tmp_path / "curves.png").exists() and (tmp_path / "history.json").exists()
    assert "matplotlib is not installed" in capsys.readouterr().err


def test_curves_png_is_written_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    train, val = _digits_loaders()
    _trainer(tmp_path).fit(train, val, epochs=2)
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_trainer_options_are_clear_errors():
    model = build_mlp(4, 2, hidden=[3])
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval"):
        Trainer(model, opt, scheduler_interval="weekly")
    with pytest.raises(ValueError, match="clip_grad must be > 0"):
        Trainer(model, opt, clip_grad=0)
    with pytest.raises(ValueError, match="early stopping on val_loss needs validation data"):
        Trainer(model, opt, early_stopping=EarlyStopping(2), progress=False).fit([(np.zeros((2, 4), np.float32),
                                                                                  np.zeros(2, np.int64))], None, 1)


@pytest.mark.cuda
@pytest.mark.skipif(not tg.cuda_is_available(), reason="needs CuPy and a CUDA device")
def test_training_on_cuda_learns_and_its_checkpoint_loads_on_the_cpu(tmp_path):
    from tinygrad_opt.train import model_from_checkpoint

    gpu = tiny_run(tmp_path, "gpu", epochs=2, lr=3e-3, device="cuda")
    cpu = tiny_run(tmp_path, "cpu", epochs=2, lr=3e-3)
    assert next(gpu.model.parameters()).device == "cuda"
    assert gpu.test.accuracy > 0.8
    for a, b in zip(gpu.history, cpu.history):  # same batches and init; float32 sums differ slightly
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
    model, _ = model_from_checkpoint(tmp_path / "gpu" / "last.ckpt", device="cpu")
    x = tg.Tensor(load_dataset("digits", normalize="standard").x_test[:50])
    gpu.model.eval()
    assert np.allclose(model(x).numpy(), gpu.model(x.cuda()).numpy(), atol=1e-4)
