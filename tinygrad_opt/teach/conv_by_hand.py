"""A tiny CNN's forward and backward pass for one image, written out in NumPy with loops, as in a textbook.

Nothing here uses the engine: it is the independent derivation that the engine's
gradients are checked against. The network is conv -> act -> pool -> flatten -> linear:
x has shape (K, H, W) (channels, rows, columns); the kernel Wc (C, K, k, k) and its
bias bc (C,) follow nn.Conv2d's layout; stride 1, no padding, so the feature map is
(C, H - k + 1, W - k + 1). Pooling uses s x s windows with stride s.

Forward:
    z[c,i,j] = bc[c] + sum_{q,u,v} Wc[c,q,u,v] x[q,i+u,j+v]      (a cross-correlation, what nn.Conv2d computes)
    h = act(z),   m = pool(h),   f = flatten(m),   o = W2 f + b2,   p = softmax(o),   L = -log p[y]

Backward:
    delta_o = p - onehot(y),   dL/dW2 = delta_o f^T,   dL/db2 = delta_o,   dL/df = W2^T delta_o
    dL/dh: max pooling sends each window's gradient to its arg-max (0 to the rest);
           average pooling spreads it evenly (each of the s*s pixels gets 1/(s*s) of it)
    delta = dL/dz = dL/dh * act'(z)
    dL/dWc[c,q,u,v] = sum_{i,j} delta[c,i,j] x[q,i+u,j+v]          the correlation of x with delta
    dL/dbc[c] = sum_{i,j} delta[c,i,j]
    dL/dx[q] = sum_c full_conv(delta[c], Wc[c,q])                  delta zero-padded by k-1 on every
             = sum_{c,u,v} pad(delta)[c,i+u,j+v] flip(Wc)[c,q,u,v]   side, correlated with the kernel
                                                                   turned by 180 degrees
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .mlp_by_hand import Activation, softmax

POOLS = ("max", "avg")
MAX_IMAGE = 10  # pixels per side of the images watched: their maps are printed as grids, number by number


@dataclass
class ConvForward:
    """Every intermediate value of the forward pass of one image."""

    x: np.ndarray  # (K, H, W)
    z: np.ndarray  # (C, Ho, Wo), the convolution's output
    h: np.ndarray  # act(z)
    m: np.ndarray  # the pooled map (C, Ho // s, Wo // s)
    f: np.ndarray  # m flattened
    o: np.ndarray  # the logits
    p: np.ndarray
    loss: float


@dataclass
class ConvBackward:
    delta_o: np.ndarray  # dL/do
    dW2: np.ndarray
    db2: np.ndarray
    dm: np.ndarray  # dL/dm: dL/df reshaped to the pooled map's shape
    dh: np.ndarray  # dL/dh: what pooling routed back
    delta: np.ndarray  # dL/dz
    dWc: np.ndarray
    dbc: np.ndarray
    dx: np.ndarray


def correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """out[i,j] = sum_{u,v} kernel[u,v] x[i+u,j+v] over every position where the kernel fits ("valid")."""
    k_h, k_w = kernel.shape
    out = np.zeros((x.shape[0] - k_h + 1, x.shape[1] - k_w + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(kernel * x[i:i + k_h, j:j + k_w])
    return out


def full_convolution(g: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """g zero-padded by the kernel's size - 1 on every side, correlated with the kernel turned by 180 degrees."""
    k_h, k_w = kernel.shape
    padded = np.pad(g, ((k_h - 1, k_h - 1), (k_w - 1, k_w - 1)))
    return correlate(padded, kernel[::-1, ::-1])


