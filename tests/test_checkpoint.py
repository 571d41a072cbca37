"""Checkpoints: the pickle-free format keeps every value exactly, writes are atomic, mismatched
architectures and damaged files give clear errors, and a model rebuilds from its checkpoint."""
import os
import zipfile
from collections import Counter

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import optim
from tinygrad_opt.data import DataLoader, load_dataset
from tinygrad_opt.optim import lr_scheduler
from tinygrad_opt.train import (
    ArchitectureMismatchError, CheckpointError, Trainer, build_mlp, load_checkpoint, load_model_state,
    model_from_checkpoint, save_checkpoint,
)
from tinygrad_opt.train import serialization
from tinygrad_opt.train.serialization import StateFormatError, dumps_state, loads_state


def test_state_round_trip_keeps_types_and_bits():
    tree = {
        "array": np.arange(6, dtype=np.float32).reshape(2, 3), "int64": np.array([1, -2], np.int64),
        "scalar32": np.float32(0.1), "scalar64": np.float64(1 / 3), "count": np.int64(7),
        "tuple": (1, 2.5, None, "x", (True, False)), "int_keys": {0: {"step": 3}, 5: [1.0]},
        "counter": Counter([3, 3, 9]), "specials": [float("inf"), -float("inf"), float("nan")],
        "big": 2**127 + 1, "float": 0.1 + 0.2, "nested": [{"a": np.zeros(0)}], "marker_like": {"__array__": 1},
        "rng": tg.get_rng_state(),
    }
    back = loads_state(dumps_state(tree))
    assert back["array"].dtype == np.float32 and np.array_equal(back["array"], tree["array"])
    assert back["int64"].dtype == np.int64
    assert type(back["scalar32"]) is np.float32 and back["scalar32"] == tree["scalar32"]
    assert type(back["scalar64"]) is np.float64 and back["scalar64"] == tree["scalar64"]
    assert type(back["count"]) is np.int64
    assert back["tuple"] == tree["tuple"] and isinstance(back["tuple"][4], tuple)
    assert back["int_keys"] == {0: {"step": 3}, 5: [1.0]}
    assert isinstance(back["counter"], Counter) and back["counter"] == Counter({3: 2, 9: 1})
    assert back["specials"][:2] == [float("inf"), -float("inf")] and np.isnan(back["specials"][2])
    assert back["big"] == 2**127 + 1 and back["float"] == 0.1 + 0.2
    assert back["nested"][0]["a"].shape == (0,) and back["marker_like"] == {"__array__": 1}
    tg.set_rng_state(back["rng"])  # the restored RNG state is accepted and reproduces the draws
    first = tg.randn(3).numpy()
    tg.set_rng_state(tree["rng"])
    assert np.array_equal(first, tg.randn(3).numpy())


def test_the_file_is_a_plain_npz_that_loads_without_pickle(tmp_path):
    path = save_checkpoint(tmp_path / "c.ckpt", {"model": {"w": np.ones((2, 2), np.float32)}})
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as archive:
        assert "__tree__" in archive.files
    assert load_checkpoint(path)["model"]["w"].shape == (2, 2)


def test_unsupported_values_are_refused_with_their_location():
    with pytest.raises(TypeError, match=r"cannot store a object at state\.optimizer\.fn"):
        dumps_state({"optimizer": {"fn": object()}})
    with pytest.raises(TypeError, match=r"object array at state\.x"):
        dumps_state({"x": np.array([object()])})


@pytest.mark.parametrize("failing", ["os.replace", "fsync"])
def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, failing):
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, {"epoch": 1, "model": {"w": np.zeros(3)}})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    if failing == "os.replace":
        monkeypatch.setattr(serialization.os, "replace", boom)
    else:
        monkeypatch.setattr(serialization.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "model": {"w": np.ones(3)}})
    monkeypatch.undo()
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left behind


