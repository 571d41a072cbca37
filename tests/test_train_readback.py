"""Trainer(log_every): host reads of the loss only every N steps, the same history as reading every step,
NaN found at the next read, exact resume with unread steps, the CLI flag, and the loss's target check
skipped only for labels proved on the host. Digits and tiny MLPs only."""
import math

import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import cli, optim
from tinygrad_opt.train.config import TrainConfig
from tinygrad_opt.train.config_file import load_config
from tinygrad_opt.data import DataLoader, load_dataset
from tinygrad_opt.ops import loss as loss_ops
from tinygrad_opt.tensor import Tensor
from tinygrad_opt.train import (
    LambdaCallback, NonFiniteLossError, Trainer, TrainingInterrupted, build_mlp, load_checkpoint, run_training,
)
from tinygrad_opt.train import readback
from tinygrad_opt.train import trainer as trainer_module

TINY = dict(hidden=[16], batch_size=64, quiet=True)


def _loaders(n=256, batch_size=32, device="cpu"):
    data = load_dataset("digits")
    x, y = data.x_train, data.y_train
    if device != "cpu":
        x, y = tg.backend.to_device(x, device), tg.backend.to_device(y, device)
    train = DataLoader((x[:n], y[:n]), batch_size=batch_size, shuffle=True)
    val = DataLoader((x[n:n + 128], y[n:n + 128]), batch_size=128)
    return train, val


def _fit(log_every, epochs=3, device="cpu", callbacks=(), out_dir=None, validate=True, **options):
    tg.manual_seed(0)
    train, val = _loaders(device=device)
    val = val if validate else None
    model = build_mlp(64, 10, hidden=[16]).to(device)
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-2), progress=False, verbose=False,
                      log_every=log_every, callbacks=list(callbacks), out_dir=out_dir, **options)
    return trainer, trainer.fit(train, val, epochs=epochs)


def _without_time(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


def _counting_reads(monkeypatch):
    """Replace the trainer's one host-read function by a counting wrapper; returns the group sizes read."""
    sizes = []
    real = readback.read_to_host

    def counted(results):
        sizes.append(len(results))
        return real(results)

    monkeypatch.setattr(trainer_module, "read_to_host", counted)
    return sizes


# ---- the option ----------------------------------------------------------------------------------
def test_log_every_defaults_to_every_step_on_the_cpu_and_is_validated():
    model = build_mlp(4, 2, hidden=[3])
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert Trainer(model, opt).log_every == 1
    assert Trainer(model, opt, log_every=7).log_every == 7
    assert readback.default_log_every("cuda") == readback.LOG_EVERY_CUDA == 50
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"Trainer: log_every must be a positive integer .*got {bad}"):
            Trainer(model, opt, log_every=bad)
    for bad in ("5", 2.0, True):
        with pytest.raises(TypeError, match="Trainer: log_every must be a positive integer"):
            Trainer(model, opt, log_every=bad)


def test_history_and_weights_do_not_depend_on_log_every():
    every, history_1 = _fit(1)
    sparse, history_7 = _fit(7)
    # the host adds the same float64 values in the same order, so even the losses are bitwise equal
    assert _without_time(history_1) == _without_time(history_7)
    assert [r["step"] for r in history_7] == [8, 16, 24]
    for a, b in zip(every.model.parameters(), sparse.model.parameters()):
        assert np.array_equal(a.numpy(), b.numpy())


