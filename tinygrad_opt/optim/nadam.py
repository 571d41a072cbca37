"""NAdam: Adam with Nesterov momentum and a warming momentum schedule (torch.optim.NAdam)."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_adam_family, check_torch_flags


def momentum_schedule(step: int, beta1: float, momentum_decay: float) -> float:
    """mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)) (Dozat, 2016)."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))


def update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float, eps: float,
           weight_decay: float, mu: float, mu_next: float, mu_product: float, decoupled_weight_decay: bool,
           maximize: bool) -> None:
    """One NAdam step on arrays, in place (`step` counts from 1; mu = mu_t, mu_next = mu_{t+1} from
    `momentum_schedule`, mu_product = mu_1 * ... * mu_t):

        g = -grad if maximize else grad
        param = param * (1 - lr * weight_decay)   (decoupled decay)   or   g = g + weight_decay * param
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2**step)) + eps
        param = param - lr * (1 - mu) / (1 - mu_product) * g / denom
                      - lr * mu_next / (1 - mu_product * mu_next) * m / denom

    Runs the kernel "nadam_update" (reference twin: tinygrad_opt.kernels.reference.nadam_update).
    """
    kernel("nadam_update", param)(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, beta1=beta1, beta2=beta2,
                                  eps=eps, weight_decay=weight_decay, mu=mu, mu_next=mu_next, mu_product=mu_product,
                                  decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)


class NAdam(Optimizer):
    """NAdam, torch.optim.NAdam's arguments, defaults and formula (see `update`).

    `mu_product` is kept as a Python float (double precision); see README's differences.
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        flags = check_torch_flags("NAdam", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        check_adam_family(self._name, options, where, extra=("momentum_decay",))

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        return {"step": 0, "mu_product": 1.0, "exp_avg": xp.zeros_like(p.data), "exp_avg_sq": xp.zeros_like(p.data)}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        step, (beta1, beta2) = state["step"], group["betas"]
        mu = momentum_schedule(step, beta1, group["momentum_decay"])
        mu_next = momentum_schedule(step + 1, beta1, group["momentum_decay"])
        state["mu_product"] = float(state["mu_product"]) * mu
        update(p.data, grad, state["exp_avg"], state["exp_avg_sq"], step=step, lr=group["lr"], beta1=beta1,
               beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"], mu=mu, mu_next=mu_next,
               mu_product=state["mu_product"], decoupled_weight_decay=group["decoupled_weight_decay"],
               maximize=group["maximize"])
