"""Post-training dynamic int8 quantization of Conv2d layers: im2col, then the int8 product of compress/int8.py.

Weights, once, per output channel (symmetric):  s_w[o] = max |W[o, ...]| / 127, Wq = round(W / s_w) as int8.
Activations, per batch (dynamic, symmetric):    s_x = max |x| / 127, xq = round(x / s_x) as int8; zero padding
                                               is added after quantizing (0 stays 0, so it is exact).
With cols = im2col(xq) (rows (c, i, j), columns (n, p, q)) and Wq_g the (Og, Cg*kh*kw) int8 matrix of group g:
    acc_g = cols_g^T Wq_g^T  in int32 (int8_matmul, through the kernel registry),
    y[n, o, p, q] = acc[(n, p, q), o] * s_x * s_w[o] + b[o]   (bias in float).
"""
from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..backend import array_module
from ..kernels import get as kernel
from ..nn import Conv2d
from ..nn.functional_image import conv_padding, pad2d
from ..nn.module import Module
from ..ops.conv import pad_zeros
from ..tensor import Tensor
from .int8 import BACKENDS, int8_matmul
from .scales import quantize_activation, quantize_per_channel
from .structured import effective


class QuantizedConv2d(Module):
    """Inference-only Conv2d with int8 weights (one scale per output channel) and dynamically quantized inputs.

    Keeps the float layer's geometry (kernel_size, stride, padding, dilation, groups, padding_mode).
    Buffers: `weight_int8` (out, in / groups, kh, kw) int8, `weight_scale` (out,) float32, `bias` (out,)
    float32 or None. Input (N, C, H, W) or (C, H, W); the output is float32 and carries no gradient.
    Build one with `QuantizedConv2d.from_float(conv)`.
    """

    def __init__(self, conv: Conv2d, backend: str = "auto") -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"QuantizedConv2d: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.in_channels, self.out_channels, self.groups = conv.in_channels, conv.out_channels, conv.groups
        self.kernel_size, self.stride, self.dilation = conv.kernel_size, conv.stride, conv.dilation
        self.padding, self.padding_mode, self.backend = conv.padding, conv.padding_mode, backend
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.register_buffer("weight_int8", Tensor(np.zeros(shape, dtype=np.int8)))
        self.register_buffer("weight_scale", Tensor(np.ones(self.out_channels, dtype=np.float32)))
        has_bias = effective(conv, "bias") is not None
        self.register_buffer("bias", Tensor(np.zeros(self.out_channels, dtype=np.float32)) if has_bias else None)

    @classmethod
    def from_float(cls, conv: Conv2d, backend: str = "auto") -> QuantizedConv2d:
        """Quantize a (possibly pruned) Conv2d's effective weights; pruned zeros stay exactly zero."""
        if not isinstance(conv, Conv2d):
            raise TypeError(f"QuantizedConv2d.from_float expects an nn.Conv2d, got {type(conv).__name__}")
        q = cls(conv, backend)
        wq, scale = quantize_per_channel(effective(conv, "weight"))
        q.weight_int8.data, q.weight_scale.data = wq, scale
        b = effective(conv, "bias")
        if b is not None:
            q.bias.data = b.astype(array_module(b).float32)
        return q

    def dequantized_weight(self):
        """The float32 weights the int8 ones stand for: Wq * s_w[:, None, None, None]."""
        return self.weight_int8.data.astype(np.float32) * self.weight_scale.data[:, None, None, None]

    def _where(self) -> str:
        return f"QuantizedConv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def forward(self, input: Tensor) -> Tensor:
        x = input.data if isinstance(input, Tensor) else input
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self._where()}: expected input of shape (N, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W), got {tuple(input.shape)}")
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        pads = conv_padding(self.padding, self.kernel_size, self.stride, self.dilation, self._where())
        if self.padding_mode != "zeros" and any(pads):
            with no_grad():
                x = pad2d(Tensor._make(x, False), pads, self.padding_mode, self._where()).data
            pads = (0, 0, 0, 0)
        xq, sx = quantize_activation(x, self._where())
        xpad = pad_zeros(xq, pads)
        n, hp, wp = xpad.shape[0], xpad.shape[2], xpad.shape[3]
        oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"{self._where()}: padded input size per channel ({hp} x {wp}) is smaller than the "
                             f"dilated kernel; input shape {tuple(input.shape)}")
        cols = kernel("im2col", xpad)(xpad, kh, kw, sh, sw, dh, dw, oh, ow)  # (C*kh*kw, N*oh*ow) int8
        groups, og = self.groups, self.out_channels // self.groups
        k = cols.shape[0] // groups
        w = self.weight_int8.data.reshape(self.out_channels, k)
        parts = [int8_matmul(cols[g * k:(g + 1) * k].T, w[g * og:(g + 1) * og], self.backend) for g in range(groups)]
        xp = array_module(cols)
        acc = parts[0] if groups == 1 else xp.concatenate(parts, axis=1)  # (N*oh*ow, O) int32
        y = acc.astype(xp.float32)
        y *= self.weight_scale.data * xp.float32(sx)
        if self.bias is not None:
            y += self.bias.data
        out = y.reshape(n, oh, ow, self.out_channels).transpose(0, 3, 1, 2)
        return Tensor._make(out[0] if unbatched else out, False)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + f", bias={self.bias is not None}, dtype=int8, backend={self.backend}"
