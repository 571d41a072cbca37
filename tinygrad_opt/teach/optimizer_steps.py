"""Several optimizer steps watched: the optimizer's state after each, next to the same recurrences in NumPy.

    from tinygrad_opt.teach.optimizer_steps import StateByHand
    by_hand = StateByHand("adam", lr=0.01)
    expected = by_hand.step(w, g)      # the new w, with by_hand.state filled ("m", "v", "m_hat", "v_hat")

The engine keeps PyTorch's state names (momentum_buffer, square_avg, exp_avg, exp_avg_sq);
`ENGINE_STATE` maps the textbook names shown here to them. Hyper-parameters are the ones in
optimizer_by_hand.py (torch.optim's defaults).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..trace import format_table
from .optimizer_by_hand import ALPHA, BETAS, EPS, MOMENTUM, WEIGHT_DECAY_ADAMW

MAX_STEPS = 100  # optimizer steps shown; each prints a few rows per parameter

# textbook name -> key of the engine's optimizer.state[p]
ENGINE_STATE = {
    "sgd": {},
    "momentum": {"buf": "momentum_buffer"},
    "nesterov": {"buf": "momentum_buffer"},
    "rmsprop": {"v": "square_avg"},
    "adam": {"m": "exp_avg", "v": "exp_avg_sq"},
    "adamw": {"m": "exp_avg", "v": "exp_avg_sq"},
}

RECURRENCES = {
    "sgd": "w <- w - lr g  (no state)",
    "momentum": f"buf <- {MOMENTUM} buf + g  (buf = g at step 1),  w <- w - lr buf",
    "nesterov": f"buf <- {MOMENTUM} buf + g  (buf = g at step 1),  w <- w - lr (g + {MOMENTUM} buf)",
    "rmsprop": f"v <- {ALPHA} v + (1 - {ALPHA}) g^2,  w <- w - lr g / (sqrt(v) + {EPS:g})  (no bias correction)",
    "adam": (f"m <- {BETAS[0]} m + (1 - {BETAS[0]}) g,  v <- {BETAS[1]} v + (1 - {BETAS[1]}) g^2,  "
             f"m_hat = m / (1 - {BETAS[0]}^t),  v_hat = v / (1 - {BETAS[1]}^t),  "
             f"w <- w - lr m_hat / (sqrt(v_hat) + {EPS:g})"),
    "adamw": (f"w <- w (1 - lr {WEIGHT_DECAY_ADAMW}) (decoupled decay), then Adam: m, v, m_hat, v_hat as in Adam, "
              f"w <- w - lr m_hat / (sqrt(v_hat) + {EPS:g})"),
}


class StateByHand:
    """One parameter's optimizer state, advanced by the textbook recurrences in float64."""

    def __init__(self, optimizer: str, lr: float) -> None:
        if optimizer not in RECURRENCES:
            raise ValueError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(RECURRENCES)}")
        self.optimizer, self.lr, self.t = optimizer, lr, 0
        self.state: dict[str, np.ndarray] = {}

    def step(self, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The parameter after one more step from `w` with gradient `g`; updates self.state."""
        self.t += 1
        opt, lr, s = self.optimizer, self.lr, self.state
        if opt == "sgd":
            return w - lr * g
        if opt in ("momentum", "nesterov"):
            s["buf"] = g.copy() if self.t == 1 else MOMENTUM * s["buf"] + g
            return w - lr * (g + MOMENTUM * s["buf"] if opt == "nesterov" else s["buf"])
        if opt == "rmsprop":
            s["v"] = ALPHA * s.get("v", 0.0) + (1 - ALPHA) * g * g
            return w - lr * g / (np.sqrt(s["v"]) + EPS)
        b1, b2 = BETAS
        if opt == "adamw":
            w = w * (1 - lr * WEIGHT_DECAY_ADAMW)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        s["m_hat"] = s["m"] / (1 - b1 ** self.t)
        s["v_hat"] = s["v"] / (1 - b2 ** self.t)
        return w - lr * s["m_hat"] / (np.sqrt(s["v_hat"]) + EPS)


def engine_state(optimizer: str, state: dict, t: int) -> dict[str, np.ndarray]:
    """The engine's state for one parameter under the textbook names, with Adam's bias-corrected m_hat, v_hat."""
    out = {}
    for name, key in ENGINE_STATE[optimizer].items():
        value = state[key]
        host = value.get() if hasattr(value, "get") and not isinstance(value, np.ndarray) else value
        out[name] = np.array(host, dtype=np.float64, copy=True)  # a copy: the optimizer updates it in place
    if optimizer in ("adam", "adamw"):
        out["m_hat"] = out["m"] / (1 - BETAS[0] ** t)
        out["v_hat"] = out["v"] / (1 - BETAS[1] ** t)
    return out


SHOWN_ELEMENTS = 2  # elements of each parameter printed per step; the check covers every element


@dataclass
class ParamState:
    """One parameter at one step: its gradient, the state by the engine and by hand, the value after."""

    symbol: str
    grad: np.ndarray
    engine: dict
    hand: dict
    after_engine: np.ndarray
    after_hand: np.ndarray


@dataclass
class OptimizerStep:
    t: int
    loss: float  # the loss whose gradient this step used
    params: list = field(default_factory=list)
    tolerance: tuple = (1e-12, 1e-15)  # (relative, absolute), as in one_step.TOLERANCES

    def worst(self) -> float:
        """Largest |engine - hand| / (abs + rel |hand|) over the state and the new values: <= 1 passes."""
        rel, abs_ = self.tolerance
        ratios = [0.0]
        for p in self.params:
            pairs = [(p.after_engine, p.after_hand)] + [(p.engine[k], p.hand[k]) for k in p.engine]
            for a, b in pairs:
                ratios.append(float(np.max(np.abs(a - b) / (abs_ + rel * np.abs(b)), initial=0.0)))
        return max(ratios)

    @property
    def agree(self) -> bool:
        return self.worst() <= 1.0


def observe_step(t: int, loss: float, optimizer: str, opt, named: list, by_hand: dict, befores: dict,
                 tolerance: tuple) -> OptimizerStep:
    """Record step `t` just taken by `opt`: named is [(symbol, param)], befores the values before the step."""
    step = OptimizerStep(t=t, loss=loss, tolerance=tolerance)
    for symbol, param in named:
        grad = param.grad.numpy().astype(np.float64)
        after_hand = by_hand[symbol].step(befores[symbol], grad)
        step.params.append(ParamState(
            symbol=symbol, grad=grad, engine=engine_state(optimizer, opt.state[param], t),
            hand={k: np.asarray(v, dtype=np.float64) for k, v in by_hand[symbol].state.items()},
            after_engine=param.numpy().astype(np.float64), after_hand=after_hand))
    return step


def optimizer_steps_text(optimizer: str, lr: float, steps: list, tolerance: tuple) -> list[str]:
    """Section 6 of `tinygrad-opt trace`: the state after each step, by the engine, checked against the recurrences."""
    n = len(steps)
    state_names = list(steps[0].params[0].hand) if steps and steps[0].params else []
    out = [f"6. The optimizer's state over {n} step{'s' if n != 1 else ''} ({optimizer}, lr {lr:g}), by the engine;",
           f"   the recurrences: {RECURRENCES[optimizer]}",
           f"   (the first {SHOWN_ELEMENTS} elements of each parameter; the check below covers every element)"]
    headers = ["step", "loss", "param", "g"] + state_names + ["w after"]
    rows = []
    for s in steps:
        first = True
        for p in s.params:
            for k, idx in enumerate(np.ndindex(p.grad.shape)):
                if k == SHOWN_ELEMENTS:
                    break
                element = f"{p.symbol}[{','.join(map(str, idx))}]"
                cells = [str(s.t) if first else "", f"{s.loss:.6g}" if first else "", element, _num(p.grad[idx])]
                cells += [_num(p.engine[name][idx]) for name in state_names] + [_num(p.after_engine[idx])]
                rows.append(cells)
                first = False
    out.append(format_table(headers, rows))
    worst = max((s.worst() for s in steps), default=0.0)
    rel, abs_ = tolerance
    verdict = "the engine's state and values follow the recurrences" if worst <= 1.0 else "MISMATCH"
    out.append(f"  every element, every step: largest |engine - recurrence| is {worst:.2g} of the tolerance "
               f"({abs_:g} + {rel:g} x |value|): {verdict}")
    return out


def _num(v) -> str:
    return f"{float(v): .6g}"
