"""Optimizers and learning-rate schedules from a TrainConfig, by name.

OPTIMIZER_BUILDERS and SCHEDULE_BUILDERS map the config's names to small functions;
add an entry (and its name to the choices in tinygrad_opt.cli.config) to offer another one.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .. import optim
from ..cli.config import TrainConfig
from ..optim import lr_scheduler as sched


def _sgd(params: list, c: TrainConfig) -> optim.Optimizer:
    return optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.nesterov)


def _adam(params: list, c: TrainConfig) -> optim.Optimizer:
    return optim.Adam(params, lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)


def _adamw(params: list, c: TrainConfig) -> optim.Optimizer:
    return optim.AdamW(params, lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)


def _rmsprop(params: list, c: TrainConfig) -> optim.Optimizer:
    return optim.RMSprop(params, lr=c.lr, eps=c.eps, weight_decay=c.weight_decay, momentum=c.momentum)


def _adagrad(params: list, c: TrainConfig) -> optim.Optimizer:
    return optim.Adagrad(params, lr=c.lr, eps=c.eps, weight_decay=c.weight_decay)


OPTIMIZER_BUILDERS: dict[str, Callable[[list, TrainConfig], optim.Optimizer]] = {
    "sgd": _sgd, "adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "adagrad": _adagrad,
}


def make_optimizer(config: TrainConfig, params: Iterable) -> optim.Optimizer:
    """The optimizer a resolved config names, over `params`."""
    return OPTIMIZER_BUILDERS[config.optimizer](list(params), config)


# Each schedule builder gets (optimizer, resolved config, batches per epoch) and returns a scheduler
# or None; the Trainer steps OneCycleLR per batch and the others once per epoch.
def _warmup_cosine(opt: optim.Optimizer, c: TrainConfig, steps: int) -> Any:
    warmup = sched.LinearLR(opt, start_factor=1.0 / (c.warmup_epochs + 1), end_factor=1.0, total_iters=c.warmup_epochs)
    cosine = sched.CosineAnnealingLR(opt, T_max=c.epochs - c.warmup_epochs, eta_min=c.min_lr)
    return sched.SequentialLR(opt, [warmup, cosine], milestones=[c.warmup_epochs])


SCHEDULE_BUILDERS: dict[str, Callable[[optim.Optimizer, TrainConfig, int], Any]] = {
    "none": lambda opt, c, steps: None,
    "step": lambda opt, c, steps: sched.StepLR(opt, step_size=c.step_size, gamma=c.gamma),
    "multistep": lambda opt, c, steps: sched.MultiStepLR(opt, milestones=c.milestones, gamma=c.gamma),
    "exponential": lambda opt, c, steps: sched.ExponentialLR(opt, gamma=c.gamma),
    "cosine": lambda opt, c, steps: sched.CosineAnnealingLR(opt, T_max=c.epochs, eta_min=c.min_lr),
    "linear": lambda opt, c, steps: sched.LinearLR(opt, start_factor=1.0, end_factor=c.end_factor, total_iters=c.epochs),
    "onecycle": lambda opt, c, steps: sched.OneCycleLR(opt, max_lr=c.max_lr, total_steps=c.epochs * steps,
                                                       pct_start=c.pct_start,
                                                       cycle_momentum=c.optimizer != "adagrad"),
    "plateau": lambda opt, c, steps: sched.ReduceLROnPlateau(opt, mode="min", factor=c.gamma,
                                                             patience=c.plateau_patience, min_lr=c.min_lr),
    "warmup-cosine": _warmup_cosine,
}


def make_scheduler(config: TrainConfig, optimizer: optim.Optimizer, steps_per_epoch: int) -> Any:
    """The schedule a resolved config names (None for "none")."""
    return SCHEDULE_BUILDERS[config.schedule](optimizer, config, steps_per_epoch)
