"""Pooling layers: MaxPool2d, AvgPool2d and AdaptiveAvgPool2d, with torch's arguments."""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional_image as FI
from .module import Module


class MaxPool2d(Module):
    """The maximum over each window (kernel_size, stride defaulting to it, padding, dilation, ceil_mode)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        FI.positive_pair(kernel_size, "kernel_size", "MaxPool2d")
        if stride is not None:
            FI.positive_pair(stride, "stride", "MaxPool2d")
        FI.positive_pair(dilation, "dilation", "MaxPool2d")
        FI.pair(padding, "padding", "MaxPool2d")
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor):
        return FI.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                             self.return_indices, where=f"MaxPool2d(kernel_size={self.kernel_size})")

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean over each window, with torch's count_include_pad and divisor_override."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        FI.positive_pair(kernel_size, "kernel_size", "AvgPool2d")
        if stride is not None:
            FI.positive_pair(stride, "stride", "AvgPool2d")
        FI.pair(padding, "padding", "AvgPool2d")
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return FI.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                             self.count_include_pad, self.divisor_override,
                             where=f"AvgPool2d(kernel_size={self.kernel_size})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (an int, or a pair whose None entries keep the input's size)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return FI.adaptive_avg_pool2d(input, self.output_size, where=f"AdaptiveAvgPool2d({self.output_size})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
