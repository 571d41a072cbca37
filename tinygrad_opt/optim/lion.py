"""Lion: sign-of-momentum steps found by program search (Chen et al., 2023)."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_betas, check_option


def update(param, grad, exp_avg, *, lr: float, beta1: float, beta2: float, weight_decay: float,
           maximize: bool) -> None:
    """One Lion step on arrays, in place on `param` and `exp_avg` (as lion-pytorch, its authors' code):

        g = -grad if maximize else grad
        param = param * (1 - lr * weight_decay)            (decoupled decay)
        param = param - lr * sign(beta1 * m + (1 - beta1) * g)
        m = beta2 * m + (1 - beta2) * g

    Every coordinate moves by exactly lr, so Lion wants a 3-10x smaller lr than AdamW and a
    correspondingly larger weight decay. Runs the kernel "lion_update" (reference twin:
    tinygrad_opt.kernels.reference.lion_update).
    """
    kernel("lion_update", param)(param, grad, exp_avg, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay,
                                 maximize=maximize)


class Lion(Optimizer):
    """Lion, with lion-pytorch's arguments and defaults (lr=1e-4, betas=(0.9, 0.99)) and torch's `maximize`."""

    def __init__(self, params: ParamsT, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any], where: str) -> None:
        check_option(self._name, options, "lr", where, low_open=True)
        check_option(self._name, options, "weight_decay", where)
        check_betas(self._name, options, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        return {"exp_avg": array_module(p.data).zeros_like(p.data)}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        update(p.data, grad, state["exp_avg"], lr=group["lr"], beta1=beta1, beta2=beta2,
               weight_decay=group["weight_decay"], maximize=group["maximize"])
