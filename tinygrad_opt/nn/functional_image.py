"""The image layers' functional forms (F.conv2d, F.max_pool2d, ...): argument checks, then one op.

Inputs are NCHW (N, C, H, W), or unbatched (C, H, W) as torch accepts. Every check
happens here, before the op runs, so an error names the layer (`where`, the
function's name or the module's repr), the expected and the given shape.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any, Sequence

import numpy as np

from .. import ops
from ..backend import array_module, host_rng
from ..errors import ShapeError
from ..ops.pool import max_pool2d_with_argmax, torch_indices
from ..tensor import Tensor
from .batchnorm_statistics import channel_statistics
from .functional_pad import pad

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tensor(x: Any, name: str = "input") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if x is None:
        raise TypeError(f"{name} must be a Tensor, got None")
    return Tensor(x)


def pair(value: Any, name: str, where: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (torch's _pair), with a clear TypeError otherwise."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) == 1:
        items = items * 2
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"{where}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def positive_pair(value: Any, name: str, where: str) -> tuple[int, int]:
    result = pair(value, name, where)
    if min(result) <= 0:
        raise ValueError(f"{where}: {name} must be positive, got {value!r}")
    return result


def _batched(input: Tensor, channels: int | None, where: str, expected: str) -> tuple[Tensor, bool]:
    """(4-D input, whether it was unbatched); checks the rank and, if given, the channel count."""
    shape = tuple(input.shape)
    if input.ndim not in (3, 4) or (channels is not None and shape[-3] != channels):
        raise ShapeError(f"{where}: expected input of shape {expected}, got {shape}")
    if input.ndim == 3:
        return input.reshape(1, *shape), True
    return input, False


def _unbatch(out: Tensor, unbatched: bool) -> Tensor:
    return out.reshape(*out.shape[1:]) if unbatched else out


def _check_float(input: Tensor, where: str) -> None:
    if input.dtype.kind != "f":
        raise TypeError(f"{where}: expected a floating point input, got {input.dtype}")


# ---- convolution ----------------------------------------------------------------------
def same_padding(kernel_size: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) keeping the size at stride 1; the odd extra row/column goes last, as torch."""
    total_h, total_w = (d * (k - 1) for k, d in zip(kernel_size, dilation))
    return total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2


