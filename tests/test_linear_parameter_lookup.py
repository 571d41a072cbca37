"""nn.Linear reads its weight and bias from the parameter table on the hot path (nn/linear.py weight_and_bias);
every way torch code changes what `layer.weight` means must still be seen by forward, alone and fused in Sequential."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.nn.linear import weight_and_bias


def _layer():
    tg.manual_seed(0)
    return nn.Linear(4, 3)


def _x():
    return tg.Tensor(np.arange(8, dtype=np.float32).reshape(2, 4) / 8)


def test_plain_linear_reads_its_registered_parameters():
    layer = _layer()
    weight, bias = weight_and_bias(layer)
    assert weight is layer.weight and bias is layer.bias


def test_a_parameter_swapped_in_the_table_is_used():
    layer = _layer()
    layer._parameters["weight"] = nn.Parameter(np.zeros((3, 4), np.float32))
    for model in (layer, nn.Sequential(layer, nn.ReLU())):
        out = model(_x()).data
        expected = np.broadcast_to(layer.bias.data, (2, 3))
        np.testing.assert_array_equal(out, expected if model is layer else np.maximum(expected, 0))


def test_an_instance_attribute_replacing_the_parameter_is_used():
    layer = _layer()
    del layer._parameters["weight"]  # as pruning's reparametrisation does, before it sets a plain attribute
    layer.weight = tg.Tensor(np.ones((3, 4), np.float32))
    assert weight_and_bias(layer)[0] is layer.weight
    np.testing.assert_allclose(layer(_x()).data, _x().data.sum(axis=1, keepdims=True) + layer.bias.data, rtol=1e-6)


def test_a_subclass_property_is_honoured():
    class Doubled(nn.Linear):
        pass

    tg.manual_seed(0)
    layer = Doubled(4, 3)
    Doubled.weight = property(lambda self: self._parameters["weight"] * 2)  # a reparametrisation by property
    plain = _layer()
    expected = _x().data @ (2 * plain.weight.data).T + plain.bias.data
    np.testing.assert_allclose(layer(_x()).data, expected, rtol=1e-6)
    np.testing.assert_allclose(nn.Sequential(layer, nn.ReLU())(_x()).data, np.maximum(expected, 0), rtol=1e-6)


def test_no_bias_and_a_missing_weight():
    layer = nn.Linear(4, 3, bias=False)
    assert weight_and_bias(layer) == (layer.weight, None)
    assert nn.Sequential(layer, nn.ReLU())(_x()).shape == (2, 3)
    del layer._parameters["weight"]
    with pytest.raises(AttributeError, match="weight"):
        layer(_x())
