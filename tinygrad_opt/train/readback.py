"""What the training loop reads back from the device, and when: the running loss and accuracy.

A step's loss and correct count stay on the device (CuPy arrays on "cuda") as a
`StepResult`; the Trainer collects them and reads a whole group back with one
device-to-host copy every `log_every` steps (and at the epoch's end, before a
checkpoint, on Ctrl-C), so a CUDA step does not wait for the GPU. The host then adds
the values up in batch order exactly as a per-step read would, so the epoch's
train_loss and train_acc do not depend on `log_every`.

`label_range` proves a loader's class labels once per fit(), on the host, so the
loss can skip its per-step range check (see ops.loss.known_target_range).
"""
from __future__ import annotations

import numbers
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..backend import array_module, to_device

LOG_EVERY_CUDA = 50  # default steps between reads off the CPU: a read per step would stall the GPU


class StepResult(NamedTuple):
    """One training step's numbers, still where they were computed."""

    batch: int  # 1-based within the epoch
    step: int  # the optimizer step this batch makes (1-based over the run)
    loss: Any  # 0-d array: the batch's mean loss before the penalties
    correct: Any  # 0-d integer array: how many predictions were right
    n: int  # batch size


def default_log_every(device: str) -> int:
    """Every step on the CPU (a read costs nothing there), LOG_EVERY_CUDA steps elsewhere."""
    return 1 if device == "cpu" else LOG_EVERY_CUDA


def check_log_every(value: Any, what: str = "Trainer: log_every") -> int | None:
    """None (the device's default) or a positive integer; anything else is a clear error."""
    if value is None:
        return None
    expected = (f"{what} must be a positive integer (steps between reads of the loss) or None "
                f"(every step on the CPU, every {LOG_EVERY_CUDA} on CUDA)")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{expected}, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{expected}, got {value!r}")
    return int(value)


def read_to_host(results: Sequence[StepResult]) -> list[tuple[float, int]]:
    """(loss, correct) of each result as Python numbers; a single device-to-host copy off the CPU.

    float32 -> float64 and int64 counts -> float64 are exact, so the values equal what
    `float(loss.item())` and `int(correct)` would give step by step.
    """
    losses = [r.loss.reshape(()) for r in results]  # a (1,)-shaped loss passes the size check too
    corrects = [r.correct.reshape(()) for r in results]
    xp = array_module(losses[0])
    if xp is np:
        return [(float(loss), int(correct)) for loss, correct in zip(losses, corrects)]
    packed = xp.concatenate([xp.stack(losses).astype(xp.float64), xp.stack(corrects).astype(xp.float64)])
    host = to_device(packed, "cpu").tolist()
    k = len(results)
    return [(host[i], int(host[k + i])) for i in range(k)]


def label_range(loader: Any) -> tuple[int, int] | None:
    """(min, max) of an array-backed loader's integer class labels, computed once; None where unknown.

    Only for loaders over an ArrayDataset of (inputs, labels): every batch they yield takes
    its labels from that one array, so its range bounds each batch's. Other loaders get
    their targets checked batch by batch.
    """
    arrays = getattr(getattr(loader, "dataset", None), "arrays", None)
    if not isinstance(arrays, tuple) or len(arrays) != 2:
        return None
    labels = arrays[1]
    if getattr(labels, "ndim", None) != 1 or labels.dtype.kind not in "iu" or not labels.size:
        return None
    host = to_device(labels, "cpu")  # one copy per fit() when the labels live on the GPU
    return int(host.min()), int(host.max())


def batch_label_range(labels: Any) -> tuple[int, int] | None:
    """(min, max) of a batch's labels when they are on the host (free to read); None otherwise."""
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu" and labels.size:
        return int(labels.min()), int(labels.max())
    return None
