"""The CNN chain keeps a convolution's channel-major layout end to end, forward and backward
(no transposing copies between the layers), with the numbers of the NCHW computation."""
import numpy as np

from tinygrad_opt.ops.batch_norm_channels import BatchNormChannels, batch_statistics
from tinygrad_opt.ops.channel_layout import channel_major
from tinygrad_opt.ops.conv import Conv2d
from tinygrad_opt.ops.pool import MaxPool2d


class Ctx:
    """What autograd hands an op: a bag of attributes and which inputs need a gradient."""

    def __init__(self, needs):
        self.needs_input_grad = needs


def chain(x, w1, w2, gamma, beta, g):
    """conv -> batch norm + ReLU -> 2x2 max pool -> conv, forward then backward, op by op."""
    conv1, norm, pool, conv2 = Ctx((False, True)), Ctx((True, True, True)), Ctx((True,)), Ctx((True, True))
    h = Conv2d.forward(conv1, x, w1, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    mean, var = batch_statistics(h)
    a = BatchNormChannels.forward(norm, h, gamma, beta, mean=mean, var=var, eps=1e-5, training=True, relu=True)
    p = MaxPool2d.forward(pool, a, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1),
                          output_size=(4, 4))
    out = Conv2d.forward(conv2, p, w2, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    gp, gw2 = Conv2d.backward(conv2, g)
    (ga,) = MaxPool2d.backward(pool, gp)
    gh, ggamma, gbeta = BatchNormChannels.backward(norm, ga)
    _, gw1 = Conv2d.backward(conv1, gh)
    return (h, a, p, out), (gp, ga, gh), (gw2, ggamma, gbeta, gw1)


def test_every_activation_and_gradient_stays_channel_major_with_the_nchw_numbers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 8, 8))
    w1, w2 = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((3, 4, 3, 3))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    g = rng.standard_normal((5, 3, 4, 4))
    values, grads, params = chain(x, w1, w2, gamma, beta, g)
    for array in values + grads:
        assert channel_major(array)
    # the same ops fed NCHW copies at every step give the same numbers
    h = np.ascontiguousarray(values[0])
    mean, var = batch_statistics(h)
    norm = Ctx((True, True, True))
    a = BatchNormChannels.forward(norm, h, gamma, beta, mean=mean, var=var, eps=1e-5, training=True, relu=True)
    assert a.flags.c_contiguous
    np.testing.assert_allclose(a, values[1], rtol=1e-12, atol=1e-12)
    gh, ggamma, gbeta = BatchNormChannels.backward(norm, np.ascontiguousarray(grads[1]))
    np.testing.assert_allclose(gh, grads[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ggamma, params[1], rtol=1e-12)
    np.testing.assert_allclose(gbeta, params[2], rtol=1e-12)
    conv2 = Ctx((True, True))
    out = Conv2d.forward(conv2, np.ascontiguousarray(values[2]), w2, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    np.testing.assert_allclose(out, values[3], rtol=1e-12, atol=1e-12)
    gp, gw2 = Conv2d.backward(conv2, np.ascontiguousarray(g))
    assert gp.flags.c_contiguous  # an NCHW input gets an NCHW gradient
    np.testing.assert_allclose(gp, grads[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw2, params[0], rtol=1e-12, atol=1e-12)
