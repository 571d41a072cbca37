"""Filter (channel) pruning of convolutional networks, and shrinking the pruned filters away.

`prune_filters(model, amount)` runs nn.utils.prune.ln_structured along dim 0 (the output
channels) on the weight of every Conv2d whose output feeds another Conv2d or a Linear,
and masks the same channels of the conv's bias and of the BatchNorm2d after it, so a
pruned channel is exactly zero from the convolution to the next layer, in training and
evaluation alike. Fine-tune with the masks fixed, then `shrink_filters(model)` removes the
dead channels physically: the conv's filters (weight rows, bias), the BatchNorm2d's
weight, bias and running statistics, and the next layer's input channels (the next
Conv2d's weight[:, kept], or, after a Flatten, the kept channels' h*w column blocks of the
Linear). The result is a smaller ordinary model that computes what the masked one computed
in evaluation mode.

A channel whose filter is zero but whose bias or BatchNorm shift is not (pruned with
ln_structured on the weight alone), or whose activation is not 0 at 0 (sigmoid), is a
constant c_j after the layers between. Shrinking moves its contribution into the next
layer's bias (which it adds if the layer has none): W_next[:, block_j] summed times c_j.
That is exact for a Linear and for a convolution that does not pad with zeros; a zero-
padded convolution sees the constant only partly at the borders, so shrinking refuses it
(prune the bias and the BatchNorm2d with the same mask, as prune_filters does).
"""
from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass, field
from typing import Any

from ..autograd import no_grad
from ..backend import array_module
from ..nn import (ELU, GELU, SELU, AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, Dropout, Dropout2d, Flatten,
                  Hardtanh, Identity, LeakyReLU, Linear, LogSigmoid, MaxPool2d, Mish, ReLU, ReLU6, Sequential, SiLU,
                  Sigmoid, Softplus, Tanh)
from ..nn.functional_image import pair
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..nn.utils import prune
from ..tensor import Tensor
from .structured import effective, flat_layers

# layers that act on each value on its own: a channel stays a channel, and a constant stays a constant
ELEMENTWISE = (ReLU, Sigmoid, Tanh, LeakyReLU, ELU, SELU, GELU, SiLU, Mish, Softplus, Hardtanh, ReLU6, LogSigmoid,
               Identity, Dropout, Dropout2d)
# layers that act on each channel on its own (pooling keeps a constant plane constant)
CHANNELWISE = ELEMENTWISE + (BatchNorm2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d)


@dataclass
class ConvLink:
    """A Conv2d (index `conv` in the flat layer list), the channelwise layers after it and the layer consuming its
    channels (a Conv2d, or the Linear after a Flatten at index `flatten`)."""

    conv: int
    between: list[int] = field(default_factory=list)
    consumer: int = -1
    flatten: int | None = None


def _describe(layers: list[tuple[str, Module]], i: int) -> str:
    name, m = layers[i]
    return f"layer {name!r} ({type(m).__name__})"


def conv_links(layers: list[tuple[str, Module]], where: str) -> list[ConvLink]:
    """The ConvLink of every Conv2d whose channels reach a next Conv2d or Linear (convs at the model's end have none).

    A layer between them that is not channelwise (or a Flatten not followed by the Linear) is a TypeError
    naming it: removing a channel there would change what that layer computes.
    """
    links = []
    for a, (_, m) in enumerate(layers):
        if not isinstance(m, Conv2d):
            continue
        link = ConvLink(a)
        for i in range(a + 1, len(layers)):
            nxt = layers[i][1]
            if isinstance(nxt, Conv2d) and link.flatten is None:
                link.consumer = i
                break
            if isinstance(nxt, Linear) and link.flatten is not None:
                link.consumer = i
                break
            if isinstance(nxt, Flatten) and link.flatten is None and nxt.start_dim == 1 and nxt.end_dim in (-1, 3):
                link.flatten = i
                continue
            allowed = ELEMENTWISE if link.flatten is not None else CHANNELWISE
            if not isinstance(nxt, allowed):
                raise TypeError(
                    f"{where}: {_describe(layers, i)} follows Conv2d {layers[a][0]!r}; only per-channel layers "
                    "(BatchNorm2d, pooling, activations, dropout) and then a Conv2d, or a Flatten and a Linear, can "
                    "follow a conv whose filters are pruned"
                )
            link.between.append(i)
        if link.consumer >= 0:
            links.append(link)
    return links


