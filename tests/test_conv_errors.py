"""Bad input to the image layers: each error names the layer, what it expected and what it got."""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn


def x(*shape):
    return tg.Tensor(np.zeros(shape, dtype=np.float32))


def test_conv2d_wrong_rank_names_layer_expected_and_given_shape():
    with pytest.raises(tg.ShapeError, match=r"Conv2d\(1, 4, kernel_size=\(3, 3\)\).*\(N, 1, H, W\).*\(28, 28\)"):
        nn.Conv2d(1, 4, 3)(x(28, 28))


def test_conv2d_wrong_channel_count():
    with pytest.raises(tg.ShapeError, match=r"Conv2d\(3, 4.*expected input of shape \(N, 3, H, W\).*\(2, 1, 8, 8\)"):
        nn.Conv2d(3, 4, 3)(x(2, 1, 8, 8))
    with pytest.raises(tg.ShapeError, match=r"conv2d: .*\(N, 4, H, W\).*got \(2, 3, 5, 5\)"):
        F.conv2d(x(2, 3, 5, 5), x(6, 2, 3, 3), groups=2)


def test_conv2d_kernel_larger_than_padded_input():
    with pytest.raises(tg.ShapeError, match=r"padded input size per channel \(4 x 4\).*kernel \(5 x 5\)"):
        nn.Conv2d(1, 1, 5, padding=1)(x(1, 1, 2, 2))
    with pytest.raises(tg.ShapeError, match="dilated kernel"):
        F.conv2d(x(1, 1, 4, 4), x(1, 1, 3, 3), dilation=2)


@pytest.mark.parametrize("name", ["stride", "dilation"])
def test_conv2d_zero_stride_or_dilation(name):
    with pytest.raises(ValueError, match=f"Conv2d: {name} must be positive, got 0"):
        nn.Conv2d(1, 1, 3, **{name: 0})
    with pytest.raises(ValueError, match=f"conv2d: {name} must be positive, got \\(1, 0\\)"):
        F.conv2d(x(1, 1, 5, 5), x(1, 1, 3, 3), **{name: (1, 0)})


def test_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"out_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive"):
        nn.Conv2d(4, 4, 3, groups=0)


def test_conv2d_other_bad_arguments():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="negative padding"):
        F.conv2d(x(1, 1, 5, 5), x(1, 1, 3, 3), padding=-1)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair of ints, got 2.5"):
        nn.Conv2d(1, 1, 2.5)
    with pytest.raises(TypeError, match=r"input \(float64\) and weight \(float32\)"):
        F.conv2d(tg.Tensor(np.zeros((1, 1, 4, 4))), x(1, 1, 3, 3))
    with pytest.raises(ValueError, match="reflect padding"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(x(1, 1, 3, 3))


def test_pool_errors():
    with pytest.raises(tg.ShapeError, match=r"MaxPool2d\(kernel_size=2\): expected input of shape \(N, C, H, W\).*\(8, 8\)"):
        nn.MaxPool2d(2)(x(8, 8))
    with pytest.raises(tg.ShapeError, match=r"too small for kernel \(3, 3\)"):
        nn.MaxPool2d(3)(x(1, 1, 2, 2))
    with pytest.raises(ValueError, match="stride must be positive"):
        F.max_pool2d(x(1, 1, 4, 4), 2, stride=0)
    with pytest.raises(ValueError, match="dilation must be positive"):
        nn.MaxPool2d(2, dilation=0)
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be between 0 and half the kernel size"):
        F.avg_pool2d(x(1, 1, 6, 6), 3, padding=2)
    with pytest.raises(ValueError, match="divisor_override must be a non-zero int"):
        F.avg_pool2d(x(1, 1, 6, 6), 3, divisor_override=0)
    with pytest.raises(tg.ShapeError, match=r"AdaptiveAvgPool2d\(2\): expected input of shape"):
        nn.AdaptiveAvgPool2d(2)(x(4, 4))


def test_batchnorm2d_and_dropout2d_errors():
    with pytest.raises(tg.ShapeError, match=r"BatchNorm2d\(3\): expected input of shape \(N, 3, H, W\), got \(2, 3, 4\)"):
        nn.BatchNorm2d(3)(x(2, 3, 4))
    with pytest.raises(tg.ShapeError, match=r"got \(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(x(2, 4, 5, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm2d(3)(x(1, 3, 1, 1))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)