def test_an_interrupt_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, {"epoch": 1})
    real_fdopen = os.fdopen

    class Interrupted:
        def __init__(self, *args, **kwargs):
            self.f = real_fdopen(*args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise KeyboardInterrupt

    monkeypatch.setattr(serialization.os, "fdopen", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1 and len(list(tmp_path.iterdir())) == 1


def test_damaged_and_foreign_files_are_clear_errors(tmp_path):
    good = save_checkpoint(tmp_path / "good.ckpt", {"epoch": 3, "model": {"w": np.zeros(100)}})
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated.ckpt is damaged"):
        load_checkpoint(truncated)
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes.ckpt is not a tinygrad_opt checkpoint.*not an .npz"):
        load_checkpoint(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(2))
    with pytest.raises(CheckpointError, match="plain.npz is an .npz archive but not a tinygrad_opt state file"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="missing.ckpt not found"):
        load_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(StateFormatError):
        loads_state(b"PK\x03\x04 not really a zip")


def test_a_checkpoint_from_another_architecture_names_the_keys_and_shapes():
    saved = build_mlp(64, 10, hidden=[32]).state_dict()
    with pytest.raises(ArchitectureMismatchError) as info:
        load_model_state(build_mlp(64, 10, hidden=[16]), saved, "checkpoint run/last.ckpt")
    message = str(info.value)
    assert "checkpoint run/last.ckpt was saved from a different architecture" in message
    assert "0.weight (32, 64) vs (16, 64)" in message and "2.weight (10, 32) vs (10, 16)" in message
    with pytest.raises(ArchitectureMismatchError) as info:
        load_model_state(build_mlp(64, 10, hidden=[32], batchnorm=True), saved)
    message = str(info.value)
    assert "missing from the checkpoint: 1.weight (32,), 1.bias (32,), 1.running_mean (32,)" in message
    assert "in the checkpoint but not in the model: 2.weight (10, 32)" in message
    assert isinstance(info.value, CheckpointError)


def _fitted_trainer(tmp_path, scheduler_factory=None, epochs=2):
    data = load_dataset("digits")
    tg.manual_seed(0)
    model = build_mlp(64, 10, hidden=[8], batchnorm=True)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = scheduler_factory(opt) if scheduler_factory else None
    config = {"type": "mlp", "in_features": 64, "num_classes": 10, "hidden": [8], "activation": "relu",
              "dropout": 0.0, "batchnorm": True}
    trainer = Trainer(model, opt, scheduler=scheduler, out_dir=tmp_path, progress=False, verbose=False,
                      checkpoint_extra={"model_config": config, "data": {"dataset": "digits"}})
    loader = DataLoader((data.x_train[:200], data.y_train[:200]), batch_size=50, shuffle=True)
    trainer.fit(loader, (data.x_train[200:300], data.y_train[200:300]), epochs=epochs)
    return trainer, data


def test_a_checkpoint_holds_the_whole_training_state(tmp_path):
    trainer, _ = _fitted_trainer(tmp_path, lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[1, 1, 3]))
    ckpt = load_checkpoint(tmp_path / "last.ckpt")
    for key in ("model", "optimizer", "scheduler", "epoch", "step", "history", "best", "early_stopping",
                "partial", "rng_state", "callbacks", "model_config", "data", "format", "version"):
        assert key in ckpt, key
    assert (ckpt["epoch"], ckpt["step"], len(ckpt["history"])) == (2, 8, 2)
    assert ckpt["model"]["1.num_batches_tracked"] == 8 and ckpt["model"]["1.num_batches_tracked"].dtype == np.int64
    assert ckpt["scheduler"]["milestones"] == Counter({1: 2, 3: 1})
    assert ckpt["optimizer"]["state"][0]["momentum_buffer"].shape == (8, 64)
    sched = lr_scheduler.MultiStepLR(optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1), milestones=[1, 1, 3])
    sched.load_state_dict(ckpt["scheduler"])
    assert sched.state_dict() == trainer.scheduler.state_dict()


def test_model_from_checkpoint_rebuilds_the_model(tmp_path):
    trainer, data = _fitted_trainer(tmp_path)
    model, ckpt = model_from_checkpoint(tmp_path / "last.ckpt")
    assert not model.training and ckpt["epoch"] == 2
    trainer.model.eval()
    x = tg.Tensor(data.x_test[:20])
    assert np.array_equal(model(x).numpy(), trainer.model(x).numpy())
    with pytest.raises(CheckpointError, match="unknown model type 'resnet50'"):
        model_from_checkpoint({**ckpt, "model_config": {"type": "resnet50"}})