def conv_padding(padding: Any, kernel_size: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                 where: str) -> tuple[int, int, int, int]:
    """padding (an int, a pair, "same" or "valid") as (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{where}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride}); give the padding as numbers")
            return same_padding(kernel_size, dilation)
        raise ValueError(f"{where}: padding must be 'same', 'valid', an int or a pair of ints, got {padding!r}")
    ph, pw = pair(padding, "padding", where)
    if ph < 0 or pw < 0:
        raise ValueError(f"{where}: negative padding is not supported, got padding={padding!r}")
    return ph, ph, pw, pw


def pad2d(input: Tensor, padding: tuple[int, int, int, int], mode: str, where: str) -> Tensor:
    """Pad the last two axes by (top, bottom, left, right) with one of torch's padding modes."""
    top, bottom, left, right = padding
    h, w = input.shape[-2:]
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(f"{where}: reflect padding {padding} must be smaller than the input's height and width "
                         f"{(h, w)}")
    if mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        raise ValueError(f"{where}: circular padding {padding} wraps around more than once for an input of "
                         f"height and width {(h, w)}")
    return pad(input, (left, right, top, bottom), mode="constant" if mode == "zeros" else mode)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, *, padding_mode: str = "zeros", where: str = "conv2d") -> Tensor:
    """2-D cross-correlation of input (N, C, H, W) with weight (O, C / groups, kh, kw), as torch's F.conv2d.

    padding: an int, a pair, "valid" (none) or "same" (output size = input size; stride 1 only).
    padding_mode (what nn.Conv2d passes): "zeros", "reflect", "replicate" or "circular".
    One graph node (ops.Conv2d: im2col + one GEMM per group), plus a padding node for
    the non-zero modes.
    """
    input, weight = _tensor(input), _tensor(weight, "weight")
    if weight.ndim != 4:
        raise ShapeError(f"{where}: weight must have shape (out_channels, in_channels / groups, kh, kw), "
                         f"got {tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups <= 0:
        raise ValueError(f"{where}: groups must be a positive integer, got {groups!r}")
    out_channels, group_channels, kh, kw = weight.shape
    if out_channels % groups:
        raise ValueError(f"{where}: out_channels ({out_channels}) must be divisible by groups ({groups})")
    channels = group_channels * groups
    x, unbatched = _batched(input, channels, where, f"(N, {channels}, H, W) or ({channels}, H, W)")
    stride = positive_pair(stride, "stride", where)
    dilation = positive_pair(dilation, "dilation", where)
    pads = conv_padding(padding, (kh, kw), stride, dilation, where)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{where}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{where}: input ({x.dtype}) and {name} ({t.dtype}) must have the same dtype")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ShapeError(f"{where}: bias must have shape ({out_channels},), got {tuple(bias.shape)}")
    h, w = x.shape[2:]
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    if hp < dilation[0] * (kh - 1) + 1 or wp < dilation[1] * (kw - 1) + 1:
        raise ShapeError(f"{where}: padded input size per channel ({hp} x {wp}) is smaller than the dilated "
                         f"kernel ({dilation[0] * (kh - 1) + 1} x {dilation[1] * (kw - 1) + 1}); "
                         f"input shape {tuple(input.shape)}, kernel {(kh, kw)}, dilation {dilation}")
    if padding_mode != "zeros" and any(pads):
        x, pads = pad2d(x, pads, padding_mode, where), (0, 0, 0, 0)
    tensors = (x, weight) if bias is None else (x, weight, bias)
    out = ops.Conv2d.apply(*tensors, stride=stride, padding=pads, dilation=dilation, groups=int(groups))
    return _unbatch(out, unbatched)


# ---- pooling ---------------------------------------------------------------------------
def pool_output_size(size: int, kernel_size: int, pad: int, stride: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: floor (or ceil) division, and no window may start in the far padding."""
    span = size + 2 * pad - dilation * (kernel_size - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_geometry(input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                   where: str):
    kernel = positive_pair(kernel_size, "kernel_size", where)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        positive_pair(stride, "stride", where)
    dilation = positive_pair(dilation, "dilation", where)
    pads = pair(padding, "padding", where)
    if min(pads) < 0 or pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
        raise ValueError(f"{where}: padding {pads} must be between 0 and half the kernel size {kernel}")
    x, unbatched = _batched(input, None, where, "(N, C, H, W) or (C, H, W)")
    h, w = x.shape[2:]
    out = tuple(pool_output_size(s, k, p, st, d, bool(ceil_mode))
                for s, k, p, st, d in zip((h, w), kernel, pads, stride, dilation))
    if min(out) < 1:
        raise ShapeError(f"{where}: input of shape {tuple(input.shape)} is too small for kernel {kernel} with "
                         f"padding {pads}, stride {stride} and dilation {dilation}: output size would be {out}")
    return x, unbatched, kernel, stride, pads, dilation, out


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False, *, where: str = "max_pool2d"):
    """Maximum over each (dilated) window, as torch's F.max_pool2d; stride defaults to kernel_size.

    return_indices=True also returns each maximum's position a * W + b in its (H, W) plane (int64).
    """
    input = _tensor(input)
    x, unbatched, kernel, stride, pads, dilation, out_size = _pool_geometry(
        input, kernel_size, stride, padding, dilation, ceil_mode, where)
    out = _unbatch(ops.MaxPool2d.apply(x, kernel_size=kernel, stride=stride, padding=pads, dilation=dilation,
                                       output_size=out_size), unbatched)
    if not return_indices:
        return out
    # the indices are not part of the graph: a second pass of the forward kernel, only when asked
    _, argmax, (_, wp) = max_pool2d_with_argmax(x.data, kernel, stride, pads, dilation, out_size)
    indices = torch_indices(argmax, wp, pads, x.shape[3])
    return out, Tensor._make(indices.reshape(out.shape), False)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None, *,
               where: str = "avg_pool2d") -> Tensor:
    """Mean over each window, as torch's F.avg_pool2d (count_include_pad, divisor_override, ceil_mode)."""
    input = _tensor(input)
    _check_float(input, where)
    if divisor_override is not None and (isinstance(divisor_override, bool) or
                                         not isinstance(divisor_override, numbers.Integral) or divisor_override == 0):
        raise ValueError(f"{where}: divisor_override must be a non-zero int or None, got {divisor_override!r}")
    x, unbatched, kernel, stride, pads, _, out_size = _pool_geometry(
        input, kernel_size, stride, padding, 1, ceil_mode, where)
    out = ops.AvgPool2d.apply(x, kernel_size=kernel, stride=stride, padding=pads, output_size=out_size,
                              count_include_pad=bool(count_include_pad), divisor_override=divisor_override)
    return _unbatch(out, unbatched)


def adaptive_output_size(output_size: Any, input_size: Sequence[int], where: str) -> tuple[int, int]:
    """output_size as a pair; None entries keep the input's size there (torch's rule)."""
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(items) != 2:
        raise TypeError(f"{where}: output_size must be an int, None or a pair of them, got {output_size!r}")
    result = tuple(size if item is None else item for item, size in zip(items, input_size))
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in result):
        raise ValueError(f"{where}: output_size must hold non-negative ints (or None), got {output_size!r}")
    return int(result[0]), int(result[1])


def adaptive_avg_pool2d(input: Tensor, output_size: Any, *, where: str = "adaptive_avg_pool2d") -> Tensor:
    """Average over torch's adaptive bins: output row p covers input rows floor(p H / oh) .. ceil((p+1) H / oh)."""
    input = _tensor(input)
    _check_float(input, where)
    if input.ndim not in (3, 4):
        raise ShapeError(f"{where}: expected input of shape (N, C, H, W) or (C, H, W), got {tuple(input.shape)}")
    size = adaptive_output_size(output_size, input.shape[-2:], where)
    return ops.AdaptiveAvgPool2d.apply(input, output_size=size)


# ---- batch normalisation and channel dropout ---------------------------------------------
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
               where: str = "batch_norm") -> Tensor:
    """Normalise input (N, C, ...) per channel, as torch's F.batch_norm.

    training=True: the biased batch statistics normalise, and running_mean / running_var (if
    given) move in place towards the batch mean and the unbiased batch variance by `momentum`.
    training=False: the running statistics normalise (they must be given).
    """
    return batch_norm_relu(input, running_mean, running_var, weight, bias, training, momentum, eps, relu=False,
                           where=where)


