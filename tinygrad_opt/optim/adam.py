"""Adam (and AMSGrad), with L2 or decoupled weight decay (torch.optim.Adam)."""
from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..kernels import get as kernel
from .adam_bound import BoundAdamStep
from .optimizer import Optimizer, ParamsT, check_adam_family, check_torch_flags


def update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step: int, lr: float, beta1: float,
           beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
           decoupled_weight_decay: bool = False) -> None:
    """One Adam step on arrays, in place on `param` and the moment arrays (`step` counts from 1):

        g = -grad if maximize else grad
        param = param * (1 - lr * weight_decay)    (decoupled decay, AdamW)  or
        g = g + weight_decay * param               (L2 penalty, Adam)
        m = beta1 * m + (1 - beta1) * g            (written m += (1 - beta1) * (g - m), as torch's lerp)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                      (AMSGrad; v_max replaces v below)
        param = param - lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    `max_exp_avg_sq` is None unless amsgrad. The caller's `grad` is never modified.

    Runs the fused kernel "adam_update": one pass over the arrays (Numba on the CPU, CuPy on
    the GPU); its plain array-expression twin is tinygrad_opt.kernels.reference.adam_update.
    """
    kernel("adam_update", param)(
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)


def update_group(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, max_exp_avg_sqs: list, *, step: int,
                 lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, amsgrad: bool,
                 maximize: bool, decoupled_weight_decay: bool = False) -> None:
    """`update` on each parameter of a group (lists of arrays, all at the same `step`), in one kernel call:
    "adam_update_group" shares the elements of all of them between two threads on the CPU, and calls
    "adam_update" on each parameter elsewhere. The same numbers as `update` on each in turn."""
    kernel("adam_update_group", params[0])(
        params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)


class Adam(Optimizer):
    """Adam, torch.optim.Adam's arguments, defaults and formula (see `update`)."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None, decoupled_weight_decay: bool = False):
        flags = check_torch_flags(type(self).__name__, foreach=foreach, capturable=capturable,
                          differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, {**defaults, **flags})

    def _validate(self, options: dict[str, Any], where: str) -> None:
        check_adam_family(self._name, options, where)

    def _init_state(self, p, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(p.data)
        state = {"step": 0, "exp_avg": xp.zeros_like(p.data), "exp_avg_sq": xp.zeros_like(p.data)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        return state

    def _update_group(self, ready: list, group: dict[str, Any]) -> None:
        step = ready[0][2]["step"] + 1
        amsgrad = group["amsgrad"]
        params, grads, exp_avgs, exp_avg_sqs = [], [], [], []
        for p, grad, state in ready:  # one loop over the group: this runs at every step
            if state["step"] + 1 != step:  # parameters that joined later: one by one
                super()._update_group(ready, group)
                return
            params.append(p.data)
            grads.append(grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
        for p, _, state in ready:  # only now that the whole group takes the group update: state changes
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = array_module(p.data).zeros_like(p.data)
            state["step"] = step
        max_exp_avg_sqs = [state["max_exp_avg_sq"] for _, _, state in ready] if amsgrad else [None] * len(ready)
        beta1, beta2 = group["betas"]
        plan = self._group_plan(group, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
        if plan is not None and plan(grads, step, group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                                     amsgrad, group["maximize"], group["decoupled_weight_decay"]):
            return
        update_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step=step, lr=group["lr"], beta1=beta1,
                     beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"], amsgrad=amsgrad,
                     maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"])

    def _group_plan(self, group: dict[str, Any], params: list, exp_avgs: list, exp_avg_sqs: list,
                    max_exp_avg_sqs: list):
        """The group kernel's plan for these arrays (cpu.AdamGroupPlan: the checks and flat views of the parameters
        and moments made once, not at every step), or None where the kernel that runs has none (CuPy arrays, the
        reference kernels, the first steps while the loop compiles). Made again when the parameters or moment
        arrays are other objects than last time (p.data or the state replaced, load_state_dict)."""
        prepare = getattr(kernel("adam_update_group", params[0]), "prepare", None)
        if prepare is None:
            return None
        plans = self.__dict__.setdefault("_plans", {})  # dropped by pickling and copying (Optimizer.__getstate__)
        plan = plans.get(id(group))
        if plan is None or not plan.matches(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs):
            live = {id(g) for g in self.param_groups}
            for key in [key for key in plans if key not in live]:  # groups load_state_dict replaced: their arrays
                del plans[key]
            plan = plans[id(group)] = prepare(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
        return plan

    def _replay_step(self) -> BoundAdamStep | None:
        """opt.step() bound for a replayed step (adam_bound.py), unless a subclass changes how a group updates."""
        cls = type(self)
        if cls._update_group is not Adam._update_group or cls._group_plan is not Adam._group_plan \
                or cls._update is not Adam._update or cls._init_state is not Adam._init_state:
            return None
        return BoundAdamStep(self)

    def _update(self, p, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        if group["amsgrad"] and "max_exp_avg_sq" not in state:  # amsgrad switched on after the start
            state["max_exp_avg_sq"] = array_module(p.data).zeros_like(p.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        update(p.data, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
               step=state["step"], lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
               weight_decay=group["weight_decay"], amsgrad=group["amsgrad"], maximize=group["maximize"],
               decoupled_weight_decay=group["decoupled_weight_decay"])
