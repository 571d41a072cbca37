"""Adamax: Adam with the infinity norm in place of the second moment (torch.optim.Adamax)."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_adam_family, check_torch_flags


def update(param, grad, exp_avg, exp_inf, *, step: int, lr: float, beta1: float, beta2: float, eps: float,
           weight_decay: float, maximize: bool) -> None:
    """One Adamax step on arrays (Kingma & Ba, 2015, section 7), in place (`step` counts from 1):

        g = -grad if maximize else grad
        g = g + weight_decay * param                  (L2 penalty)
        m = beta1 * m + (1 - beta1) * g               (torch's lerp)
        u = max(beta2 * u, |g| + eps)                 (exp_inf, the decayed infinity norm)
        param = param - lr / (1 - beta1**step) * m / u

    Runs the kernel "adamax_update" (reference twin: tinygrad_opt.kernels.reference.adamax_update).
    """
    kernel("adamax_update", param)(param, grad, exp_avg, exp_inf, step=step, lr=lr, beta1=beta1, beta2=beta2,
                                   eps=eps, weight_decay=weight_decay, maximize=maximize)


class Adamax(Optimizer):
    """Adamax, torch.optim.Adamax's arguments, defaults and formula (see `update`)."""

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False):
        flags = check_torch_flags("Adamax", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        check_adam_family(self._name, options, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        return {"step": 0, "exp_avg": xp.zeros_like(p.data), "exp_inf": xp.zeros_like(p.data)}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        beta1, beta2 = group["betas"]
        update(p.data, grad, state["exp_avg"], state["exp_inf"], step=state["step"], lr=group["lr"], beta1=beta1,
               beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