def batch_norm_relu(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
                    momentum: float | None = 0.1, eps: float = 1e-5, *, relu: bool, where: str = "batch_norm",
                    num_batches_tracked: Tensor | None = None) -> Tensor:
    """batch_norm, followed by ReLU as the same graph node when relu=True (nn.Sequential's fused pair).

    num_batches_tracked (BatchNorm2d's counter) counts a training batch; with momentum=None the
    running statistics are its cumulative average."""
    input = _tensor(input)
    _check_float(input, where)
    if input.ndim < 2:
        raise ShapeError(f"{where}: expected input of shape (N, C, ...), got {tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"{where}: {name} must have shape ({c},) for input {tuple(input.shape)}, "
                             f"got {tuple(t.shape)}")
    x = input.data
    xp = array_module(x)
    if training:
        count = x.size // c if c else 0
        if count <= 1:
            raise ValueError(f"{where}: expected more than 1 value per channel when training, got input of shape "
                             f"{tuple(input.shape)}; use a batch of at least 2 or evaluation mode")
    elif running_mean is None or running_var is None:
        raise ValueError(f"{where}: running_mean and running_var must be given when training=False")
    mean, var = channel_statistics(x, bool(training), running_mean, running_var, num_batches_tracked, momentum)
    tensors = (input,) if weight is None else (input, weight) if bias is None else (input, weight, bias)
    if weight is None and bias is not None:  # a shift without a scale: scale by ones
        ones = Tensor._make(xp.ones(c, dtype=x.dtype), False)
        tensors = (input, ones, bias)
    return ops.BatchNormChannels.apply(*tensors, mean=mean, var=var, eps=eps, training=bool(training), relu=relu)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels input[n, c] with probability p and scale the rest by 1 / (1 - p), as torch.

    On a 3-D input torch 2.13 drops channels of (N, C, L) (dropout1d behaviour) and warns;
    so does this. Other ranks warn as torch does and still drop along axis 1.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout2d: dropout probability has to be between 0 and 1, but got {p!r}")
    input = _tensor(input)
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated; "
                      "use dropout for inputs that are not (N, C, H, W)", stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), as torch 2.13 does",
                      stacklevel=2)
    if not training or p == 0.0:
        return input
    if input.ndim < 2:
        raise ShapeError(f"dropout2d: expected input of shape (N, C, ...), got {tuple(input.shape)}")
    mask_shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    if p == 1.0:
        keep = np.zeros(mask_shape)
    else:
        keep = (host_rng().random(mask_shape) >= p) / (1.0 - p)
    xp = array_module(input.data)
    scaled_keep = xp.asarray(keep.astype(input.dtype))
    return ops.FeatureDropout.apply(input, scaled_keep=scaled_keep)


__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "dropout2d"]
