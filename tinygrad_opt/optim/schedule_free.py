"""Schedule-free AdamW and SGD (Defazio et al., 2024): no learning-rate schedule, an average instead.

Three sequences per parameter: z takes the base optimizer's steps, x is a running
(weighted) average of the z's, and the gradient is evaluated at y = lerp(z, x, beta1),
which is what the parameter holds during training. `eval()` swaps the parameter to x
(the weights to evaluate and keep), `train()` swaps it back to y; both are no-ops when
already in that mode, and `step()` refuses to run in eval mode, as the authors' package
(schedulefree) does. The Trainer calls them around every evaluation.

The state keeps z (and AdamW's second moment); x is never stored, it is recovered from
y and z: x = (y - (1 - beta1) z) / beta1, which is exactly what `eval()` computes.
"""
from __future__ import annotations

from typing import Any, Callable

from ..autograd import enable_grad
from ..backend import array_module
from ..kernels import get as kernel
from ..kernels.reference import lerp_
from .optimizer import Optimizer, ParamsT, check_betas, check_option


def adamw_update(param, grad, z, exp_avg_sq, *, lr: float, beta1: float, beta2: float, eps: float,
                 weight_decay: float, ckp1: float, bias_correction2: float) -> None:
    """One schedule-free AdamW step on arrays, in place on `param` (= y), `z` and `exp_avg_sq`:

        v = beta2 * v + (1 - beta2) * g * g
        u = g / (sqrt(v / (1 - beta2**t)) + eps) + weight_decay * y
        y = lerp(y, z, ckp1)                          (move x towards z by ckp1: y follows)
        y = y + lr * (beta1 * (1 - ckp1) - 1) * u
        z = z - lr * u

    ckp1 = c_{t+1} = w_t / sum(w_1..w_t) with w_t = t**r * max_lr**weight_lr_power, the
    weight of this step in the average. Runs the kernel "schedule_free_adamw_update"
    (reference twin: tinygrad_opt.kernels.reference.schedule_free_adamw_update).
    """
    kernel("schedule_free_adamw_update", param)(param, grad, z, exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2,
                                                eps=eps, weight_decay=weight_decay, ckp1=ckp1,
                                                bias_correction2=bias_correction2)


def sgd_update(param, grad, z, *, lr: float, momentum: float, weight_decay: float, ckp1: float) -> None:
    """One schedule-free SGD step on arrays, in place on `param` (= y) and `z`:

        u = g + weight_decay * y
        y = lerp(y, z, ckp1)
        y = y + lr * (momentum * (1 - ckp1) - 1) * u
        z = z - lr * u
    """
    u = grad + weight_decay * param if weight_decay != 0 else grad
    lerp_(param, z, ckp1)
    param += lr * (momentum * (1 - ckp1) - 1) * u
    z -= lr * u


class _ScheduleFree(Optimizer):
    """What both schedule-free optimizers share: the averaging weights, train()/eval() and the step loop."""

    _interpolation = "momentum"  # the group option playing beta1's role

    def _schedule_defaults(self, warmup_steps: int, r: float, weight_lr_power: float) -> dict[str, Any]:
        # the bookkeeping lives in each param group (so state_dict carries it), as in schedulefree
        return dict(warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power, k=0, train_mode=False,
                    weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0)

    def _validate_schedule(self, options: dict[str, Any], where: str) -> None:
        check_option(self._name, options, "lr", where)
        check_option(self._name, options, "weight_decay", where)
        steps = options["warmup_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"{self._name}: invalid warmup_steps={steps!r}{where}; it must be an int >= 0")

    def _beta1(self, group: dict[str, Any]) -> float:
        return group["betas"][0] if self._interpolation == "betas" else group["momentum"]

    def _swap(self, weight: Callable[[float], float], train_mode: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] == train_mode:
                continue
            for p in group["params"]:
                z = self.state[p].get("z") if p in self.state else None
                if z is not None:
                    lerp_(p.data, z, weight(self._beta1(group)))
            group["train_mode"] = train_mode

    def eval(self) -> None:
        """Put the averaged weights x into the parameters (for evaluation and for saving the model)."""
        self._swap(lambda beta1: 1 - 1 / beta1, train_mode=False)

    def train(self) -> None:
        """Put the training point y back into the parameters; call before the first step."""
        self._swap(lambda beta1: 1 - beta1, train_mode=True)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(f"{self._name}.step: the optimizer is in eval mode; call optimizer.train() before "
                               "training steps and optimizer.eval() before evaluating")
        self._opt_called = True
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            k = group["k"]
            lr = group["lr"] * ((k + 1) / group["warmup_steps"] if k < group["warmup_steps"] else 1.0)
            group["scheduled_lr"] = lr
            lr_max = group["lr_max"] = max(lr, group["lr_max"])
            weight = ((k + 1) ** group["r"]) * (lr_max ** group["weight_lr_power"])
            weight_sum = group["weight_sum"] = group["weight_sum"] + weight
            ckp1 = weight / weight_sum if weight_sum != 0 else 0.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "z" not in state:
                    state.update(self._init_state(p, group))
                self._schedule_free_update(p, p.grad.data, state, group, lr=lr, ckp1=ckp1, k=k)
            group["k"] = k + 1
        return loss

    def _schedule_free_update(self, p, grad, state, group, *, lr: float, ckp1: float, k: int) -> None:
        raise NotImplementedError


class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-free AdamW with the schedulefree package's arguments and defaults (see `adamw_update`)."""

    _interpolation = "betas"

    def __init__(self, params: ParamsT, lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, **self._schedule_defaults(warmup_steps, r, weight_lr_power))
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any], where: str) -> None:
        self._validate_schedule(options, where)
        check_option(self._name, options, "eps", where)
        check_betas(self._name, options, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        return {"z": p.data.copy(), "exp_avg_sq": array_module(p.data).zeros_like(p.data)}

    def _schedule_free_update(self, p, grad, state, group, *, lr: float, ckp1: float, k: int) -> None:
        beta1, beta2 = group["betas"]
        adamw_update(p.data, grad, state["z"], state["exp_avg_sq"], lr=lr, beta1=beta1, beta2=beta2,
                     eps=group["eps"], weight_decay=group["weight_decay"], ckp1=ckp1,
                     bias_correction2=1 - beta2 ** (k + 1))


class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-free SGD with the schedulefree package's arguments and defaults (see `sgd_update`)."""

    def __init__(self, params: ParamsT, lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0,
                 warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        **self._schedule_defaults(warmup_steps, r, weight_lr_power))
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any], where: str) -> None:
        self._validate_schedule(options, where)
        check_option(self._name, options, "momentum", where, low_open=True, high=1.0)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        return {"z": p.data.copy()}

    def _schedule_free_update(self, p, grad, state, group, *, lr: float, ckp1: float, k: int) -> None:
        sgd_update(p.data, grad, state["z"], lr=lr, momentum=group["momentum"], weight_decay=group["weight_decay"],
                   ckp1=ckp1)
