"""Optimizers, gradient clipping and learning-rate schedules, with torch.optim's names and formulas.

    from tinygrad_opt import optim
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    loss.backward(); optim.clip_grad_norm_(model.parameters(), 1.0); opt.step(); opt.zero_grad()

Each optimizer's file holds its update rule as one array-level function, `update`,
whose docstring is the formula; the Optimizer classes only manage groups and state.
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .lbfgs import LBFGS
from .lion import Lion
from .lookahead import Lookahead
from .muon import Muon
from .nadam import NAdam
from .radam import RAdam
from .rprop import Rprop
from .sam import SAM
from .schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop",
    "ASGD", "Adafactor", "Muon", "LBFGS", "Lion", "ScheduleFreeAdamW", "ScheduleFreeSGD", "SAM", "Lookahead",
    "clip_grad_norm_", "clip_grad_value_", "lr_scheduler",
]
