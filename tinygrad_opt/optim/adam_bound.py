"""Adam's step bound to what a replayed training step keeps fixed (tg.compile).

A replay calls optimizer.step() at every step on the same parameter groups, parameters, state arrays and group
plans (kernels/cpu.AdamGroupPlan). Optimizer.step and Adam._update_group work all of that out anew at every
call: which parameters have gradients, each one's state, the plan that fits the group's arrays. A BoundAdamStep
notes it once, after a step, and at each later call only checks by identity that it still holds, then calls
each group's plan; the options (lr, betas, eps, weight_decay, maximize, decoupled_weight_decay) it reads from
the groups at every call, where a scheduler writes them. The numbers are Optimizer.step's: the same plan is
called on the same arrays with the same constants.

Where it does not find what it noted, Optimizer.step itself runs, and the binding is made again from what is
there after that step: a step hook (the optimizer's own or a global one), param_groups replaced or edited (a
group added or removed, a parameter list changed), the state replaced (load_state_dict) or a parameter's state
dict or moment array replaced, p.data replaced, a .grad that is None where it was set or the reverse, a gradient
of another shape, dtype or layout than the plan takes, a group's parameters at different step counts, amsgrad
switched on or off, or another kernel than the one bound (the reference kernels; a loop still compiling in the
background, which has no plan). Such a call runs no check twice: the generic step decides as it always does.
"""
from __future__ import annotations

from operator import is_
from typing import Any

import numpy as np

from ..kernels import get as kernel
from .optimizer import Optimizer
from .step_hooks import has_step_hooks

_generic_step = Optimizer.__dict__["step"]  # with its hooks: what runs wherever the binding does not hold
_ndarray = np.ndarray


class _BoundGroup:
    """One parameter group as bound: the dict, its parameter list, and for the parameters it updates (those with
    a gradient) their tensors, state dicts, arrays and the group's plan."""

    def __init__(self, group: dict, params: tuple, ready: list, states: list, exp_avgs: list, exp_avg_sqs: list,
                 max_exp_avg_sqs: list, plan: Any, group_kernel: Any):
        self.group, self.param_list, self.params = group, group["params"], params
        self.idle = tuple(p for p in params if p.grad is None)
        self.ready, self.states = tuple(ready), tuple(states)
        self.members = tuple(zip(ready, states, [p.data for p in ready], exp_avgs, exp_avg_sqs, max_exp_avg_sqs))
        self.first = ready[0].data if ready else None
        self.amsgrad = group["amsgrad"]
        self.dtype = ready[0].data.dtype if ready else None
        self.plan, self.kernel = plan, group_kernel

    def gradients(self, state: dict) -> tuple | None:
        """(the gradient arrays, the step number to take), or None where the group is not as bound."""
        group, params = self.group, self.params
        plist = group["params"]
        if plist is not self.param_list or len(plist) != len(params) or not all(map(is_, plist, params)):
            return None
        amsgrad = self.amsgrad
        if group["amsgrad"] is not amsgrad:
            return None
        for p in self.idle:
            if p.grad is not None:
                return None
        if not self.ready:
            return (), 0
        dtype, grads, step = self.dtype, [], self.states[0]["step"]
        for p, st, array, m, v, vmax in self.members:
            g = p.grad
            if g is None or p.data is not array or state.get(p) is not st or st["step"] != step:
                return None
            if st["exp_avg"] is not m or st["exp_avg_sq"] is not v \
                    or (amsgrad and st.get("max_exp_avg_sq") is not vmax):
                return None
            g = g.data
            if type(g) is not _ndarray or g.dtype != dtype or not g.flags.c_contiguous or g.shape != array.shape:
                return None
            grads.append(g)
        if kernel("adam_update_group", self.first) is not self.kernel:
            return None
        return grads, step + 1

    def update(self, grads: list, step: int) -> None:
        """The group's Adam step, as Adam._update_group takes it with this plan."""
        if not self.ready:
            return
        for st in self.states:
            st["step"] = step
        group = self.group
        beta1, beta2 = group["betas"]
        self.plan.update(grads, step, group["lr"], beta1, beta2, group["eps"], group["weight_decay"], self.amsgrad,
                         group["maximize"], group["decoupled_weight_decay"])  # gradients() made the plan's checks
        for p in self.ready:
            p._bump_version()  # as Optimizer.step counts the in-place change


class BoundAdamStep:
    """opt.step() for a replayed step: call it with no arguments (see the module docstring)."""

    def __init__(self, opt: Any):
        self.opt = opt
        self.groups: tuple | None = None  # the _BoundGroup of each parameter group; None: not bound
        self.param_groups: list | None = None
        self.group_dicts: tuple = ()
        self.state: Any = None

    def __call__(self) -> None:
        opt, bound = self.opt, self.groups
        if bound is None or has_step_hooks(opt) or opt.param_groups is not self.param_groups \
                or opt.state is not self.state or len(opt.param_groups) != len(bound) \
                or not all(map(is_, opt.param_groups, self.group_dicts)):
            return self._step_and_bind()
        state, work = self.state, []
        for b in bound:  # every group checked before any is updated
            found = b.gradients(state)
            if found is None:
                return self._step_and_bind()
            work.append(found)
        opt._opt_called = True
        for b, (grads, step) in zip(bound, work):
            b.update(grads, step)
        return None

    def _step_and_bind(self) -> None:
        _generic_step(self.opt)
        self.groups = self._bind()
        return None

    def _bind(self) -> tuple | None:
        """The groups as they are after a step, or None where the bound step could not take them."""
        opt = self.opt
        if has_step_hooks(opt):
            return None
        bound = []
        for group in opt.param_groups:
            params = tuple(group["params"])
            ready = [p for p in params if p.grad is not None]
            states = [opt.state.get(p) for p in ready]
            if any(not st or "exp_avg" not in st for st in states):
                return None
            exp_avgs, exp_avg_sqs = [st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states]
            max_exp_avg_sqs = [st.get("max_exp_avg_sq") for st in states] if group["amsgrad"] else [None] * len(ready)
            plan = group_kernel = None
            if ready:
                arrays = [p.data for p in ready]
                if any(type(a) is not _ndarray for a in arrays) or (group["amsgrad"] and any(a is None for a in max_exp_avg_sqs)):
                    return None
                group_kernel = kernel("adam_update_group", arrays[0])
                plan = opt._group_plan(group, arrays, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
                if plan is None or not plan.fits:
                    return None
            bound.append(_BoundGroup(group, params, ready, states, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, plan,
                                     group_kernel))
        self.param_groups, self.group_dicts, self.state = opt.param_groups, tuple(opt.param_groups), opt.state
        return tuple(bound)


__all__ = ["BoundAdamStep"]