def test_no_host_read_between_the_log_steps(monkeypatch):
    sizes = _counting_reads(monkeypatch)

    def no_item(self):
        raise AssertionError("Tensor.item() was called inside the training loop")

    monkeypatch.setattr(Tensor, "item", no_item)
    seen = []
    _, history = _fit(3, epochs=2, validate=False,  # evaluate() reads each validation batch's loss: not this test's
                      callbacks=[LambdaCallback(on_batch_end=lambda t, b, logs: seen.append((b, logs)))])
    # 8 batches per epoch: reads after batches 3, 6 and the last one, ceil(8 / 3) = 3 per epoch
    assert sizes == [3, 3, 2] * 2
    assert [b for b, logs in seen if "loss" in logs] == [3, 6, 8] * 2
    assert all(set(logs) == {"batch_size", "lr"} for b, logs in seen if b not in (3, 6, 8))
    sizes.clear()
    per_step = []
    record = LambdaCallback(on_batch_end=lambda t, b, logs: per_step.append(logs["loss"]))
    _fit(1, epochs=2, validate=False, callbacks=[record])
    assert sizes == [1] * 16
    # the loss a read step reports is that batch's loss, as with a read every step
    assert [logs["loss"] for b, logs in seen if "loss" in logs] == [per_step[i] for i in (2, 5, 7, 10, 13, 15)]
    assert all(math.isfinite(r["train_loss"]) for r in history)


def test_running_metrics_cover_the_batches_read_so_far():
    snapshots = []

    def snap(trainer, batch, logs):
        snapshots.append((batch, trainer._sums[2], trainer.running_metrics()))

    _fit(4, epochs=1, callbacks=[LambdaCallback(on_batch_end=snap)])
    assert [n for _, n, _ in snapshots] == [0, 0, 0, 128, 128, 128, 128, 256]
    assert all(math.isnan(loss) for b, _, (loss, _) in snapshots if b < 4)


# ---- NaN at the next read ---------------------------------------------------------------------------
def _poison_after(epoch_index, batch_index):
    def poison(trainer, batch, logs):
        if trainer.epoch == epoch_index and batch == batch_index:
            next(trainer.model.parameters()).data[0, 0] = np.nan
    return poison


def test_nan_loss_is_found_at_the_next_read_naming_the_batch_and_the_batches_read(tmp_path):
    # poisoned after batch 2 of epoch 2: batch 3's loss is the first NaN, read with batches 1-5 before batch 5 steps
    with pytest.raises(NonFiniteLossError) as info:
        _fit(5, out_dir=tmp_path, callbacks=[LambdaCallback(on_batch_end=_poison_after(1, 2))])
    err = info.value
    assert (err.epoch, err.step, err.batch) == (2, 11, 3) and math.isnan(err.value)
    message = str(err)
    assert "loss became nan at epoch 2, step 11 (batch 3 of 8), found when batches 1-5 were read back together " \
           "(log_every=5); the weights in memory took 2 optimizer step(s) from that batch on" in message
    assert f"last good checkpoint {tmp_path / 'last.ckpt'} (epoch 1) was kept unchanged" in message
    kept = load_checkpoint(tmp_path / "last.ckpt")
    assert kept["epoch"] == 1 and kept["partial"] is None
    assert all(np.isfinite(v).all() for v in kept["model"].values())


def test_nan_among_unread_steps_stops_ctrl_c_from_overwriting_the_checkpoint(tmp_path):
    def interrupt(trainer, batch, logs):
        if trainer.epoch == 1 and batch == 4:
            raise KeyboardInterrupt

    callbacks = [LambdaCallback(on_batch_end=_poison_after(1, 2)), LambdaCallback(on_batch_end=interrupt)]
    with pytest.raises(NonFiniteLossError) as info:
        _fit(5, out_dir=tmp_path, callbacks=callbacks)
    assert (info.value.epoch, info.value.batch) == (2, 3)
    assert "batches 1-4 were read back together (log_every=5); the weights in memory took 2 optimizer step(s)" \
        in str(info.value)
    assert load_checkpoint(tmp_path / "last.ckpt")["partial"] is None  # still epoch 1's checkpoint


# ---- exact resume with unread steps ---------------------------------------------------------------------------
def _loss_columns(history):
    keys = ("epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc")
    return [tuple(r[k] for k in keys) for r in history]


