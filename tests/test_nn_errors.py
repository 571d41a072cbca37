"""Bad input to nn raises early, with a message that names the problem and the values involved."""
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from tinygrad_opt.errors import ShapeError


@pytest.mark.parametrize("bad", [-1, 3, 100])
def test_cross_entropy_target_out_of_range_names_value_and_classes(bad):
    logits = tg.randn(4, 3, requires_grad=True)
    target = tg.Tensor([0, 1, bad, 2])
    with pytest.raises(ValueError, match=rf"target {bad} is out of range for 3 classes"):
        nn.CrossEntropyLoss()(logits, target)


def test_cross_entropy_needs_integer_class_indices():
    with pytest.raises(TypeError, match="integer dtype, got float32"):
        F.cross_entropy(tg.randn(2, 3), tg.Tensor([0.0, 1.0]))


def test_cross_entropy_shape_errors():
    with pytest.raises(ShapeError, match=r"needs class-index targets of shape \(\) \(an unbatched"):
        F.cross_entropy(tg.randn(3), [0])
    with pytest.raises(ShapeError, match=r"shape \(3,\).*got \(2,\)"):
        F.cross_entropy(tg.randn(3, 4), [0, 1])
    with pytest.raises(TypeError, match="integer dtype"):
        F.cross_entropy(tg.randn(3, 4), tg.zeros(3, 5))
    with pytest.raises(ShapeError, match="a 0-d tensor"):
        F.cross_entropy(tg.randn(()), [0])


@pytest.mark.parametrize("make", [
    lambda: nn.CrossEntropyLoss(reduction="avg"),
    lambda: nn.MSELoss(reduction="elementwise"),
    lambda: nn.BCEWithLogitsLoss(reduction=None),
    lambda: nn.CrossEntropyLoss(label_smoothing=1.5),
    lambda: nn.CrossEntropyLoss(label_smoothing=-0.1),
])
def test_bad_loss_options(make):
    with pytest.raises(ValueError, match="reduction|label_smoothing"):
        make()


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None, True])
def test_dropout_probability_out_of_range(p):
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(tg.ones(2), p)


def test_requires_grad_on_integer_tensor():
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(tg.Tensor([1, 2, 3]))


def test_linear_shape_mismatch_names_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 5\).*\(3, 4\)"):
        nn.Linear(4, 3)(tg.randn(2, 5))


def test_linear_bad_sizes():
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, 2.5)


def test_batchnorm_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ShapeError, match=r"\(N, 3\).*\(4, 2\)"):
        bn(tg.randn(4, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(tg.randn(1, 3))
    bn.eval()
    assert bn(tg.randn(1, 3)).shape == (1, 3)  # eval mode is fine with one sample
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm1d(0)


def test_bce_target_shape_must_match():
    with pytest.raises(ShapeError, match="same as input size"):
        F.binary_cross_entropy_with_logits(tg.randn(3, 1), tg.zeros(3))


def test_mse_broadcast_warns():
    with pytest.warns(UserWarning, match="broadcast"):
        F.mse_loss(tg.randn(3, 1), tg.zeros(3))


def test_flatten_bad_dims():
    with pytest.raises(ShapeError, match="start_dim"):
        nn.Flatten(3)(tg.randn(2, 3))
