"""Rprop: resilient backpropagation, per-coordinate step sizes driven by gradient signs only."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, ParamsT, check_option, check_torch_flags


def update(param, grad, prev, step_size, *, etaminus: float, etaplus: float, step_size_min: float,
           step_size_max: float, maximize: bool) -> None:
    """One Rprop step on arrays (Riedmiller & Braun, 1993, without weight backtracking), in place:

        g = -grad if maximize else grad
        s = sign(g * prev)
        step_size = clip(step_size * (etaplus if s > 0, etaminus if s < 0, 1 if s == 0),
                         step_size_min, step_size_max)
        g = 0 where s < 0                 (a sign change: skip this coordinate once)
        param = param - sign(g) * step_size
        prev = g
    """
    xp = array_module(param)
    g = -grad if maximize else grad
    sign = xp.sign(g * prev)
    factor = xp.where(sign > 0, etaplus, xp.where(sign < 0, etaminus, 1.0)).astype(param.dtype, copy=False)
    step_size *= factor
    xp.clip(step_size, step_size_min, step_size_max, out=step_size)
    g = xp.where(sign < 0, 0, g).astype(param.dtype, copy=False)
    param += -1 * xp.sign(g) * step_size
    prev[...] = g


class Rprop(Optimizer):
    """Rprop, torch.optim.Rprop's arguments, defaults and formula (see `update`).

    Each coordinate's step size starts at the group's lr at the parameter's first step.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        flags = check_torch_flags("Rprop", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, etas=tuple(etas) if isinstance(etas, list) else etas,
                        step_sizes=tuple(step_sizes) if isinstance(step_sizes, list) else step_sizes,
                        maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        check_option(self._name, options, "lr", where)
        for name in ("etas", "step_sizes"):
            if not isinstance(options[name], (tuple, list)) or len(options[name]) != 2:
                raise ValueError(f"{self._name}: {name} must be a pair, got {options[name]!r}{where}")
        etaminus, etaplus = options["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"{self._name}: invalid etas={options['etas']!r}{where}; they must satisfy "
                             "0 < etaminus < 1 < etaplus")

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        return {"step": 0, "prev": xp.zeros_like(p.data), "step_size": xp.full_like(p.data, group["lr"])}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        update(p.data, grad, state["prev"], state["step_size"], etaminus=etaminus, etaplus=etaplus,
               step_size_min=low, step_size_max=high, maximize=group["maximize"])
