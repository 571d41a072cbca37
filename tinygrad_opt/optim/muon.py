"""Muon: momentum SGD for 2-D weights whose step is the momentum orthogonalised by Newton-Schulz."""
from __future__ import annotations

import math
from typing import Any

from ..backend import array_module
from ..kernels.reference import lerp_
from .optimizer import Optimizer, ParamsT, check_option

ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def newton_schulz(matrix, coefficients: tuple[float, float, float], steps: int, eps: float):
    """An approximately orthogonal matrix with the singular vectors of `matrix` (Jordan et al., 2024):

        X = M / max(||M||_F, eps)               (transposed first when M has more rows than columns)
        repeat `steps` times:  A = X X^T;  X = a X + (b A + c A A) X

    The quintic's coefficients push every singular value towards [0.7, 1.2] rather than exactly 1.
    Computed in the matrix's own dtype (torch casts to bfloat16; see README's differences).
    """
    xp = array_module(matrix)
    a, b, c = coefficients
    tall = matrix.shape[0] > matrix.shape[1]
    x = matrix.T if tall else matrix
    x = x / max(float(xp.linalg.norm(x)), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """lr scaled for a rows x cols matrix: "original" sqrt(max(1, rows/cols)); "match_rms_adamw"
    0.2 sqrt(max(rows, cols)), which lets Muon reuse AdamW's lr and weight decay."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    return lr * 0.2 * math.sqrt(max(rows, cols))


def update(param, grad, momentum_buffer, *, lr: float, weight_decay: float, momentum: float, nesterov: bool,
           ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float,
           adjust_lr_fn: str | None) -> None:
    """One Muon step on a 2-D parameter, in place on `param` and `momentum_buffer`:

        B = momentum * B + (1 - momentum) * grad             (torch's lerp)
        U = grad + momentum * (B - grad)   (nesterov)   or   U = B
        O = newton_schulz(U)
        param = param * (1 - lr * weight_decay)              (decoupled decay, with the unadjusted lr)
        param = param - adjusted_lr(lr) * O
    """
    lerp_(momentum_buffer, grad, 1 - momentum)
    if nesterov:
        direction = grad.copy()
        lerp_(direction, momentum_buffer, momentum)
    else:
        direction = momentum_buffer
    ortho = newton_schulz(direction, ns_coefficients, ns_steps, eps)
    param *= 1 - lr * weight_decay
    param += -adjusted_lr(lr, adjust_lr_fn, param.shape) * ortho


class Muon(Optimizer):
    """Muon, torch.optim.Muon's arguments, defaults and formula (see `update`); 2-D parameters only."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: str | None = None):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=tuple(ns_coefficients), eps=eps, ns_steps=ns_steps,
                        adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any], where: str) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            check_option(self._name, options, name, where)
        if options["adjust_lr_fn"] not in ADJUST_LR_FNS:
            raise ValueError(f"{self._name}: invalid adjust_lr_fn={options['adjust_lr_fn']!r}{where}; choose "
                             "'original', 'match_rms_adamw' or None")
        steps = options["ns_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps < 100:
            raise ValueError(f"{self._name}: invalid ns_steps={steps!r}{where}; it must be an int in [0, 100)")
        if len(options["ns_coefficients"]) != 3:
            raise ValueError(f"{self._name}: ns_coefficients must be three numbers (a, b, c), got "
                             f"{options['ns_coefficients']!r}{where}")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        index = len(self.param_groups) - 1
        for i, p in enumerate(self.param_groups[-1]["params"]):
            if p.ndim != 2:
                self.param_groups.pop()
                raise ValueError(f"{self._name} only optimizes 2-D parameters, but parameter {i} of param group "
                                 f"{index} has shape {tuple(p.shape)}; give biases, norms and embeddings to "
                                 "another optimizer such as AdamW")

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum_buffer": array_module(p.data).zeros_like(p.data)}

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        update(p.data, grad, state["momentum_buffer"], lr=group["lr"], weight_decay=group["weight_decay"],
               momentum=group["momentum"], nesterov=group["nesterov"], ns_coefficients=group["ns_coefficients"],
               ns_steps=group["ns_steps"], eps=group["eps"], adjust_lr_fn=group["adjust_lr_fn"])
