"""Ctrl-C (SIGINT) at any point of a training step: the checkpoint written holds whole steps, and the
resumed run equals an uninterrupted one; a second Ctrl-C does not wait."""
import signal

import numpy as np
import pytest

from tinygrad_opt.train import Trainer, TrainingInterrupted, load_checkpoint, run_training
from tinygrad_opt.train.config import TrainConfig
from tinygrad_opt.train.interrupts import DeferredInterrupt

TINY = dict(hidden=[16], batch_size=64, quiet=True, epochs=2, seed=5)
CUT_AT_STEP = 7  # inside epoch 1 (21 batches)


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own Ctrl-C handler, as in a command run from a shell (xdist workers ignore SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def history_numbers(history):
    return [(r["epoch"], r["step"], r["train_loss"], r["val_loss"]) for r in history]


def weights(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


# where the signal lands: eager runs between the update and the batch's bookkeeping (after _update);
# a captured step has already updated the weights when its loss is read (_read)
@pytest.mark.parametrize("capture, method", [(False, "_update"), (True, "_read")])
def test_a_sigint_inside_a_step_resumes_exactly(tmp_path, monkeypatch, capture, method):
    straight = run_training(TrainConfig(**TINY, capture=capture, out=str(tmp_path / "straight")), progress=False)
    real = getattr(Trainer, method)

    def then_sigint(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        if self.step + 1 == CUT_AT_STEP:  # the step being taken is CUT_AT_STEP
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C: its handler runs before the next line
        return result

    monkeypatch.setattr(Trainer, method, then_sigint)
    with pytest.raises(TrainingInterrupted) as info:
        run_training(TrainConfig(**TINY, capture=capture, out=str(tmp_path / "cut")), progress=False)
    monkeypatch.undo()
    saved = load_checkpoint(info.value.checkpoint)
    assert saved["step"] == CUT_AT_STEP and saved["partial"]["batches_done"] == CUT_AT_STEP
    resumed = run_training(TrainConfig(), resume=tmp_path / "cut", progress=False)
    assert history_numbers(resumed.history) == history_numbers(straight.history)
    a, b = weights(straight.model), weights(resumed.model)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_second_sigint_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt), DeferredInterrupt() as interrupts:
        signal.raise_signal(signal.SIGINT)
        assert interrupts.requested
        signal.raise_signal(signal.SIGINT)
        pytest.fail("the second Ctrl-C did not interrupt")


def test_a_pending_sigint_is_raised_when_the_block_ends_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with DeferredInterrupt():
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_program_with_its_own_sigint_handler_keeps_it():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *_: seen.append(1))
    try:
        with DeferredInterrupt() as interrupts:
            signal.raise_signal(signal.SIGINT)
        assert seen == [1] and not interrupts.requested
    finally:
        signal.signal(signal.SIGINT, previous)
