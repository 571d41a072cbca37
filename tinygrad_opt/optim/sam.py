"""SAM: sharpness-aware minimisation (Foret et al., 2021) around any base optimizer."""
from __future__ import annotations

from typing import Any, Callable

from ..autograd import enable_grad
from ..backend import array_module
from .optimizer import Optimizer, ParamsT, check_option


class SAM(Optimizer):
    """Sharpness-aware minimisation: step with the gradient taken at the worst nearby point.

        e = rho * g / (||g|| + 1e-12)           (adaptive: e = rho * p**2 * g / (||p * g|| + 1e-12))
        p = p + e;  g' = gradient at p;  p = p - e;  base_optimizer.step() with g'

    ||.|| is the 2-norm over all parameters together. `base_optimizer` is an optimizer class,
    built on SAM's param groups with `**kwargs`: SAM(model.parameters(), optim.SGD, lr=0.1,
    momentum=0.9). Each step needs two gradients: compute the first (loss.backward()) before
    `step(closure)`; the closure clears the gradients, recomputes the loss and calls backward,
    as with the authors' code and pytorch-optimizer's SAM. If no parameter has a gradient when
    `step` is called, the closure computes the first one too. Returns the closure's loss.
    """

    requires_closure = True  # the Trainer passes a closure that re-runs the batch

    def __init__(self, params: ParamsT, base_optimizer: type[Optimizer], rho: float = 0.05, adaptive: bool = False,
                 **kwargs: Any):
        if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, Optimizer)):
            raise TypeError(f"SAM: base_optimizer must be an optimizer class such as optim.SGD (SAM builds it on its "
                            f"own param groups with the extra keyword arguments), got {base_optimizer!r}")
        super().__init__(params, dict(rho=rho, adaptive=adaptive, **kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state

    def _validate(self, options: dict[str, Any], where: str) -> None:
        check_option(self._name, options, "rho", where, low_open=True)

    def _grad_norm(self):
        xp = array_module(self.param_groups[0]["params"][0].data)
        total = 0.0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data * abs(p.data) if group["adaptive"] else p.grad.data
                total += float(xp.linalg.norm(g.ravel())) ** 2
        return total**0.5

    def first_step(self, zero_grad: bool = False) -> None:
        """Move every parameter with a gradient to its worst-case neighbour p + e (remembering p)."""
        norm = self._grad_norm() + 1e-12
        for group in self.param_groups:
            scale = group["rho"] / norm
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["old_p"] = p.data.copy()
                g = p.grad.data
                e = (p.data * p.data) * g * scale if group["adaptive"] else g * scale
                p.data += e
        if zero_grad:
            self.zero_grad()

    def second_step(self, zero_grad: bool = False) -> None:
        """Restore the parameters and let the base optimizer step with the gradient taken at p + e."""
        for group in self.param_groups:
            for p in group["params"]:
                if "old_p" in self.state[p]:
                    p.data[...] = self.state[p].pop("old_p")
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if closure is None:
            raise ValueError("SAM.step needs a closure that clears the gradients, recomputes the loss and calls "
                             "backward (SAM takes a second gradient at the perturbed weights)")
        self._opt_called = True
        with enable_grad():
            if all(p.grad is None for group in self.param_groups for p in group["params"]):
                closure()
            self.first_step(zero_grad=True)
            loss = closure()
        self.second_step()
        return loss

    def train(self) -> None:
        """The base optimizer's train() where it has one (schedule-free); nothing otherwise."""
        if hasattr(self.base_optimizer, "train"):
            self.base_optimizer.train()

    def eval(self) -> None:
        """The base optimizer's eval() where it has one (schedule-free); nothing otherwise."""
        if hasattr(self.base_optimizer, "eval"):
            self.base_optimizer.eval()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
