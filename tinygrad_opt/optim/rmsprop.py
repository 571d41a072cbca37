"""RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop)."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_option, check_torch_flags


def update(param, grad, square_avg, grad_avg, momentum_buffer, *, lr: float, alpha: float, eps: float,
           weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """One RMSprop step on arrays, in place on `param` and the running averages:

        g = -grad if maximize else grad
        g = g + weight_decay * param
        s = alpha * s + (1 - alpha) * g * g                  (running mean of g**2)
        a = alpha * a + (1 - alpha) * g                      (centered: running mean of g,
        avg = sqrt(s - a * a) + eps                           so avg estimates the std)
        avg = sqrt(s) + eps                                  (not centered)
        b = momentum * b + g / avg;  param = param - lr * b  (momentum > 0)
        param = param - lr * g / avg                         (otherwise)

    `grad_avg` is None unless centered, `momentum_buffer` None unless momentum > 0.

    Runs the fused kernel "rmsprop_update": one pass over the arrays (Numba on the CPU, CuPy on
    the GPU); its plain array-expression twin is tinygrad_opt.kernels.reference.rmsprop_update.
    """
    kernel("rmsprop_update", param)(
        param, grad, square_avg, grad_avg, momentum_buffer, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
        momentum=momentum, centered=centered, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop, torch.optim.RMSprop's arguments, defaults and formula (see `update`)."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        flags = check_torch_flags("RMSprop", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        for name in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            check_option("RMSprop", options, name, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        state = {"step": 0, "square_avg": xp.zeros_like(p.data)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p.data)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p.data)
        return state

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(p.data)
        # Options a scheduler or the user switched on after the first step get fresh state.
        if group["momentum"] > 0 and state.get("momentum_buffer") is None:
            state["momentum_buffer"] = xp.zeros_like(p.data)
        if group["centered"] and state.get("grad_avg") is None:
            state["grad_avg"] = xp.zeros_like(p.data)
        state["step"] += 1
        update(p.data, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
               lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
               momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"])
