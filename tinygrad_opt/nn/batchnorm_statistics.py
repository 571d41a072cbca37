"""The statistics a batch-norm layer normalises with, and the update of its running estimates.

Training: the batch's biased mean and variance; num_batches_tracked counts the batch and
running_mean / running_var move towards the batch mean and the *unbiased* variance,
    r = (1 - factor) * r + factor * batch,  factor = momentum, or 1 / num_batches_tracked
    when momentum is None (a cumulative average).
Evaluation: the running estimates themselves.

Both functions work on arrays and change buffers in place, outside the engine's ops, so
they are step effects (`@replayed`): a step captured by tg.compile computes them again at
each replay from that step's activations and updates the buffers as eager does.
"""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..ops.batch_norm_channels import batch_statistics
from ..step_effects import replayed


def _buffers_changed(x, batch_mode, running_mean, running_var, num_batches_tracked, momentum) -> list:
    """The arrays a statistics call below changes in place: the buffers given, when it uses the batch's statistics
    (batch_mode: channel_statistics' training, feature_statistics' axes)."""
    if batch_mode is None or batch_mode is False:
        return []
    return [t.data for t in (running_mean, running_var, num_batches_tracked) if t is not None]


def _count_batch(counter, momentum: float | None) -> float:
    """Add the batch to num_batches_tracked; the factor the running estimates move by."""
    if counter is not None:
        value = counter.data
        value += 1
    if momentum is None:  # a cumulative average; without a counter nothing is averaged
        return 0.0 if counter is None else 1.0 / float(counter.data)
    return momentum


def _move_towards(running, batch, factor: float) -> None:
    """running = (1 - factor) * running + factor * batch, in place (buffers stay the same arrays)."""
    running *= 1.0 - factor
    running += factor * batch.astype(running.dtype, copy=False)


@replayed(changes=_buffers_changed)
def channel_statistics(x, training: bool, running_mean, running_var, num_batches_tracked, momentum) -> tuple[Any, Any]:
    """(mean, var) over every axis of x but 1, (C,) float64 each (ops.BatchNormChannels' options).

    training: x's biased statistics; running_mean / running_var (Tensors or None) move towards them
    and num_batches_tracked (a Tensor, or None: not counted) counts the batch. Otherwise the
    running estimates as float64.
    """
    if not training:
        xp = array_module(x)
        return running_mean.data.astype(xp.float64), running_var.data.astype(xp.float64)
    factor = _count_batch(num_batches_tracked, momentum)
    mean, var = batch_statistics(x)
    count = x.size // x.shape[1]
    if running_mean is not None:
        _move_towards(running_mean.data, mean, factor)
    if running_var is not None:
        _move_towards(running_var.data, var * (count / (count - 1)), factor)
    return mean, var


@replayed(changes=_buffers_changed)
def feature_statistics(x, axes: tuple, running_mean, running_var, num_batches_tracked, momentum) -> tuple[Any, Any]:
    """(mean, var) of x (N, C) or (N, C, L) over `axes`, in x's dtype, shaped (1, C) or (1, C, 1) (ops.BatchNorm's).

    axes=None: the running estimates (evaluation). Otherwise the batch's biased statistics, and when
    num_batches_tracked is given, the running estimates move towards them (BatchNorm1d in training).
    """
    if axes is None:
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        return running_mean.data.reshape(shape), running_var.data.reshape(shape)
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    if num_batches_tracked is not None:
        factor = _count_batch(num_batches_tracked, momentum)
        count = x.size // x.shape[1]
        unbiased = var.reshape(-1) * (count / (count - 1))
        rm, rv = running_mean.data, running_var.data
        rm *= 1.0 - factor
        rm += factor * mean.reshape(-1).astype(rm.dtype, copy=False)
        rv *= 1.0 - factor
        rv += factor * unbiased.astype(rv.dtype, copy=False)
    return mean, var