def conv_layer(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """z[c] = bc[c] + sum_q correlate(x[q], Wc[c,q]): nn.Conv2d with stride 1 and no padding, for one image."""
    return np.stack([bias[c] + sum(correlate(x[q], weight[c, q]) for q in range(x.shape[0]))
                     for c in range(weight.shape[0])])


def pool(h: np.ndarray, size: int, kind: str) -> np.ndarray:
    """Max or mean of each size x size window (stride = size; rows/columns that do not fill a window are dropped)."""
    channels, rows, cols = h.shape[0], h.shape[1] // size, h.shape[2] // size
    out = np.zeros((channels, rows, cols))
    for c in range(channels):
        for i in range(rows):
            for j in range(cols):
                window = h[c, i * size:(i + 1) * size, j * size:(j + 1) * size]
                out[c, i, j] = window.max() if kind == "max" else window.mean()
    return out


def pool_backward(h: np.ndarray, dm: np.ndarray, size: int, kind: str) -> np.ndarray:
    """dL/dh from dL/dm: to each window's first arg-max (max) or spread evenly over the window (avg)."""
    dh = np.zeros_like(h)
    for c in range(dm.shape[0]):
        for i in range(dm.shape[1]):
            for j in range(dm.shape[2]):
                rows, cols = slice(i * size, (i + 1) * size), slice(j * size, (j + 1) * size)
                if kind == "max":
                    u, v = np.unravel_index(np.argmax(h[c, rows, cols]), (size, size))
                    dh[c, i * size + u, j * size + v] += dm[c, i, j]
                else:
                    dh[c, rows, cols] += dm[c, i, j] / (size * size)
    return dh


def forward(weight: np.ndarray, bias: np.ndarray, w2: np.ndarray, b2: np.ndarray, x: np.ndarray, y: int,
            act: Activation, pool_size: int = 2, pool_kind: str = "max") -> ConvForward:
    """One image x (K, H, W) with class y through conv -> act -> pool -> flatten -> linear -> cross-entropy."""
    x = np.asarray(x, dtype=np.float64)
    z = conv_layer(x, weight, bias)
    h = act.f(z)
    m = pool(h, pool_size, pool_kind)
    f = m.reshape(-1)
    o = w2 @ f + b2
    p = softmax(o)
    return ConvForward(x=x, z=z, h=h, m=m, f=f, o=o, p=p, loss=float(-np.log(p[y])))


def backward(weight: np.ndarray, w2: np.ndarray, fwd: ConvForward, y: int, act: Activation,
             pool_size: int = 2, pool_kind: str = "max") -> ConvBackward:
    onehot = np.zeros_like(fwd.p)
    onehot[y] = 1.0
    delta_o = fwd.p - onehot
    dm = (w2.T @ delta_o).reshape(fwd.m.shape)
    dh = pool_backward(fwd.h, dm, pool_size, pool_kind)
    delta = dh * act.derivative(fwd.z, fwd.h)
    channels, in_channels = weight.shape[:2]
    d_weight = np.stack([np.stack([correlate(fwd.x[q], delta[c]) for q in range(in_channels)])
                         for c in range(channels)])
    dx = np.stack([sum(full_convolution(delta[c], weight[c, q]) for c in range(channels))
                   for q in range(in_channels)])
    return ConvBackward(delta_o=delta_o, dW2=np.outer(delta_o, fwd.f), db2=delta_o.copy(), dm=dm, dh=dh,
                        delta=delta, dWc=d_weight, dbc=delta.sum(axis=(1, 2)), dx=dx)


def forward_formulas(act: Activation, pool_kind: str, pool_size: int) -> str:
    return (f"z = Wc (*) x + bc  (z[c,i,j] = bc[c] + sum_q,u,v Wc[c,q,u,v] x[q,i+u,j+v]),  h = {act.name}(z),  "
            f"m = {pool_kind}pool{pool_size}(h),  f = flatten(m),  o = W2 f + b2,  p = softmax(o),  L = -log p[y]")


def grid(a: np.ndarray, indent: str = "    ") -> list[str]:
    """A (C, H, W) or (C, K, H, W) array as lines of H x W grids, one per leading index, numbers aligned."""
    a = np.asarray(a, dtype=np.float64)
    lines = []
    for index in np.ndindex(a.shape[:-2]):
        lines.append(f"{indent}[{', '.join(map(str, index))}]")
        lines += [indent + "  " + " ".join(f"{v: .4f}" for v in row) for row in a[index]]
    return lines


def forward_values(fwd: ConvForward, fmt: Callable) -> str:
    return f"z = {fmt(fwd.z)}, m = {fmt(fwd.m)}, o = {fmt(fwd.o)}, p = {fmt(fwd.p)}"


def derivation(fwd: ConvForward, bwd: ConvBackward, y: int, act: Activation, pool_kind: str, fmt: Callable) -> list:
    """The backward formulas as lines of text; the conv's maps and kernels follow their formula as grids."""
    route = ("sent to the arg-max of each window, 0 elsewhere" if pool_kind == "max"
             else "spread evenly over each window (each pixel gets 1/(s*s) of it)")
    return [
        f"delta_o = dL/do = p - onehot(y={y})  = {fmt(bwd.delta_o)}",
        f"dL/dW2 = delta_o f^T  = {fmt(bwd.dW2)}",
        f"dL/db2 = delta_o  = {fmt(bwd.db2)}",
        f"dL/dm = W2^T delta_o, reshaped like m  = {fmt(bwd.dm)}",
        f"dL/dh = dL/dm {route}, per channel c:", *grid(bwd.dh),
        f"delta = dL/dz = dL/dh * {act.name}'(z) = dL/dh * ({act.derivative_text}), per channel c:", *grid(bwd.delta),
        "dL/dWc = the correlation of x with delta: dL/dWc[c,q,u,v] = sum_i,j delta[c,i,j] x[q,i+u,j+v],"
        " per [c, q]:", *grid(bwd.dWc),
        f"dL/dbc = sum over pixels of delta: dL/dbc[c] = sum_i,j delta[c,i,j]  = {fmt(bwd.dbc)}",
        "dL/dx = the full convolution of delta with the kernel: delta zero-padded by k-1 on every side,",
        "        correlated with Wc turned by 180 degrees, summed over c:",
        "        dL/dx[q] = sum_c correlate(pad(delta[c]), flip(Wc[c,q])), per channel q:", *grid(bwd.dx),
    ]
