"""A tiny MLP trained with nothing but Tensors and .backward(): `python -m tinygrad_opt.demo`.

The data set is built in (two interleaved spirals, generated from a fixed seed), so the
demo runs offline in a second or two. It shows the engine alone: the forward pass,
backward, and a hand-written SGD step on each weight's .grad.
"""
from __future__ import annotations

import numpy as np

import tinygrad_opt as tg


def spirals(n_per_class: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals in the plane: not linearly separable, so the hidden layer matters."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, (2 * n_per_class, 2))
    y = np.repeat([0, 1], n_per_class)
    return x.astype(np.float32), y


def main(steps: int = 3000, hidden: int = 64, lr: float = 0.3) -> float:
    tg.manual_seed(0)
    x_np, y_np = spirals()
    x = tg.Tensor(x_np)
    onehot = tg.Tensor(np.eye(2, dtype=np.float32)[y_np])
    w1 = tg.Tensor(np.random.default_rng(1).normal(0, 3.0, (2, hidden)).astype(np.float32), requires_grad=True)
    b1 = tg.zeros(hidden, requires_grad=True)
    w2 = tg.Tensor(np.random.default_rng(2).normal(0, 0.3, (hidden, 2)).astype(np.float32), requires_grad=True)
    b2 = tg.zeros(2, requires_grad=True)
    params = [w1, b1, w2, b2]
    for step in range(steps + 1):
        logits = (x @ w1 + b1).tanh() @ w2 + b2
        loss = -(logits.log_softmax(axis=1) * onehot).sum(axis=1).mean()
        loss.backward()
        for p in params:  # plain SGD, written out: p <- p - lr * dL/dp
            p.data -= lr * p.grad.data
            p.grad = None
        if step % 500 == 0:
            accuracy = float((logits.numpy().argmax(axis=1) == y_np).mean())
            print(f"step {step:4d}  loss {loss.item():.4f}  train accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    main()
