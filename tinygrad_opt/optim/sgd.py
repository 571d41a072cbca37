"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch.optim.SGD)."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .optimizer import Optimizer, ParamsT, check_option, check_torch_flags


def update(param, grad, momentum_buffer, *, lr: float, momentum: float, dampening: float,
           weight_decay: float, nesterov: bool, maximize: bool, first_step: bool) -> None:
    """One SGD step on arrays, in place on `param` and `momentum_buffer`:

        g = -grad if maximize else grad
        g = g + weight_decay * param               (L2 penalty folded into the gradient)
        b = g                                      on the buffer's first step,
        b = momentum * b + (1 - dampening) * g     afterwards
        g = g + momentum * b  (Nesterov)   or   g = b
        param = param - lr * g

    `momentum_buffer` is None when momentum is 0. The caller's `grad` is never modified.

    Runs the fused kernel "sgd_update": one pass over the arrays (Numba on the CPU, CuPy on
    the GPU); its plain array-expression twin is tinygrad_opt.kernels.reference.sgd_update.
    """
    kernel("sgd_update", param)(
        param, grad, momentum_buffer, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
        nesterov=nesterov, maximize=maximize, first_step=first_step)


def update_group(params: list, grads: list, momentum_buffers: list, *, lr: float, momentum: float, dampening: float,
                 weight_decay: float, nesterov: bool, maximize: bool, first_step: bool) -> None:
    """`update` on each parameter of a group (lists of arrays, all at their first momentum step or none), in one
    kernel call: "sgd_update_group" shares the elements between two threads on the CPU, and calls "sgd_update"
    on each parameter elsewhere. The same numbers as `update` on each in turn."""
    kernel("sgd_update_group", params[0])(
        params, grads, momentum_buffers, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
        nesterov=nesterov, maximize=maximize, first_step=first_step)


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's arguments, defaults and formula (see `update`)."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        flags = check_torch_flags("SGD", foreach=foreach, differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            check_option("SGD", options, name, where)
        check_option("SGD", options, "dampening", where, low=float("-inf"))
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum="
                f"{options['momentum']!r} and dampening={options['dampening']!r}{where}"
            )

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        return {}  # the momentum buffer is made at the first step that uses momentum

    def _update_group(self, ready: list, group: dict[str, Any]) -> None:
        buffers, first_step = [None] * len(ready), False
        if group["momentum"] != 0:
            buffers = [state.get("momentum_buffer") for _, _, state in ready]
            first_step = buffers[0] is None
            if any((b is None) != first_step for b in buffers):  # some have a buffer, some not: one by one
                super()._update_group(ready, group)
                return
            if first_step:
                buffers = [array_module(p.data).empty_like(p.data) for p, _, _ in ready]
                for (_, _, state), buffer in zip(ready, buffers):
                    state["momentum_buffer"] = buffer
        update_group([p.data for p, _, _ in ready], [grad for _, grad, _ in ready], buffers, lr=group["lr"],
                     momentum=group["momentum"], dampening=group["dampening"], weight_decay=group["weight_decay"],
                     nesterov=group["nesterov"], maximize=group["maximize"], first_step=first_step)

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        buffer, first_step = None, False
        if group["momentum"] != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = array_module(p.data).empty_like(p.data)
                state["momentum_buffer"] = buffer
                first_step = True
        update(p.data, grad, buffer, lr=group["lr"], momentum=group["momentum"],
               dampening=group["dampening"], weight_decay=group["weight_decay"],
               nesterov=group["nesterov"], maximize=group["maximize"], first_step=first_step)
