"""Several optimizers over disjoint parameters, stepped together and seen as one by the Trainer.

What `--optimizer muon` needs: Muon takes only 2-D weight matrices, so the biases (and any
other parameter) go to AdamW, and the Trainer, the schedules and the checkpoints still see
one optimizer. The param groups are the optimizers' groups in order (a schedule sets the lr of
each), and the state_dict keeps each optimizer's own state_dict.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..optim import Optimizer


class CombinedOptimizer(Optimizer):
    """`optimizers` stepped together; `param_groups` is their groups in order."""

    def __init__(self, optimizers: Sequence[Optimizer]):
        self.optimizers = [opt for opt in optimizers if opt is not None]
        if not self.optimizers:
            raise ValueError("CombinedOptimizer needs at least one optimizer")
        self.defaults: dict[str, Any] = {}  # no shared momentum or betas for a schedule to cycle

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [group for opt in self.optimizers for group in opt.param_groups]

    @property
    def state(self) -> dict:  # type: ignore[override]
        return {p: values for opt in self.optimizers for p, values in opt.state.items()}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        self._opt_called = True
        loss = closure() if closure is not None else None
        for opt in self.optimizers:
            opt.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """{"state": {}, "param_groups": [], "optimizers": [each optimizer's state_dict]}."""
        return {"state": {}, "param_groups": [], "optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("optimizers") if isinstance(state_dict, dict) else None
        if not isinstance(saved, list) or len(saved) != len(self.optimizers):
            names = " + ".join(type(opt).__name__ for opt in self.optimizers)
            raise ValueError(f"CombinedOptimizer.load_state_dict: expected the state of {len(self.optimizers)} "
                             f"optimizers ({names}), as saved by CombinedOptimizer.state_dict()")
        for opt, values in zip(self.optimizers, saved):
            opt.load_state_dict(values)

    def __repr__(self) -> str:
        return "CombinedOptimizer(" + ", ".join(repr(opt) for opt in self.optimizers) + ")"
