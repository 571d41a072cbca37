"""RAdam: Adam whose adaptive step is switched on and rectified by the variance of its estimate."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_adam_family, check_torch_flags


def update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float, eps: float,
           weight_decay: float, decoupled_weight_decay: bool, maximize: bool) -> None:
    """One RAdam step on arrays (Liu et al., 2020), in place (`step` counts from 1):

        g = -grad if maximize else grad
        param = param * (1 - lr * weight_decay)   (decoupled decay)   or   g = g + weight_decay * param
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2**step / (1 - beta2**step)
        if rho_t > 5:
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            param = param - m / (1 - beta1**step) * lr * sqrt(1 - beta2**step) / (sqrt(v) + eps) * r
        else:
            param = param - m / (1 - beta1**step) * lr          (plain momentum while v is unreliable)

    Runs the kernel "radam_update" (reference twin: tinygrad_opt.kernels.reference.radam_update).
    """
    kernel("radam_update", param)(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, beta1=beta1, beta2=beta2,
                                  eps=eps, weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                                  maximize=maximize)


class RAdam(Optimizer):
    """RAdam, torch.optim.RAdam's arguments, defaults and formula (see `update`)."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        flags = check_torch_flags("RAdam", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        check_adam_family(self._name, options, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        return {"step": 0, "exp_avg": xp.zeros_like(p.data), "exp_avg_sq": xp.zeros_like(p.data)}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        beta1, beta2 = group["betas"]
        update(p.data, grad, state["exp_avg"], state["exp_avg_sq"], step=state["step"], lr=group["lr"],
               beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
               decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])
