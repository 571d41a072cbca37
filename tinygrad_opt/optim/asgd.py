"""ASGD: SGD with a decaying step and a running (Polyak-Ruppert) average of the iterates."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, ParamsT, check_option, check_torch_flags


def update(param, grad, ax, *, eta: float, mu: float, lambd: float, weight_decay: float, maximize: bool) -> None:
    """One ASGD step on arrays (Polyak & Juditsky, 1992), in place on `param` and the average `ax`:

        g = -grad if maximize else grad
        g = g + weight_decay * param          (L2 penalty)
        param = param * (1 - lambd * eta)     (decay)
        param = param - eta * g
        ax = ax + (param - ax) * mu           (ax = param while mu == 1)

    The caller then moves to the next step's eta = lr / (1 + lambd * lr * step)**alpha and
    mu = 1 / max(1, step - t0): averaging starts after t0 steps.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    param *= 1 - lambd * eta
    param += -eta * g
    if mu != 1:
        ax += (param - ax) * mu
    else:
        ax[...] = param


class ASGD(Optimizer):
    """Averaged SGD, torch.optim.ASGD's arguments, defaults and formula (see `update`).

    The averaged weights are `optimizer.state[p]["ax"]`. eta and mu are kept as Python
    floats (double precision); see README's differences.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        flags = check_torch_flags("ASGD", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        for name in ("lr", "weight_decay"):
            check_option(self._name, options, name, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "eta": float(group["lr"]), "mu": 1.0, "ax": array_module(p.data).zeros_like(p.data)}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        update(p.data, grad, state["ax"], eta=float(state["eta"]), mu=float(state["mu"]), lambd=group["lambd"],
               weight_decay=group["weight_decay"], maximize=group["maximize"])
        step, lr = state["step"], group["lr"]
        state["eta"] = lr / ((1 + group["lambd"] * lr * step) ** group["alpha"])
        state["mu"] = 1 / max(1, step - group["t0"])
