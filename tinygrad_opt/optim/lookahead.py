"""Lookahead (Zhang et al., 2019): k fast steps of any optimizer, then pull towards slow weights."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from ..kernels.reference import lerp_
from .optimizer import Optimizer, _to_host, _to_param, check_option


class Lookahead(Optimizer):
    """Wrap `base_optimizer`: every k of its steps, in each param group,

        fast = slow + alpha * (fast - slow);   slow = fast

    for the parameters that have a gradient. The slow weights start as the parameters at
    construction. `param_groups` are the base optimizer's (a scheduler on the Lookahead
    changes the base optimizer's lr); the step counter lives in each group as "counter",
    as in pytorch-optimizer's Lookahead.
    """

    def __init__(self, base_optimizer: Optimizer, k: int = 5, alpha: float = 0.5):
        if not isinstance(base_optimizer, Optimizer):
            raise TypeError(f"Lookahead: base_optimizer must be an optimizer instance such as "
                            f"optim.Adam(model.parameters()), got {type(base_optimizer).__name__}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"Lookahead: invalid k={k!r}; k (fast steps per slow update) must be an int >= 1")
        check_option("Lookahead", {"alpha": alpha}, "alpha", "", high=1.0, high_closed=True)
        self.base_optimizer = base_optimizer
        self.k, self.alpha = k, alpha
        self.defaults = dict(base_optimizer.defaults, lookahead_k=k, lookahead_alpha=alpha)
        self.slow: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for group in self.param_groups:
            self._init_group(group)

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.base_optimizer.param_groups

    @property
    def state(self):  # type: ignore[override]
        return self.base_optimizer.state

    def _init_group(self, group: dict[str, Any]) -> None:
        group.setdefault("counter", 0)
        for p in group["params"]:
            self.slow[p].setdefault("slow_params", p.data.copy())

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self.base_optimizer.add_param_group(param_group)
        self._init_group(self.param_groups[-1])

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none)

    @property
    def requires_closure(self) -> bool:  # type: ignore[override]
        return self.base_optimizer.requires_closure

    def train(self) -> None:
        """The base optimizer's train() where it has one (schedule-free); nothing otherwise."""
        if hasattr(self.base_optimizer, "train"):
            self.base_optimizer.train()

    def eval(self) -> None:
        """The base optimizer's eval() where it has one (schedule-free); nothing otherwise."""
        if hasattr(self.base_optimizer, "eval"):
            self.base_optimizer.eval()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        self._opt_called = True
        loss = self.base_optimizer.step(closure)
        for group in self.param_groups:
            group["counter"] += 1
            if group["counter"] >= self.k:
                group["counter"] = 0
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    slow = self.slow[p]["slow_params"]
                    lerp_(p.data, slow, 1.0 - self.alpha)
                    slow[...] = p.data
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state_dict (torch's layout) plus "lookahead": k, alpha and the slow weights."""
        params = [p for group in self.param_groups for p in group["params"]]
        saved = self.base_optimizer.state_dict()
        saved["lookahead"] = {"k": self.k, "alpha": self.alpha,
                              "slow_params": {i: _to_host(self.slow[p]["slow_params"]) for i, p in enumerate(params)}}
        return saved

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or "lookahead" not in state_dict:
            raise ValueError("Lookahead.load_state_dict expects a dict with a 'lookahead' entry besides the base "
                             "optimizer's 'state' and 'param_groups', as returned by Lookahead.state_dict()")
        saved = state_dict["lookahead"]
        params = [p for group in self.param_groups for p in group["params"]]
        if len(saved["slow_params"]) != len(params):
            raise ValueError(f"Lookahead.load_state_dict: the saved state has slow weights for "
                             f"{len(saved['slow_params'])} parameters but this optimizer has {len(params)}")
        self.base_optimizer.load_state_dict({k: v for k, v in state_dict.items() if k != "lookahead"})
        self.k, self.alpha = saved["k"], saved["alpha"]
        for i, p in enumerate(params):
            self.slow[p]["slow_params"] = _to_param(saved["slow_params"][i], p, "slow_params", i, "Lookahead",
                                                    tuple(p.shape))

    def __repr__(self) -> str:
        return f"Lookahead(k={self.k}, alpha={self.alpha}, base_optimizer={self.base_optimizer!r})"
