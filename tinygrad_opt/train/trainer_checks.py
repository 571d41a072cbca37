"""The Trainer's argument checks: a wrong type or value fails at construction with a message naming the
argument, instead of an AttributeError deep in fit() or, worse, a run that silently trains nothing
(an optimizer of another model, a scheduler of another optimizer)."""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Iterable

from ..backend import normalize_device
from ..nn import Module
from ..optim import Optimizer
from .callbacks import Callback
from .early_stopping import EarlyStopping


def _type_name(value: Any) -> str:
    return type(value).__name__


def _parameter_ids(optimizer: Any) -> set[int]:
    return {id(p) for group in getattr(optimizer, "param_groups", ()) for p in group["params"]}


def check_penalty(name: str, value: Any, *, optional: bool = False) -> None:
    """l1/l2 (>= 0) and clip_grad (> 0 or None): real numbers, finite."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Trainer: {name} must be a number{' or None' if optional else ''}, got "
                        f"{_type_name(value)} {value!r}")
    if not math.isfinite(value) or (value <= 0 if optional else value < 0):
        bound = "> 0 (or None)" if optional else ">= 0"
        raise ValueError(f"Trainer: {name} must be {bound}, got {value!r}")


def check_model_and_optimizer(model: Any, optimizer: Any, loss_fn: Any) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"Trainer: model must be an nn.Module, got {_type_name(model)}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"Trainer: optimizer must be a tinygrad_opt optimizer (e.g. optim.Adam(model.parameters())), "
                        f"got {_type_name(optimizer)}")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"Trainer: loss_fn must be callable as loss_fn(outputs, targets) (e.g. nn.CrossEntropyLoss()), "
                        f"got {_type_name(loss_fn)}")
    model_ids = {id(p) for p in model.parameters()}
    if model_ids and not model_ids & _parameter_ids(optimizer):
        raise ValueError("Trainer: the optimizer holds none of the model's parameters, so training would change "
                         "nothing; build it on this model: optim.Adam(model.parameters())")


def check_scheduler(scheduler: Any, optimizer: Optimizer) -> None:
    if scheduler is None:
        return
    if not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"Trainer: scheduler must be a learning-rate scheduler (e.g. "
                        f"optim.lr_scheduler.StepLR(optimizer, 10)), got {_type_name(scheduler)}")
    own = getattr(scheduler, "optimizer", None)
    if own is not None and own is not optimizer and not _parameter_ids(own) & _parameter_ids(optimizer):
        raise ValueError(f"Trainer: the scheduler ({_type_name(scheduler)}) belongs to another optimizer, so it "
                         "would not change this run's learning rate; build it on the trainer's optimizer")


def check_callbacks(callbacks: Any, early_stopping: Any) -> list[Callback]:
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise TypeError(f"Trainer: early_stopping must be a train.EarlyStopping (or None), got "
                        f"{_type_name(early_stopping)}")
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Iterable):
        raise TypeError(f"Trainer: callbacks must be a list of train.Callback objects, got {_type_name(callbacks)}"
                        + ("; wrap it in a list" if isinstance(callbacks, Callback) else ""))
    listed = list(callbacks)
    for i, cb in enumerate(listed):
        if not isinstance(cb, Callback):
            raise TypeError(f"Trainer: callbacks[{i}] must be a train.Callback (subclass it, or use "
                            f"train.LambdaCallback), got {_type_name(cb)}")
    return listed


def check_device_and_out_dir(device: Any, out_dir: Any) -> str | None:
    """The device as "cpu"/"cuda" (None: the model's)."""
    if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"Trainer: out_dir must be a folder path (str or Path) or None, got {_type_name(out_dir)}")
    if device is None:
        return None
    try:
        return normalize_device(device)
    except ValueError:
        raise ValueError(f"Trainer: unknown device {device!r}: use 'cpu' or 'cuda' (or None for the model's)") from None


def check_train_loader(loader: Any) -> None:
    """fit's train_loader: something with a length that yields (inputs, targets) batches."""
    example = "DataLoader((x, y), batch_size=32, shuffle=True)"
    if isinstance(loader, tuple) and len(loader) == 2 and all(hasattr(a, "shape") for a in loader):
        raise TypeError(f"Trainer.fit: train_loader must yield (inputs, targets) batches, got a tuple of arrays; "
                        f"wrap them: {example}")
    if isinstance(loader, (str, bytes)) or not (hasattr(loader, "__iter__") and hasattr(loader, "__len__")):
        raise TypeError(f"Trainer.fit: train_loader must be a loader of (inputs, targets) batches with a length "
                        f"(e.g. {example}), got {_type_name(loader)}")
