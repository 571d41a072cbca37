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


def _openblas_pthreads() -> bool:
    from tinygrad_opt.kernels import blas_threads  # noqa: PLC0415

    blas = blas_threads._blas()
    return blas is not None and blas.internal_api == "openblas" and blas.threading_layer == "pthreads"


class ProductModes(Callback):
    """two_thread_product() at every batch."""

    def __init__(self) -> None:
        self.flushed: list[str] = []

    def on_batch_end(self, trainer, batch, logs):
        self.flushed.append(two_thread_product())


def two_thread_product() -> str:
    """A two-thread NumPy product whose terms are subnormal: "flushed", "kept" or "mixed" (one thread each)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    a = np.full((600, 300), 1e-20, np.float32)  # every term 1e-40 is subnormal; each sum of 300 is normal
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        out = a @ a.T
    return "flushed" if np.all(out == 0) else ("kept" if np.all(out > 0) else "mixed")


@pytest.mark.skipif(not _openblas_pthreads(), reason="needs threadpoolctl and NumPy's OpenBLAS (pthreads)")
def test_fit_restarts_openblas_threads_once_at_its_first_product_and_the_next_fit_not_at_all(monkeypatch):
    tg.set_flush_denormal(False)  # at once: BLAS's threads keep subnormals now
    assert two_thread_product() == "kept"
    restarts = []
    restart = denormal.restart_blas_threads
    monkeypatch.setattr(denormal, "restart_blas_threads", lambda: restarts.append(1) or restart())
    for _ in range(2):
        recorder = ProductModes()
        fit(recorder=recorder)
        assert recorder.flushed == ["flushed"] * 4  # BLAS's threads flush while fit trains
    assert len(restarts) == 1  # before the first fit's first product; not when each fit restores, nor again
    assert two_thread_product() == "mixed"  # this thread keeps subnormals again, BLAS's worker still flushes ...
    tg.ones(4, 4) @ tg.ones(4, 4)  # ... until the engine's next product restarts it
    assert len(restarts) == 2
    assert two_thread_product() == "kept"
