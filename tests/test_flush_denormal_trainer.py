"""Trainer / `tinygrad-opt train` flush subnormals while they train float32 models on the CPU, and restore the mode."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import cli, nn, optim
from tinygrad_opt.data import DataLoader
from tinygrad_opt.kernels import denormal
from tinygrad_opt.train import Callback, Trainer, run_training
from tinygrad_opt.train.config import TrainConfig

pytestmark = pytest.mark.skipif(not denormal.supported(), reason="FTZ/DAZ are x86 MXCSR bits")


@pytest.fixture(autouse=True)
def _restore_mode():
    before = denormal.flush_denormal_enabled()
    yield
    tg.set_flush_denormal(before)


class RecordMode(Callback):
    """The calling thread's flush mode at every batch."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.modes: list[bool] = []
        self.fail_at = fail_at

    def on_batch_end(self, trainer, batch, logs):
        self.modes.append(denormal.flush_denormal_enabled())
        if batch == self.fail_at:
            raise RuntimeError("a callback failed")


def fit(dtype=np.float32, epochs: int = 1, **options) -> RecordMode:
    recorder = options.pop("recorder", None) or RecordMode()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 8)).astype(dtype), rng.integers(0, 3, 64)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).to(tg.float64 if dtype == np.float64
                                                                           else tg.float32)
    trainer = Trainer(model, optim.Adam(model.parameters()), callbacks=[recorder], verbose=False, progress=False,
                      **options)
    trainer.fit(DataLoader((x, y), batch_size=16), epochs=epochs)
    return recorder


@pytest.mark.parametrize("before", [False, True])
def test_float32_training_flushes_by_default_and_restores_the_mode_after(before):
    tg.set_flush_denormal(before)
    assert fit().modes == [True] * 4
    assert denormal.flush_denormal_enabled() is before


def test_flush_denormal_false_keeps_subnormals():
    assert fit(flush_denormal=False).modes == [False] * 4


def test_float64_training_keeps_them_unless_asked():
    assert fit(np.float64).modes == [False] * 4
    assert fit(np.float64, flush_denormal=True).modes == [True] * 4


def test_the_mode_is_restored_when_training_fails():
    with pytest.raises(RuntimeError, match="a callback failed"):
        fit(recorder=RecordMode(fail_at=2))
    assert not denormal.flush_denormal_enabled()


def test_flush_denormal_must_be_a_bool_or_none():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Trainer: flush_denormal must be True, False or None.*'yes'"):
        Trainer(model, optim.SGD(model.parameters()), flush_denormal="yes")


def test_the_cli_flushes_by_default_and_the_option_turns_it_off(tmp_path, capsys):
    assert TrainConfig().flush_denormal is True
    for flag, expected in ((None, True), (False, False)):
        recorder = RecordMode()
        config = TrainConfig(hidden=[16], epochs=1, batch_size=256, quiet=True, out=str(tmp_path / str(flag)),
                             **({} if flag is None else {"flush_denormal": flag}))
        run_training(config, callbacks=[recorder], progress=False)
        assert recorder.modes and set(recorder.modes) == {expected}
        assert not denormal.flush_denormal_enabled()
    assert cli.main(["train", "--no-flush-denormal", "--save-config", str(tmp_path / "saved.toml")]) == 0
    capsys.readouterr()
    assert "flush_denormal = false" in (tmp_path / "saved.toml").read_text()
