"""The image layers as modules: torch's parameter names, shapes and initialisation; torch state_dicts load."""
import numpy as np
import pytest
import torch

import tinygrad_opt as tg
from tinygrad_opt import nn


def torch_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3, groups=2, bias=False), torch.nn.AvgPool2d(2, ceil_mode=True),
        torch.nn.Dropout2d(0.1), torch.nn.AdaptiveAvgPool2d((2, 2)), torch.nn.Flatten(), torch.nn.Linear(24, 10),
    )


def engine_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, groups=2, bias=False), nn.AvgPool2d(2, ceil_mode=True),
        nn.Dropout2d(0.1), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(24, 10),
    )


def test_torch_state_dict_loads_strictly_and_gives_torchs_outputs():
    torch.manual_seed(0)
    ref = torch_cnn()
    ref(torch.randn(8, 1, 12, 12))  # move the BatchNorm running statistics off their defaults
    ref.eval()
    ours = engine_cnn()
    missing, unexpected = ours.load_state_dict(ref.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    ours.eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 12, 12)).astype(np.float32)
    np.testing.assert_allclose(ours(tg.Tensor(x)).data, ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_initialisation_follows_torch_bounds(groups):
    tg.manual_seed(0)
    conv = nn.Conv2d(8, 16, (3, 5), groups=groups)
    fan_in = 8 // groups * 15
    bound = 1 / np.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives the same bound as the bias
    for p in (conv.weight.data, conv.bias.data):
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.95 * bound  # spread over the whole range, not squeezed
    assert conv.weight.shape == (16, 8 // groups, 3, 5)
    assert abs(conv.weight.data.std() - bound / np.sqrt(3)) < 0.15 * bound


def test_layers_repr_and_train_eval_behaviour():
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
    assert "Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)" in repr(conv)
    drop = nn.Dropout2d(0.5)
    drop.eval()
    x = tg.Tensor(np.ones((2, 3, 4, 4), dtype=np.float32))
    assert drop(x) is x
    pool_out, indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert pool_out.shape == (2, 3, 2, 2) and indices.dtype == np.int64


def test_cnn_trains_float32_and_loss_falls():
    tg.manual_seed(0)
    model = engine_cnn()
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((16, 1, 12, 12)).astype(np.float32))
    y = rng.integers(0, 10, 16)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    assert model[0].weight.grad.dtype == np.float32
    assert losses[-1] < 0.5 * losses[0]
