"""Structured shrinking: remove pruned hidden units physically, so the model is really smaller and faster.

Masks only zero weights; the matrices keep their size. A hidden unit whose incoming
weight row is entirely zero (for example after `prune_hidden_units`, i.e. ln_structured
along dim 0) computes a constant: act(bias). `shrink` deletes such units from the
Linear layer (its rows), from any BatchNorm1d after it (its features) and from the
next Linear layer (its input columns), and adds the constant's contribution
W_next[:, j] * c_j to the next layer's bias, so the smaller model computes exactly
what the pruned one computed in evaluation mode.
"""
from __future__ import annotations

import copy
from typing import Any

from ..autograd import no_grad
from ..backend import array_module
from ..nn import BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, ReLU, Sequential, Sigmoid, Tanh
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..nn.utils import prune
from ..tensor import Tensor

# modules that act feature by feature, so a hidden unit stays one feature through them
FEATUREWISE = (ReLU, Sigmoid, Tanh, Dropout, Flatten, BatchNorm1d)


def effective(module: Module, name: str):
    """The array the forward pass uses for module.<name>: orig * mask when pruned, else the parameter's data."""
    if prune._find_hook(module, name) is not None:
        return module._parameters[name + "_orig"].data * module._buffers[name + "_mask"].data
    p = module._parameters.get(name)
    return None if p is None else p.data


def flat_layers(model: Module, where: str) -> list[tuple[str, Module]]:
    """(dotted name, module) of the leaf layers of a (possibly nested) Sequential, in order."""
    if not isinstance(model, Sequential):
        raise TypeError(f"{where}: expected an nn.Sequential model (layers applied in order), got {type(model).__name__}")
    out = []
    for name, child in model.named_children():
        if isinstance(child, Sequential):
            out.extend((f"{name}.{n}", m) for n, m in flat_layers(child, where))
        else:
            out.append((name, child))
    return out


def _hidden_pairs(layers: list[tuple[str, Module]], where: str):
    """(index of a Linear, indices of the featurewise layers after it, index of the next Linear)."""
    linear_at = [i for i, (_, m) in enumerate(layers) if isinstance(m, Linear)]
    pairs = []
    for a, b in zip(linear_at, linear_at[1:]):
        between = list(range(a + 1, b))
        for i in between:
            name, m = layers[i]
            if not isinstance(m, FEATUREWISE):
                raise TypeError(
                    f"{where}: layer {name!r} ({type(m).__name__}) sits between Linear layers {layers[a][0]!r} and "
                    f"{layers[b][0]!r}; only {', '.join(c.__name__ for c in FEATUREWISE)} can (they act per feature)"
                )
        pairs.append((a, between, b))
    return pairs


def prune_hidden_units(model: Module, amount: int | float, n: int | float = 2) -> Module:
    """ln_structured along dim 0 on every Linear but the last: prunes `amount` of each hidden layer's units.

    Units are ranked by the L`n` norm of their incoming weights. Returns the model
    (pruned in place; fine-tune it, then `shrink` it).
    """
    layers = flat_layers(model, "prune_hidden_units")
    for a, _, _ in _hidden_pairs(layers, "prune_hidden_units"):
        prune.ln_structured(layers[a][1], "weight", amount, n=n, dim=0)
    return model


def dead_units(linear: Linear):
    """Boolean array over output units: True where the unit's incoming weights are all zero."""
    w = effective(linear, "weight")
    return ~(w != 0).any(axis=1)


def _featurewise_constant(modules: list[Module], values) -> Any:
    """Push a constant (1, features) pre-activation through per-feature layers in eval mode."""
    x = Tensor._make(values.reshape(1, -1), False)
    with no_grad():
        for m in modules:
            was = m.training
            m.eval()
            x = m(x)
            m.train(was)
    return x.data[0]


def _subset_batchnorm(bn: BatchNorm1d, keep) -> BatchNorm1d:
    new = copy.deepcopy(bn)
    object.__setattr__(new, "num_features", int(keep.sum()))
    for name in ("weight", "bias"):
        arr = effective(bn, name)
        if arr is not None:
            new._parameters.pop(name + "_orig", None)
            new._buffers.pop(name + "_mask", None)
            new._parameters[name] = Parameter(arr[keep].copy())
    new._forward_pre_hooks.clear()
    for name in ("running_mean", "running_var"):
        if bn._buffers.get(name) is not None:
            new._buffers[name] = Tensor._make(bn._buffers[name].data[keep].copy(), False)
    return new


def _new_linear(weight, bias, like: Linear) -> Linear:
    """A Linear holding copies of these arrays (no random init drawn: the engine's RNG is left alone)."""
    new = Linear.__new__(Linear)
    Module.__init__(new)
    new.out_features, new.in_features = int(weight.shape[0]), int(weight.shape[1])
    new.weight = Parameter(weight.copy())
    if bias is not None:
        new.bias = Parameter(bias.copy())
    else:
        new.register_parameter("bias", None)
    new.train(like.training)
    return new


