"""A small MLP's forward and backward pass for one sample, written out in NumPy as in a textbook.

Nothing here uses the engine: it is the independent derivation that the engine's
gradients are checked against. Vectors are columns; layer l = 1..L has weight W_l
of shape (n_l, n_{l-1}) (nn.Linear's layout) and bias b_l of shape (n_l,).

Forward, with a_0 = x and act the hidden activation:
    z_l = W_l a_{l-1} + b_l
    h_l = a_l = act(z_l)                     for the hidden layers l < L
    p = softmax(z_L),   loss = -log p_y      (cross-entropy of one sample with class y)

Backward (the chain rule, one layer at a time):
    delta_L = dloss/dz_L = p - onehot(y)      (softmax and cross-entropy together)
    dloss/dW_l = delta_l a_{l-1}^T            (an outer product)
    dloss/db_l = delta_l
    delta_{l-1} = (W_l^T delta_l) * act'(z_{l-1})
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Activation:
    name: str
    f: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]  # act'(z), given z and h = act(z)
    derivative_text: str  # act'(z) written in terms of h (or z), for printing


ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh, lambda z, h: 1.0 - h * h, "1 - h^2"),
    "relu": Activation("relu", lambda z: np.maximum(z, 0.0), lambda z, h: (z > 0).astype(z.dtype), "1[z > 0]"),
    "sigmoid": Activation("sigmoid", lambda z: 1.0 / (1.0 + np.exp(-z)), lambda z, h: h * (1.0 - h), "h (1 - h)"),
}


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}") from None


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())  # shifting by the max changes nothing mathematically and avoids overflow
    return e / e.sum()


@dataclass
class Forward:
    """Every intermediate value of the forward pass."""

    a: list  # a[0] = x, a[l] = act(z_l) for hidden layers
    z: list  # z[l] for l = 1..L (z[0] is None so indices match the formulas)
    p: np.ndarray
    loss: float


@dataclass
class Backward:
    delta: list  # delta[l] = dloss/dz_l for l = 1..L (delta[0] is None)
    dW: list  # dW[l] = dloss/dW_l (index 0 unused)
    db: list


def forward(weights: list, biases: list, x: np.ndarray, y: int, act: Activation) -> Forward:
    """weights[l-1] is W_l; x is one sample (n_0,); y its class."""
    a, z = [np.asarray(x, dtype=np.float64)], [None]
    n_layers = len(weights)
    for l in range(1, n_layers + 1):
        z_l = weights[l - 1] @ a[l - 1] + biases[l - 1]
        z.append(z_l)
        if l < n_layers:
            a.append(act.f(z_l))
    p = softmax(z[-1])
    return Forward(a=a, z=z, p=p, loss=float(-np.log(p[y])))


def backward(weights: list, fwd: Forward, y: int, act: Activation) -> Backward:
    n_layers = len(weights)
    delta = [None] * (n_layers + 1)
    dW = [None] * (n_layers + 1)
    db = [None] * (n_layers + 1)
    onehot = np.zeros_like(fwd.p)
    onehot[y] = 1.0
    delta[n_layers] = fwd.p - onehot
    for l in range(n_layers, 0, -1):
        dW[l] = np.outer(delta[l], fwd.a[l - 1])
        db[l] = delta[l].copy()
        if l > 1:
            delta[l - 1] = (weights[l - 1].T @ delta[l]) * act.derivative(fwd.z[l - 1], fwd.a[l - 1])
    return Backward(delta=delta, dW=dW, db=db)


def activation_name(l: int, n_layers: int) -> str:
    """How the formulas call a_l: x for the input, h for a single hidden layer, h1, h2, ... otherwise."""
    if l == 0:
        return "x"
    return "h" if n_layers == 2 else f"h{l}"


def derivation(weights: list, fwd: Forward, bwd: Backward, y: int, act: Activation, fmt: Callable) -> list[str]:
    """The backward formulas as lines of text, each with its value (`fmt` formats an array)."""
    n_layers = len(weights)
    lines = [f"delta{n_layers} = dL/dz{n_layers} = p - onehot(y={y})" + f"  = {fmt(bwd.delta[n_layers])}"]
    for l in range(n_layers, 0, -1):
        prev = activation_name(l - 1, n_layers)
        lines.append(f"dL/dW{l} = delta{l} {prev}^T" + f"  = {fmt(bwd.dW[l])}")
        lines.append(f"dL/db{l} = delta{l}" + f"  = {fmt(bwd.db[l])}")
        if l > 1:
            h = activation_name(l - 1, n_layers)
            deriv = act.derivative_text.replace("h", h).replace("z", f"z{l - 1}")
            lines.append(f"delta{l - 1} = (W{l}^T delta{l}) * {act.name}'(z{l - 1}) = (W{l}^T delta{l}) * ({deriv})"
                         + f"  = {fmt(bwd.delta[l - 1])}")
    return lines


def forward_formulas(n_layers: int, act: Activation) -> str:
    parts = []
    for l in range(1, n_layers + 1):
        prev = activation_name(l - 1, n_layers)
        parts.append(f"z{l} = W{l} {prev} + b{l}")
        if l < n_layers:
            parts.append(f"{activation_name(l, n_layers)} = {act.name}(z{l})")
    parts += [f"p = softmax(z{n_layers})", "L = -log p[y]"]
    return ",  ".join(parts)


def forward_values(fwd: Forward, fmt: Callable) -> str:
    """z1 = [...], h = [...], ..., p = [...] on one line."""
    n_layers = len(fwd.z) - 1
    parts = []
    for l in range(1, n_layers + 1):
        parts.append(f"z{l} = {fmt(fwd.z[l])}")
        if l < n_layers:
            parts.append(f"{activation_name(l, n_layers)} = {fmt(fwd.a[l])}")
    parts.append(f"p = {fmt(fwd.p)}")
    return ", ".join(parts)