def test_ctrl_c_between_reads_saves_exact_sums_and_resumes_exactly(tmp_path):
    options = dict(epochs=3, dropout=0.3, schedule="onecycle")
    straight = run_training(TrainConfig(**TINY, **options, out=str(tmp_path / "straight")), progress=False)

    def interrupt(trainer, batch, logs):
        if trainer.epoch == 1 and batch == 5:  # 21 batches per epoch: nothing of epoch 2 read yet
            assert trainer._sums == [0.0, 0, 0] and len(trainer._pending) == 5
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        run_training(TrainConfig(**TINY, **options, log_every=7, out=str(tmp_path / "cut")), progress=False,
                     callbacks=[LambdaCallback(on_batch_end=interrupt)])
    saved = load_checkpoint(tmp_path / "cut")
    assert saved["partial"]["batches_done"] == 5 and saved["partial"]["sums"][2] == 5 * 64
    resumed = run_training(TrainConfig(**TINY, **options, log_every=4), resume=tmp_path / "cut", progress=False,
                           explicit=["log_every"])
    assert resumed.trainer.log_every == 4  # log_every may change on resume: the results do not depend on it
    assert _loss_columns(resumed.history) == _loss_columns(straight.history)
    for (ka, a), (kb, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert ka == kb and np.array_equal(a, b), ka


def test_a_checkpoint_written_mid_epoch_reads_the_pending_steps_first(tmp_path):
    saved = {}

    def save(trainer, batch, logs):
        if trainer.epoch == 0 and batch == 2:
            saved["sums"] = trainer.state_dict()["partial"]["sums"]
            saved["pending"] = len(trainer._pending)

    _fit(5, epochs=1, callbacks=[LambdaCallback(on_batch_end=save)])
    assert saved["pending"] == 0 and saved["sums"][2] == 64


# ---- the loss's class-target check ---------------------------------------------------------------------------
class _Unreadable(np.ndarray):
    """Targets whose values may not be read: min/max raise, so a skipped check is visible."""

    def min(self, *args, **kwargs):
        raise AssertionError("the targets' range was read")

    max = min


def test_known_target_range_skips_reading_only_that_array():
    target = np.array([1, 2, 3]).view(_Unreadable)
    with pytest.raises(AssertionError, match="range was read"):
        loss_ops.check_class_targets(target, 10, "cross_entropy")
    with loss_ops.known_target_range(target, 0, 9):
        loss_ops.check_class_targets(target, 10, "cross_entropy")
        loss_ops.check_class_targets(np.asarray(target), 10, "cross_entropy")  # a view of the same memory
        with pytest.raises(AssertionError, match="range was read"):
            loss_ops.check_class_targets(target.copy(), 10, "cross_entropy")  # another array is checked as usual
    with pytest.raises(AssertionError, match="range was read"):  # only inside the block
        loss_ops.check_class_targets(target, 10, "cross_entropy")
    # the known range is still compared with the number of classes, with the usual error
    message = r"cross_entropy: target 10 is out of range for 10 classes; class indices must lie in \[0, 9\]"
    with loss_ops.known_target_range(target, 0, 10), pytest.raises(ValueError, match=message):
        loss_ops.check_class_targets(target, 10, "cross_entropy")


def test_cross_entropy_called_directly_still_checks_its_targets(device):
    logits = tg.randn(4, 3).to(device)
    for bad, value in (([0, 1, 3, 2], 3), ([0, -1, 1, 2], -1)):
        target = tg.backend.to_device(np.array(bad), device)
        with pytest.raises(ValueError, match=f"cross_entropy: target {value} is out of range for 3 classes"):
            F.cross_entropy(logits, target)
        with pytest.raises(ValueError, match=f"cross_entropy: target {value} is out of range for 3 classes"):
            tg.nn.CrossEntropyLoss()(logits, target)


def test_trainer_proves_the_labels_once_and_the_loss_trusts_them(monkeypatch):
    calls = []
    real = loss_ops.known_target_range

    def spy(target, low, high):
        calls.append((low, high))
        return real(target, low, high)

    monkeypatch.setattr(trainer_module, "known_target_range", spy)
    _fit(3, epochs=1)
    assert calls == [(0, 9)] * 8
    # a bad label anywhere in the training set stops the very first step with the loss's own error
    data = load_dataset("digits")
    y = data.y_train[:256].copy()
    y[200] = 10
    model = build_mlp(64, 10, hidden=[8])
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), progress=False, verbose=False)
    with pytest.raises(ValueError, match="cross_entropy: target 10 is out of range for 10 classes"):
        trainer.fit(DataLoader((data.x_train[:256], y), batch_size=32), None, 1)
    assert trainer.step == 0
    # a loader the trainer cannot see into: each batch is checked by the loss, as before
    batches = [(data.x_train[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), progress=False, verbose=False)
    with pytest.raises(ValueError, match="cross_entropy: target 10 is out of range for 10 classes"):
        trainer.fit(batches, None, 1)
    assert trainer.step == 6  # batch 7 holds the bad label


def test_readback_label_range_only_for_array_loaders():
    x, y = np.zeros((6, 2), np.float32), np.array([3, 1, 4, 1, 5, 2])
    assert readback.label_range(DataLoader((x, y), batch_size=2)) == (1, 5)
    assert readback.label_range(DataLoader((x, y.astype(np.float32)), batch_size=2)) is None
    assert readback.label_range(DataLoader(x, batch_size=2)) is None
    assert readback.label_range([(x, y)]) is None
    assert readback.batch_label_range(y) == (1, 5) and readback.batch_label_range(y[:0]) is None


# ---- the CLI flag ---------------------------------------------------------------------------------------------
def test_cli_log_every_is_parsed_saved_and_validated(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--hidden", "16", "--epochs", "1", "--batch-size", "64", "--quiet", "--log-every", "5",
                     "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert load_config(out / "config.toml").log_every == 5
    assert load_checkpoint(out)["config"]["log_every"] == 5
    for value, words in (("0", "--log-every must be a positive integer (steps between reads of the loss), got 0"),
                         ("-2", "--log-every must be a positive integer (steps between reads of the loss), got -2"),
                         ("abc", "argument --log-every: expected an integer, got 'abc'"),
                         ("1.5", "argument --log-every: expected an integer, got '1.5'")):
        code = cli.main(["train", "--log-every", value, "--epochs", "1", "--quiet", "--out", str(tmp_path / "bad")])
        err = capsys.readouterr().err
        assert code == 2 and words in err, err
        assert "Traceback" not in err
    help_text = _help(capsys)
    assert "--log-every N" in help_text and "every step on cpu, 50 on cuda" in help_text
    assert TrainConfig().log_every is None
    assert TrainConfig.from_dict({"log-every": "3"}).log_every == 3


def _help(capsys):
    assert cli.main(["train", "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


# ---- on the GPU ---------------------------------------------------------------------------------------------------
def test_training_on_each_device_reads_back_once_per_log_every_steps(device, monkeypatch):
    sizes = _counting_reads(monkeypatch)
    matched = []
    real_same = loss_ops._same_array
    monkeypatch.setattr(loss_ops, "_same_array", lambda a, b: matched.append(real_same(a, b)) or matched[-1])
    _, default = _fit(None, device=device)
    expected = [1] * 8 if device == "cpu" else [8]  # default: every step on the CPU, every 50 (here: once) on CUDA
    assert sizes == expected * 3
    assert matched and all(matched)  # the loss recognised the trainer's labels every step: no device check
    sizes.clear()
    _, every = _fit(1, device=device)
    assert sizes == [1] * 24
    for a, b in zip(default, every):
        assert a["train_acc"] == b["train_acc"] and a["step"] == b["step"] and a["val_acc"] == b["val_acc"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
