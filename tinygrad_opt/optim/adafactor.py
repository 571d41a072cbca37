"""Adafactor: Adam-like steps with the second moment of a matrix stored as row and column factors."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import array_module
from ..kernels.reference import lerp_
from .optimizer import Optimizer, ParamsT, check_option, check_torch_flags


def update(param, grad, row_var, col_var, variance, *, step: int, lr: float, beta2_decay: float,
           eps1: float | None, eps2: float, d: float, weight_decay: float, maximize: bool) -> None:
    """One Adafactor step on arrays (Shazeer & Stern, 2018, as torch.optim.Adafactor), in place:

        g = -grad if maximize else grad
        beta2_t' = step**beta2_decay                       (1 - beta2_t: the averaging weight)
        rho_t = min(lr, 1 / sqrt(step))
        alpha = max(eps2, rms(param)) * rho_t              (relative step size, before any decay)
        param = param * (1 - lr * weight_decay)
        for a matrix (last two dims R x C, any leading dims):
            r = lerp(r, mean(g * g, dim=-1), beta2_t')     (row_var, R x 1)
            c = lerp(c, mean(g * g, dim=-2), beta2_t')     (col_var, 1 x C)
            v = (r @ c) / max(mean(r, dim=-2), eps1)
        for a vector (or scalar): v = lerp(v, g * g, beta2_t')
        u = g / sqrt(max(v, eps1**2))
        param = param - alpha / max(1, rms(u) / d) * u

    eps1=None means the machine epsilon of the parameter's dtype. Means of g*g are taken as
    torch does, as squared norms over the dim divided by its length.
    """
    xp = array_module(param)
    g = -grad if maximize else grad
    if eps1 is None:
        eps1 = float(np.finfo(param.dtype).eps)
    weight = step**beta2_decay
    rho_t = min(lr, 1 / (step**0.5))
    alpha = max(eps2, float(xp.linalg.norm(param.ravel())) / (param.size**0.5)) * rho_t
    if weight_decay != 0:
        param *= 1 - lr * weight_decay
    if g.ndim > 1:
        row_mean = xp.sqrt((g * g).sum(axis=-1, keepdims=True)) ** 2 / g.shape[-1]
        lerp_(row_var, row_mean, weight)
        col_mean = xp.sqrt((g * g).sum(axis=-2, keepdims=True)) ** 2 / g.shape[-2]
        lerp_(col_var, col_mean, weight)
        var_estimate = row_var @ col_var
        var_estimate /= xp.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
    else:
        lerp_(variance, g * g, weight)
        var_estimate = variance.copy()
    u = 1 / xp.sqrt(xp.maximum(var_estimate, eps1 * eps1))
    u *= g
    denom = max(1.0, float(xp.linalg.norm(u.ravel())) / ((u.size**0.5) * d))
    param += -alpha / denom * u


class Adafactor(Optimizer):
    """Adafactor, torch.optim.Adafactor's arguments, defaults and formula (see `update`)."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, maximize: bool = False):
        flags = check_torch_flags("Adafactor", foreach=foreach)
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=tuple(eps) if isinstance(eps, list) else eps, d=d,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        for name in ("lr", "weight_decay"):
            check_option(self._name, options, name, where)
        check_option(self._name, options, "beta2_decay", where, low=-math.inf, high=0.0, high_closed=True)
        check_option(self._name, options, "d", where, low=1.0)
        eps = options["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise ValueError(f"{self._name}: eps must be a pair (eps1 or None, eps2), got {eps!r}{where}")
        if eps[0] is not None:
            check_option(self._name, {"eps[0]": eps[0]}, "eps[0]", where)
        check_option(self._name, {"eps[1]": eps[1]}, "eps[1]", where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        if p.data.ndim > 1:
            shape = p.data.shape
            return {"step": 0, "row_var": xp.zeros(shape[:-1] + (1,), p.data.dtype),
                    "col_var": xp.zeros(shape[:-2] + (1, shape[-1]), p.data.dtype)}
        return {"step": 0, "variance": xp.zeros_like(p.data)}

    def _state_shape(self, p, key: str) -> tuple[int, ...] | None:
        shape = tuple(p.shape)
        if key == "row_var":
            return shape[:-1] + (1,)
        if key == "col_var":
            return shape[:-2] + (1, shape[-1])
        return shape

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        eps1, eps2 = group["eps"]
        update(p.data, grad, state.get("row_var"), state.get("col_var"), state.get("variance"), step=state["step"],
               lr=group["lr"], beta2_decay=group["beta2_decay"], eps1=eps1, eps2=eps2, d=group["d"],
               weight_decay=group["weight_decay"], maximize=group["maximize"])
