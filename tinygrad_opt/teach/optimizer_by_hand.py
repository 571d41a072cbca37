"""The first step of each optimizer from a fresh state, written out in NumPy, and the engine's own.

The engine's optimizers keep state (momentum buffers, Adam's moments) that starts
at zero, so the first step has a short closed form; the trace command prints it
next to what optim.<Optimizer>.step() did. Hyper-parameters are torch.optim's defaults.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

MOMENTUM = 0.9
ALPHA = 0.99  # RMSprop's smoothing constant
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY_ADAMW = 1e-2


@dataclass(frozen=True)
class FirstStep:
    name: str
    description: str  # the constructor call, as the user would write it
    formula: str  # the first update written out
    update: Callable[[np.ndarray, np.ndarray, float], np.ndarray]  # (w, g, lr) -> w after one step


def _adam(w, g, lr, decay=0.0):
    b1, b2 = BETAS
    m = (1 - b1) * g  # m = b1 * 0 + (1 - b1) g
    v = (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1), v / (1 - b2)  # bias correction at t = 1: both undo the (1 - beta)
    return w * (1 - lr * decay) - lr * m_hat / (np.sqrt(v_hat) + EPS)


FIRST_STEPS = {
    "sgd": FirstStep("sgd", "optim.SGD(params, lr)", "w <- w - lr g", lambda w, g, lr: w - lr * g),
    "momentum": FirstStep(
        "momentum", f"optim.SGD(params, lr, momentum={MOMENTUM})",
        "buf <- g (the first step starts the buffer), w <- w - lr buf",
        lambda w, g, lr: w - lr * g),
    "nesterov": FirstStep(
        "nesterov", f"optim.SGD(params, lr, momentum={MOMENTUM}, nesterov=True)",
        f"buf <- g, w <- w - lr (g + {MOMENTUM} buf) = w - lr (1 + {MOMENTUM}) g",
        lambda w, g, lr: w - lr * (g + MOMENTUM * g)),
    "rmsprop": FirstStep(
        "rmsprop", "optim.RMSprop(params, lr)",
        f"v <- (1 - {ALPHA}) g^2, w <- w - lr g / (sqrt(v) + {EPS:g})",
        lambda w, g, lr: w - lr * g / (np.sqrt((1 - ALPHA) * g * g) + EPS)),
    "adam": FirstStep(
        "adam", "optim.Adam(params, lr)",
        f"m <- (1 - {BETAS[0]}) g, v <- (1 - {BETAS[1]}) g^2, m^ = m / (1 - {BETAS[0]}) = g, "
        f"v^ = v / (1 - {BETAS[1]}) = g^2, w <- w - lr m^ / (sqrt(v^) + {EPS:g})  (about lr sign(g))",
        _adam),
    "adamw": FirstStep(
        "adamw", "optim.AdamW(params, lr)",
        f"w <- w (1 - lr {WEIGHT_DECAY_ADAMW}) (decoupled weight decay), then Adam's step: "
        f"w <- w - lr g / (|g| + {EPS:g})",
        lambda w, g, lr: _adam(w, g, lr, WEIGHT_DECAY_ADAMW)),
}

