"""Adagrad with learning-rate decay (torch.optim.Adagrad)."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_option, check_torch_flags


def update(param, grad, state_sum, *, step: int, lr: float, lr_decay: float, weight_decay: float,
           eps: float, maximize: bool) -> None:
    """One Adagrad step on arrays, in place on `param` and `state_sum` (`step` counts from 1):

        g = -grad if maximize else grad
        g = g + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        sum = sum + g * g                          (every squared gradient so far)
        param = param - clr * g / (sqrt(sum) + eps)

    Runs the fused kernel "adagrad_update": one pass over the arrays (Numba on the CPU, CuPy on
    the GPU); its plain array-expression twin is tinygrad_opt.kernels.reference.adagrad_update.
    """
    kernel("adagrad_update", param)(
        param, grad, state_sum, step=step, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
        maximize=maximize)


class Adagrad(Optimizer):
    """Adagrad, torch.optim.Adagrad's arguments, defaults and formula (see `update`).

    The accumulator starts at the group's `initial_accumulator_value`, created at the
    parameter's first step.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        flags = check_torch_flags("Adagrad", foreach=foreach, differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_option("Adagrad", options, name, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        return {"step": 0, "sum": xp.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        update(p.data, grad, state["sum"], step=state["step"], lr=group["lr"], lr_decay=group["lr_decay"],
               weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])
