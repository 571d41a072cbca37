"""Adadelta: per-coordinate step sizes from running averages of squared gradients and updates."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_option, check_torch_flags


def update(param, grad, square_avg, acc_delta, *, lr: float, rho: float, eps: float, weight_decay: float,
           maximize: bool) -> None:
    """One Adadelta step on arrays (Zeiler, 2012), in place on `param` and both running averages:

        g = -grad if maximize else grad
        g = g + weight_decay * param                        (L2 penalty)
        v = rho * v + (1 - rho) * g * g                     (square_avg)
        delta = sqrt(u + eps) / sqrt(v + eps) * g           (u: acc_delta, the squared updates)
        u = rho * u + (1 - rho) * delta * delta
        param = param - lr * delta

    Runs the kernel "adadelta_update" (reference twin: tinygrad_opt.kernels.reference.adadelta_update).
    """
    kernel("adadelta_update", param)(param, grad, square_avg, acc_delta, lr=lr, rho=rho, eps=eps,
                                     weight_decay=weight_decay, maximize=maximize)


class Adadelta(Optimizer):
    """Adadelta, torch.optim.Adadelta's arguments, defaults and formula (see `update`)."""

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        flags = check_torch_flags("Adadelta", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        for name in ("lr", "eps", "weight_decay"):
            check_option(self._name, options, name, where)
        check_option(self._name, options, "rho", where, high=1.0, high_closed=True)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        return {"step": 0, "square_avg": xp.zeros_like(p.data), "acc_delta": xp.zeros_like(p.data)}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        update(p.data, grad, state["square_avg"], state["acc_delta"], lr=group["lr"], rho=group["rho"],
               eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
