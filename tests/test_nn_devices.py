"""The nn stack gives the same numbers on every device (CUDA joins when CuPy and a GPU are present)."""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, regularizers


def make_model():
    tg.manual_seed(5)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 3))


def train_step(model, device, label_smoothing=0.0):
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((10, 6)).astype(np.float32), device=device)
    y = tg.Tensor(rng.integers(0, 3, 10), device=device)
    loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing) + regularizers.elastic_net(model.parameters(), 1e-3, 1e-3)
    loss.backward()
    return loss.item(), {name: p.grad.numpy() for name, p in model.named_parameters()}, model.state_dict()


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_training_step_matches_cpu(device, label_smoothing):
    cpu = train_step(make_model(), "cpu", label_smoothing)
    model = make_model().to(device)
    assert all(p.device == device for p in model.parameters())
    other = train_step(model, device, label_smoothing)
    assert other[0] == pytest.approx(cpu[0], rel=1e-5)
    for name in cpu[1]:
        np.testing.assert_allclose(other[1][name], cpu[1][name], rtol=1e-4, atol=1e-6, err_msg=name)
    for key in cpu[2]:  # running statistics updated the same way
        np.testing.assert_allclose(other[2][key], cpu[2][key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_losses_and_dropout_on_device(device):
    x = tg.randn(4, 3, requires_grad=True)
    xd = tg.Tensor(x.numpy(), device=device, requires_grad=True)
    y = tg.rand(4, 3)
    for fn in (lambda a: F.mse_loss(a, y.to(a.device)), lambda a: F.binary_cross_entropy_with_logits(a, y.to(a.device))):
        fn(x).backward()
        fn(xd).backward()
        np.testing.assert_allclose(xd.grad.numpy(), x.grad.numpy(), rtol=1e-5, atol=1e-7)
        x.grad = xd.grad = None
    out = F.dropout(tg.ones(100, 100, device=device), 0.25)
    assert out.device == device
    assert abs(float((out.numpy() == 0).mean()) - 0.25) < 0.03
    with pytest.raises(ValueError, match="target 3 is out of range"):
        F.cross_entropy(tg.randn(2, 3, device=device), tg.Tensor([0, 3], device=device))


def test_load_state_dict_onto_device_model(device):
    source = make_model()
    target = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 3)).to(device)
    target.load_state_dict(source.state_dict())
    assert target[0].weight.device == device
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value)