def _channel_count(amount: int | float, channels: int) -> int:
    return int(amount) if isinstance(amount, numbers.Integral) else int(round(float(amount) * channels))


def _batchnorms(layers: list[tuple[str, Module]], link: ConvLink) -> list[BatchNorm2d]:
    return [layers[i][1] for i in link.between if isinstance(layers[i][1], BatchNorm2d)]


def alive_filters(conv: Conv2d):
    """Boolean array over the conv's output channels: True where the filter's (effective) weights are not all zero."""
    w = effective(conv, "weight")
    return (w != 0).reshape(w.shape[0], -1).any(axis=1)


def prune_filters(model: Module, amount: int | float, n: int | float | str = 2) -> Module:
    """Prune `amount` of the filters of every Conv2d that feeds a next Conv2d or Linear, by their L`n` norm.

    `amount` counts as in nn.utils.prune.ln_structured: a float fraction of the filters not pruned yet
    (rounded half to even) or an int count, per conv. The conv's bias and the BatchNorm2d after it get the
    same channel mask (custom_from_mask), so the pruned channels are exactly zero. Returns the model, pruned
    in place; fine-tune it, then `shrink_filters` it. A ValueError when the amount would leave a conv
    without filters or the model has no conv to prune.
    """
    where = "prune_filters"
    layers = flat_layers(model, where)
    links = conv_links(layers, where)
    if not links:
        raise ValueError(f"{where}: the model has no Conv2d whose output feeds another Conv2d or a Linear, so "
                         "there are no filters to prune (for an MLP prune hidden units: prune_hidden_units)")
    prune.LnStructured(amount, n, dim=0)  # the amount and norm checks, before anything changes
    for link in links:
        name, conv = layers[link.conv]
        alive = int(alive_filters(conv).sum())
        if _channel_count(amount, alive) >= alive:
            raise ValueError(f"{where}: amount={amount} would remove all {alive} remaining filters of Conv2d "
                             f"{name!r}; a conv needs at least one (use an amount below 1.0)")
    for link in links:
        conv = layers[link.conv][1]
        prune.ln_structured(conv, "weight", amount, n=n, dim=0)
        keep = alive_filters(conv).astype(effective(conv, "weight").dtype)
        targets = [(conv, "bias")] + [(bn, p) for bn in _batchnorms(layers, link) for p in ("weight", "bias")]
        for module, pname in targets:
            if effective(module, pname) is not None:
                prune.custom_from_mask(module, pname, keep.astype(effective(module, pname).dtype))
    return model


def conv_channels(model: Module) -> list[int]:
    """The out_channels of every Conv2d of a Sequential, in order."""
    return [m.out_channels for _, m in flat_layers(model, "conv_channels") if isinstance(m, Conv2d)]


def _constant_channels(layers: list[tuple[str, Module]], link: ConvLink, values, dead):
    """The constant each dead channel holds after the layers between: one value per channel (the conv's output
    where its filter is zero) pushed through them in evaluation mode. Pooling keeps a constant plane constant,
    so it is skipped, except an average that counts zero padding or uses a fixed divisor (only zero stays)."""
    x = Tensor._make(values.reshape(1, -1, 1, 1), False)
    with no_grad():
        for i in link.between:
            m = layers[i][1]
            if isinstance(m, (MaxPool2d, AdaptiveAvgPool2d)):
                continue
            if isinstance(m, AvgPool2d):
                padded = m.count_include_pad and any(pair(m.padding, "padding", "AvgPool2d"))
                if (padded or m.divisor_override is not None) and bool((x.data.reshape(-1)[dead] != 0).any()):
                    raise ValueError(f"shrink_filters: {_describe(layers, i)} averages in zero padding or divides by "
                                     "a fixed divisor, so a constant channel does not stay constant; prune the conv's "
                                     "bias and BatchNorm2d with the same mask (prune_filters does)")
                continue
            was = m.training
            m.eval()
            x = m(x)
            m.train(was)
    return x.data.reshape(-1)[dead]


def _zero_padded(conv: Conv2d) -> bool:
    return conv.padding_mode == "zeros" and conv.padding not in ("valid", (0, 0))


def _set_parameter(module: Module, name: str, array) -> None:
    if array is not None:
        setattr(module, name, Parameter(array))