def shrink(model: Module) -> Sequential:
    """A new, smaller Sequential without the hidden units whose incoming weights are all zero.

    Works on a Sequential (nested ones are flattened) of Linear layers with ReLU, Sigmoid,
    Tanh, Dropout, Flatten or BatchNorm1d between them. Pruning reparametrisations are
    dropped (effective weights are copied, so unstructured zeros in kept rows stay zero).
    The result computes the same function as `model` in evaluation mode. The input and
    output sizes never change; a hidden layer keeps at least one unit.
    """
    where = "shrink"
    layers = flat_layers(model, where)
    pairs = _hidden_pairs(layers, where)
    new_layers: list[Module] = [None] * len(layers)  # type: ignore[list-item]
    weights = {i: effective(m, "weight") for i, (_, m) in enumerate(layers) if isinstance(m, Linear)}
    biases = {i: effective(m, "bias") for i, (_, m) in enumerate(layers) if isinstance(m, Linear)}
    for a, between, b in pairs:
        w_a, b_a, w_b = weights[a], biases[a], weights[b]
        xp = array_module(w_a)
        dead = ~(w_a != 0).any(axis=1)
        if bool(dead.all()):
            dead[int(xp.argmax(xp.abs(b_a)) if b_a is not None else 0)] = False  # keep one unit: shapes stay valid
        keep = ~dead
        if bool(dead.any()):
            pre = b_a if b_a is not None else xp.zeros(w_a.shape[0], dtype=w_a.dtype)
            const = _featurewise_constant([layers[i][1] for i in between], pre)[dead]
            extra = w_b[:, dead] @ const
            bias_b = biases[b] if biases[b] is not None else None
            if bias_b is None and bool((extra != 0).any()):
                raise ValueError(
                    f"{where}: removing units of {layers[a][0]!r} shifts the output of {layers[b][0]!r}, which has no bias "
                    "to absorb the shift"
                )
            if bias_b is not None:
                biases[b] = bias_b + extra.astype(bias_b.dtype)
            weights[a], biases[a] = w_a[keep], (b_a[keep] if b_a is not None else None)
            weights[b] = w_b[:, keep]
            for i in between:
                m = layers[i][1]
                if isinstance(m, BatchNorm1d):
                    new_layers[i] = _subset_batchnorm(m, keep)
    for i, (_, m) in enumerate(layers):
        if isinstance(m, Linear):
            new_layers[i] = _new_linear(weights[i], biases[i], m)
        elif new_layers[i] is None:
            new_layers[i] = copy.deepcopy(m)
    out = Sequential(*new_layers)
    out.train(model.training)
    return out


def _folded_conv(conv: Conv2d, weight, bias) -> Conv2d:
    """A copy of `conv` (geometry kept, pruning dropped) holding these weight and bias arrays."""
    new = copy.deepcopy(conv)
    new._forward_pre_hooks.clear()
    for name in ("weight", "bias"):
        new._parameters.pop(name + "_orig", None)
        new._buffers.pop(name + "_mask", None)
        new.__dict__.pop(name, None)
    new._parameters["weight"], new._parameters["bias"] = Parameter(weight.copy()), Parameter(bias.copy())
    return new


def _batchnorm_scale_shift(bn: BatchNorm1d, like):
    """(s, t) with bn(z) = s * z + t in evaluation mode: s = gamma / sqrt(var + eps), t = beta - mean * s."""
    xp = array_module(like)
    channels = bn.num_features
    gamma = effective(bn, "weight") if bn.affine else xp.ones(channels, dtype=like.dtype)
    beta = effective(bn, "bias") if bn.affine and bn.use_bias else xp.zeros(channels, dtype=like.dtype)
    s = gamma / xp.sqrt(bn.running_var.data + bn.eps)
    return s, beta - bn.running_mean.data * s


def fold_batchnorm(model: Module) -> Sequential:
    """A new Sequential with each BatchNorm1d that directly follows a Linear, and each BatchNorm2d that
    directly follows a Conv2d, folded into it (eval statistics).

    y = gamma * (W x + b - mean) / sqrt(var + eps) + beta  ==  W' x + b' with
    W' = W * s[:, None] (a conv: s[:, None, None, None], per output channel),
    b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).
    Only valid for inference (evaluation mode statistics); used before int8 quantization.
    """
    layers = flat_layers(model, "fold_batchnorm")
    out: list[Module] = []
    i = 0
    while i < len(layers):
        _, m = layers[i]
        nxt = layers[i + 1][1] if i + 1 < len(layers) else None
        linear_bn = isinstance(m, Linear) and type(nxt) is BatchNorm1d
        conv_bn = isinstance(m, Conv2d) and type(nxt) is BatchNorm2d
        if (linear_bn or conv_bn) and nxt.track_running_stats:
            w, b = effective(m, "weight"), effective(m, "bias")
            s, t = _batchnorm_scale_shift(nxt, w)
            b0 = b if b is not None else array_module(w).zeros(w.shape[0], dtype=w.dtype)
            weight = (w * s.reshape(-1, *[1] * (w.ndim - 1))).astype(w.dtype)  # s per output unit or filter
            bias = (b0 * s + t).astype(w.dtype)
            out.append(_new_linear(weight, bias, m) if linear_bn else _folded_conv(m, weight, bias))
            i += 2
            continue
        out.append(copy.deepcopy(m))
        i += 1
    result = Sequential(*out)
    result.train(model.training)
    return result


def hidden_sizes(model: Module) -> list[int]:
    """Output sizes of every Linear but the last (the hidden layer widths)."""
    sizes = [m.out_features for _, m in flat_layers(model, "hidden_sizes") if isinstance(m, Linear)]
    return sizes[:-1]
