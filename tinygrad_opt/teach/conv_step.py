"""One training step of a tiny CNN, watched: the conv gradient by hand (correlation, full convolution) vs engine vs
finite differences.

    from tinygrad_opt.teach.conv_step import run_conv_step
    step = run_conv_step(image=6, channels=2, pool="max")
    print(step.text())      # what `tinygrad-opt trace --model cnn` prints
    step.agree              # True when hand, engine and finite differences agree

The network: one image of 1 x image x image pixels -> Conv2d(1, channels, 3) -> activation ->
MaxPool2d(2) or AvgPool2d(2) -> Flatten -> Linear(classes). The input x requires a gradient,
so dL/dx (the full convolution of the conv's output gradient with the flipped kernel) is
checked three ways too.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..backend import manual_seed
from ..nn import functional as F
from ..tensor import Tensor
from ..trace import format_array, trace
from . import conv_by_hand, mlp_by_hand
from .conv_by_hand import MAX_IMAGE
from .one_step import ACTIVATION_MODULES, FIRST_STEPS, OneStep, check_and_step, check_options, pick_target

KERNEL = 3
POOL = 2
POOL_MODULES = {"max": "MaxPool2d", "avg": "AvgPool2d"}


def check_conv_options(image: int, channels: int, classes: int, pool: str) -> None:
    """The CNN's own sizes, checked before any work (ValueError naming the parameter)."""
    if not KERNEL + POOL - 1 <= image <= MAX_IMAGE:
        raise ValueError(f"image {image}: choose {KERNEL + POOL - 1} to {MAX_IMAGE} pixels per side (the 3x3 "
                         f"convolution and the 2x2 pooling need at least {KERNEL + POOL - 1}; more is too many "
                         "to print one by one)")
    if not 1 <= channels <= 4:
        raise ValueError(f"channels {channels}: choose 1 to 4 convolution filters")
    if not 2 <= classes <= 10:
        raise ValueError(f"classes {classes}: choose 2 to 10")
    if pool not in conv_by_hand.POOLS:
        raise ValueError(f"pool {pool!r}: choose one of {', '.join(conv_by_hand.POOLS)}")


def build_cnn(image: int, channels: int, classes: int, activation: str, pool: str, dtype: str) -> nn.Sequential:
    pooled = (image - KERNEL + 1) // POOL
    return nn.Sequential(nn.Conv2d(1, channels, KERNEL, dtype=dtype), getattr(nn, ACTIVATION_MODULES[activation])(),
                         getattr(nn, POOL_MODULES[pool])(POOL), nn.Flatten(),
                         nn.Linear(channels * pooled * pooled, classes, dtype=dtype))


def run_conv_step(image: int = 6, channels: int = 2, classes: int = 3, activation: str = "relu", pool: str = "max",
                  optimizer: str = "sgd", lr: float = 0.1, seed: int = 0, dtype: str = "float64",
                  target: int | None = None, steps: int = 1) -> OneStep:
    """Build the CNN, run forward + backward of one image inside tg.trace(), check every gradient, take a step."""
    check_conv_options(image, channels, classes, pool)
    check_options(optimizer, lr, dtype, steps)
    act = mlp_by_hand.get_activation(activation)
    manual_seed(seed)
    model = build_cnn(image, channels, classes, act.name, pool, dtype)
    rng = np.random.default_rng(seed)
    x_np = rng.normal(size=(1, image, image)).astype(dtype)
    y = pick_target(rng, target, classes)
    x = Tensor(x_np[None].copy(), requires_grad=True)
    x.name = "x"
    t_y = Tensor(np.array([y]))
    t_y.name = "y"
    conv, linear = model[0], model[4]
    params = [p.numpy().astype(np.float64) for p in (conv.weight, conv.bias, linear.weight, linear.bias)]

    with trace(model=model) as t:
        loss = F.cross_entropy(model(x), t_y)
        loss.backward()
    name = f"CNN (conv{channels}@3x3, {act.name}, {pool}pool2) on one {image}x{image} image"
    dot = t.to_dot(title=name)

    fwd = conv_by_hand.forward(*params, x_np, y, act, POOL, pool)
    bwd = conv_by_hand.backward(params[0], params[2], fwd, y, act, POOL, pool)
    fmt = lambda a: format_array(a, 16)  # noqa: E731
    step = OneStep(optimizer=optimizer, lr=lr, seed=seed, dtype=dtype, x=x_np, y=y, trace=t,
                   loss_engine=loss.item(), loss_hand=fwd.loss, activation=act.name, dot=dot,
                   derivation=conv_by_hand.derivation(fwd, bwd, y, act, pool, fmt),
                   forward_by_hand=conv_by_hand.forward_values(fwd, fmt))
    step.title = (f"One training step of a {name}: cross-entropy, "
                  f"{FIRST_STEPS[optimizer].description.split('(')[0]} lr {lr:g}, {dtype}, seed {seed}")
    hand = [("Wc", conv.weight, bwd.dWc), ("bc", conv.bias, bwd.dbc), ("W2", linear.weight, bwd.dW2),
            ("b2", linear.bias, bwd.db2)]
    layers = ", ".join(_describe(m) for m in model)
    step.header = [f"model     nn.Sequential({layers})",
                   f"formulas  {conv_by_hand.forward_formulas(act, pool, POOL)}",
                   "names     " + ", ".join(f"{s} = {n} {tuple(q.shape)}" for (s, q, _), (n, _) in
                                            zip(hand, model.named_parameters())),
                   f"sample    y = {y}, x (1, {image}, {image}), per channel:", *conv_by_hand.grid(x_np, " " * 10),
                   f"kernel    Wc {tuple(conv.weight.shape)} before the step, per [c, q]:",
                   *conv_by_hand.grid(params[0], " " * 10)]
    step.derivation_intro = ("3. The same gradients derived by hand (NumPy loops, one image of shape (1, H, W); "
                             "the engine holds it as a batch of one)")
    check_and_step(step, model, lambda: F.cross_entropy(model(x), t_y), hand,
                   [("x", x, bwd.dx[None])], steps)
    derived = ("the correlation of x with delta = dL/dz", "delta summed over pixels", "delta_o f^T", "delta_o",
               "the full convolution of delta with the flipped kernel")
    for p, words in zip(step.checked, derived):
        p.by_hand = words
    return step


def _describe(module) -> str:
    """nn.Conv2d(1, 2, 3) and the like: how the header names each layer."""
    if isinstance(module, nn.Conv2d):
        return f"nn.Conv2d({module.in_channels}, {module.out_channels}, {KERNEL})"
    if isinstance(module, nn.Linear):
        return f"nn.Linear({module.in_features}, {module.out_features})"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"nn.{type(module).__name__}({POOL})"
    return f"nn.{type(module).__name__}()"