def _shrink_link(layers: list[tuple[str, Module]], link: ConvLink) -> None:
    """Remove the dead filters of one conv (in place on plain, unpruned layers) and its consumer's inputs."""
    where = "shrink_filters"
    conv_name, conv = layers[link.conv]
    consumer_name, consumer = layers[link.consumer]
    xp = array_module(conv.weight.data)
    alive = alive_filters(conv)
    if bool(alive.all()):
        return
    if not bool(alive.any()):
        alive[0] = True  # a conv keeps one filter: the shapes stay valid
    for name, m in ((conv_name, conv), (consumer_name, consumer)):
        if isinstance(m, Conv2d) and m.groups != 1:
            raise ValueError(f"{where}: Conv2d {name!r} has groups={m.groups}; removing channels of a grouped "
                             "convolution would change its groups, which shrink_filters does not do")
    dead = ~alive
    bias = conv.bias.data if conv.bias is not None else xp.zeros(alive.shape[0], dtype=conv.weight.data.dtype)
    const = _constant_channels(layers, link, bias, dead)
    w_next = consumer.weight.data
    if isinstance(consumer, Linear):
        block = w_next.shape[1] // alive.shape[0]
        if block * alive.shape[0] != w_next.shape[1]:
            raise ValueError(f"{where}: Linear {consumer_name!r} takes {w_next.shape[1]} features, not a multiple "
                             f"of the {alive.shape[0]} channels of Conv2d {conv_name!r}")
        columns = xp.repeat(alive, block)
        extra = w_next[:, ~columns] @ xp.repeat(const, block).astype(w_next.dtype)
        new_w_next = w_next[:, columns]
    else:
        extra = w_next[:, dead].sum(axis=(2, 3)) @ const.astype(w_next.dtype)
        if bool((const != 0).any()) and _zero_padded(consumer):
            raise ValueError(f"{where}: the pruned channels of Conv2d {conv_name!r} are not zero (a bias or "
                             "BatchNorm2d shift left unpruned, or an activation such as sigmoid that is not 0 at 0) "
                             f"and Conv2d {consumer_name!r} pads with zeros, so they cannot be folded into its bias; "
                             "prune the bias and BatchNorm2d with the same mask (prune_filters does) and use an "
                             "activation that is 0 at 0 there")
        new_w_next = w_next[:, alive]
    if bool((extra != 0).any()):  # a layer without a bias gets one to hold the removed constants' share
        base = consumer.bias.data if consumer.bias is not None else xp.zeros_like(extra, dtype=w_next.dtype)
        _set_parameter(consumer, "bias", base + extra.astype(base.dtype))
    _set_parameter(conv, "weight", xp.ascontiguousarray(conv.weight.data[alive]))
    _set_parameter(conv, "bias", None if conv.bias is None else conv.bias.data[alive].copy())
    conv.out_channels = int(alive.sum())
    for bn in _batchnorms(layers, link):
        bn.num_features = conv.out_channels
        for name in ("weight", "bias"):
            _set_parameter(bn, name, None if getattr(bn, name) is None else getattr(bn, name).data[alive].copy())
        for name in ("running_mean", "running_var"):
            if getattr(bn, name) is not None:
                setattr(bn, name, Tensor._make(getattr(bn, name).data[alive].copy(), False))
    _set_parameter(consumer, "weight", xp.ascontiguousarray(new_w_next))
    if isinstance(consumer, Linear):
        consumer.in_features = int(new_w_next.shape[1])
    else:
        consumer.in_channels = int(new_w_next.shape[1])


def shrink_filters(model: Module) -> Module:
    """A smaller copy of `model` without the conv filters whose weights are all zero (the model is untouched).

    Works on an nn.Sequential (nested ones included, the structure is kept) in which each pruned Conv2d is
    followed by per-channel layers (BatchNorm2d, pooling, activations, dropout) and then a Conv2d, or a
    Flatten and a Linear. Pruning reparametrisations are made permanent in the copy (zeros kept). The copy
    computes what `model` computes in evaluation mode; a conv keeps at least one filter.
    """
    where = "shrink_filters"
    layers = flat_layers(model, where)
    links = conv_links(layers, where)
    with no_grad():
        out = copy.deepcopy(model)
    prune.remove_all(out)
    layers = flat_layers(out, where)
    for link in links:
        _shrink_link(layers, link)
    return out
