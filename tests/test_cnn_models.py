"""The cnn and lenet5 model builders: shapes on MNIST-sized and 8x8 images, config round trip."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.train.models import build_cnn, build_lenet5, build_model


@pytest.mark.parametrize("image_size", [28, 8])
@pytest.mark.parametrize("builder", [build_cnn, build_lenet5])
def test_builders_map_images_to_logits(builder, image_size):
    tg.manual_seed(0)
    model = builder(image_size=image_size)
    x = tg.Tensor(np.random.default_rng(0).random((3, 1, image_size, image_size), dtype=np.float32))
    out = model(x)
    assert out.shape == (3, 10) and out.dtype == np.float32
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_default_cnn_is_the_documented_architecture():
    model = build_cnn()
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                     "Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert model[0].bias is None and model[9].weight.shape == (128, 64 * 7 * 7)
    deep = build_cnn(convs_per_stage=2)
    assert sum(isinstance(m, nn.Conv2d) for m in deep) == 4


def test_build_model_knows_cnn_and_lenet5():
    assert isinstance(build_model({"type": "cnn", "in_channels": 1, "num_classes": 10, "image_size": 8}), nn.Sequential)
    assert isinstance(build_model({"type": "lenet5", "num_classes": 10}), nn.Sequential)
    with pytest.raises(ValueError, match="divisible by 2"):
        build_cnn(image_size=30, widths=(8, 8, 8))
