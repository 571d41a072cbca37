"""Optimizers and learning-rate schedules from a TrainConfig, by name.

OPTIMIZER_BUILDERS and SCHEDULE_BUILDERS map the config's names to small functions;
add an entry (and its name to the choices in train/config.py) to offer another one.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .. import optim
from .config import TrainConfig
from ..optim import lr_scheduler as sched
from .combined_optimizer import CombinedOptimizer


# name -> (optimizer class, its keyword arguments from a resolved config); SAM builds its base from this table
OPTIMIZER_OPTIONS: dict[str, tuple[type, Callable[[TrainConfig], dict]]] = {
    "sgd": (optim.SGD, lambda c: dict(lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.nesterov)),
    "adam": (optim.Adam, lambda c: dict(lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)),
    "adamw": (optim.AdamW, lambda c: dict(lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)),
    "rmsprop": (optim.RMSprop, lambda c: dict(lr=c.lr, eps=c.eps, weight_decay=c.weight_decay, momentum=c.momentum)),
    "adagrad": (optim.Adagrad, lambda c: dict(lr=c.lr, eps=c.eps, weight_decay=c.weight_decay)),
    "adadelta": (optim.Adadelta, lambda c: dict(lr=c.lr, eps=c.eps, weight_decay=c.weight_decay)),
    "adamax": (optim.Adamax, lambda c: dict(lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)),
    "nadam": (optim.NAdam, lambda c: dict(lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)),
    "radam": (optim.RAdam, lambda c: dict(lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)),
    "rprop": (optim.Rprop, lambda c: dict(lr=c.lr)),
    "asgd": (optim.ASGD, lambda c: dict(lr=c.lr, weight_decay=c.weight_decay)),
    "adafactor": (optim.Adafactor, lambda c: dict(lr=c.lr, weight_decay=c.weight_decay)),
    "lion": (optim.Lion, lambda c: dict(lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)),
    "schedulefree-adamw": (optim.ScheduleFreeAdamW, lambda c: dict(lr=c.lr, betas=tuple(c.betas), eps=c.eps,
                                                                   weight_decay=c.weight_decay)),
    "schedulefree-sgd": (optim.ScheduleFreeSGD, lambda c: dict(lr=c.lr, momentum=c.momentum,
                                                                weight_decay=c.weight_decay)),
    # on mini-batches L-BFGS needs its line search to stay stable
    "lbfgs": (optim.LBFGS, lambda c: dict(lr=c.lr, line_search_fn="strong_wolfe")),
}


def _from_table(name: str) -> Callable[[list, TrainConfig], optim.Optimizer]:
    cls, options = OPTIMIZER_OPTIONS[name]
    return lambda params, c: cls(params, **options(c))


def _sam(params: list, c: TrainConfig) -> optim.Optimizer:
    base, options = OPTIMIZER_OPTIONS[c.sam_base]
    return optim.SAM(params, base, rho=c.sam_rho, **options(c))


def _muon(params: list, c: TrainConfig) -> optim.Optimizer:
    """Muon for the weight matrices, AdamW for the rest; Muon's lr is scaled to match AdamW's update size
    (adjust_lr_fn="match_rms_adamw"), so one --lr serves both."""
    matrices = [p for p in params if len(p.shape) == 2]
    others = [p for p in params if len(p.shape) != 2]
    muon = optim.Muon(matrices, lr=c.lr, weight_decay=c.weight_decay, momentum=c.momentum,
                      adjust_lr_fn="match_rms_adamw")
    rest = None
    if others:
        rest = optim.AdamW(others, lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)
    return CombinedOptimizer([muon, rest])


OPTIMIZER_BUILDERS: dict[str, Callable[[list, TrainConfig], optim.Optimizer]] = {
    **{name: _from_table(name) for name in OPTIMIZER_OPTIONS}, "sam": _sam, "muon": _muon,
}


def make_optimizer(config: TrainConfig, params: Iterable) -> optim.Optimizer:
    """The optimizer a resolved config names, over `params` (inside Lookahead when lookahead_k is set)."""
    optimizer = OPTIMIZER_BUILDERS[config.optimizer](list(params), config)
    if config.lookahead_k:
        optimizer = optim.Lookahead(optimizer, k=config.lookahead_k, alpha=config.lookahead_alpha)
    return optimizer


def _cycles_momentum(opt: optim.Optimizer) -> bool:
    """Whether OneCycleLR/CyclicLR can cycle momentum (or beta1) on this optimizer."""
    return "momentum" in opt.defaults or "betas" in opt.defaults


# Each schedule builder gets (optimizer, resolved config, batches per epoch) and returns a scheduler
# or None; the Trainer steps OneCycleLR and CyclicLR per batch and the others once per epoch.
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
                                                       cycle_momentum=_cycles_momentum(opt)),
    "plateau": lambda opt, c, steps: sched.ReduceLROnPlateau(opt, mode="min", factor=c.gamma,
                                                             patience=c.plateau_patience, min_lr=c.min_lr),
    "warmup-cosine": _warmup_cosine,
    "polynomial": lambda opt, c, steps: sched.PolynomialLR(opt, total_iters=c.epochs, power=c.power),
    "warm-restarts": lambda opt, c, steps: sched.CosineAnnealingWarmRestarts(opt, T_0=c.step_size, eta_min=c.min_lr),
    "cyclic": lambda opt, c, steps: sched.CyclicLR(opt, base_lr=c.lr, max_lr=c.max_lr, step_size_up=c.step_size * steps,
                                                   cycle_momentum=_cycles_momentum(opt)),
}


def make_scheduler(config: TrainConfig, optimizer: optim.Optimizer, steps_per_epoch: int) -> Any:
    """The schedule a resolved config names (None for "none")."""
    return SCHEDULE_BUILDERS[config.schedule](optimizer, config, steps_per_epoch)
