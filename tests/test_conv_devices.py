"""The image layers give the same numbers on every device (CUDA joins when CuPy and a GPU are present).

On "cuda" this runs the CuPy RawKernels of kernels/conv_gpu.py and cuBLAS GEMMs; benchmarks/gpu_check.sh
picks these tests up with the other cuda-marked ones.
"""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt.train.models import build_cnn


def cnn_step(device):
    tg.manual_seed(3)
    model = build_cnn(image_size=8, widths=(4, 8), hidden=16).to(device)
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.random((6, 1, 8, 8), dtype=np.float32), device=device)
    y = tg.Tensor(rng.integers(0, 10, 6), device=device)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item(), {n: p.grad.numpy() for n, p in model.named_parameters()}, model.state_dict()


def test_cnn_training_step_matches_cpu(device):
    cpu = cnn_step("cpu")
    other = cnn_step(device)
    assert other[0] == pytest.approx(cpu[0], rel=1e-5)
    for name in cpu[1]:
        np.testing.assert_allclose(other[1][name], cpu[1][name], rtol=1e-4, atol=1e-6, err_msg=name)
    for key in cpu[2]:
        np.testing.assert_allclose(other[2][key], cpu[2][key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("op", ["conv", "max", "avg", "adaptive", "pad"])
def test_each_image_op_and_its_gradient_matches_cpu(device, op):
    rng = np.random.default_rng(1)
    x_np, w_np = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2))

    def run(dev):
        x = tg.Tensor(x_np, device=dev, requires_grad=True)
        w = tg.Tensor(w_np, device=dev, requires_grad=True)
        out = {
            "conv": lambda: F.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
            "max": lambda: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
            "avg": lambda: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
            "adaptive": lambda: F.adaptive_avg_pool2d(x, (3, 4)),
            "pad": lambda: tg.nn.Conv2d(4, 2, 3, padding=2, padding_mode="reflect", dtype=np.float64).to(dev)(x),
        }[op]()
        (out * out).sum().backward()
        return out.numpy(), x.grad.numpy()

    tg.manual_seed(0)
    expected = run("cpu")
    tg.manual_seed(0)
    got = run(device)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
