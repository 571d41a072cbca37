"""Filter pruning of CNNs: ln_structured on conv weights as torch's, prune_filters, and shrink_filters
(the shrunk model computes what the masked one computed, in evaluation mode)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
import torch.nn.utils.prune as tprune

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.compress import conv_channels, prune_filters, shrink_filters
from tinygrad_opt.nn.utils import prune
from tinygrad_opt.optim import SGD
from tinygrad_opt.train.models import build_cnn, build_lenet5


def trained_statistics(model, x, steps=3):
    """Run a few training-mode forwards so BatchNorm running statistics are not the defaults."""
    model.train()
    for i in range(steps):
        model(tg.Tensor(x + 0.1 * i))
    return model.eval()


def n_parameters(model):
    return sum(p.numel() for p in model.parameters())


def images(n, side=8, channels=1, seed=0):
    return np.random.default_rng(seed).standard_normal((n, channels, side, side)).astype(np.float32)


@pytest.mark.parametrize("n,amount", [(2, 0.5), (1, 3), (float("inf"), 0.25), (2, 0.0)])
def test_ln_structured_on_conv_weight_matches_torch(n, amount):
    tg.manual_seed(3)
    ours = nn.Conv2d(3, 8, 3)
    theirs = torch.nn.Conv2d(3, 8, 3)
    theirs.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ours.state_dict().items()})
    prune.ln_structured(ours, "weight", amount, n=n, dim=0)
    tprune.ln_structured(theirs, "weight", amount, n=n, dim=0)
    np.testing.assert_array_equal(ours.weight_mask.numpy(), theirs.weight_mask.numpy())
    np.testing.assert_array_equal(ours.weight_orig.numpy(), theirs.weight_orig.detach().numpy())
    x = images(2, 6, 3)
    np.testing.assert_allclose(ours(tg.Tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    prune.remove(ours, "weight")
    tprune.remove(theirs, "weight")
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {"weight", "bias"}
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())


def test_prune_filters_masks_whole_channels_bias_and_batchnorm():
    tg.manual_seed(0)
    model = trained_statistics(build_cnn(image_size=8), images(16))
    prune_filters(model, 0.5)
    conv1, bn1, conv2, bn2 = model[0], model[1], model[4], model[5]
    for conv, bn in ((conv1, bn1), (conv2, bn2)):
        alive = conv.weight_mask.numpy().reshape(conv.out_channels, -1).all(axis=1)
        dead = conv.weight_mask.numpy().reshape(conv.out_channels, -1).sum(axis=1) == 0
        assert (alive | dead).all() and dead.sum() == conv.out_channels // 2
        np.testing.assert_array_equal(bn.weight_mask.numpy(), alive.astype(np.float32))
        np.testing.assert_array_equal(bn.bias_mask.numpy(), alive.astype(np.float32))
    # the pruned channels are exactly zero after BatchNorm in training mode too
    model.train()
    hidden = model[:3](tg.Tensor(images(4))).numpy()
    dead = conv1.weight_mask.numpy().reshape(32, -1).sum(axis=1) == 0
    assert (hidden[:, dead] == 0).all() and (hidden[:, ~dead] != 0).any()


def test_filters_are_ranked_by_norm():
    conv = nn.Conv2d(1, 4, 1, bias=False)
    conv.weight.data[:] = np.array([3.0, -1.0, 0.5, -4.0], dtype=np.float32).reshape(4, 1, 1, 1)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    prune_filters(model, 2, n=1)
    np.testing.assert_array_equal(conv.weight_mask.numpy().reshape(-1), [1, 0, 0, 1])


def test_fine_tuning_keeps_pruned_filters_zero():
    tg.manual_seed(1)
    model = build_cnn(image_size=8)
    prune_filters(model, 0.5)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x, y = images(8), np.arange(8) % 10
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(tg.Tensor(x)), tg.Tensor(y)).backward()
        optimizer.step()
    for conv, bn in ((model[0], model[1]), (model[4], model[5])):
        dead = conv.weight_mask.numpy().reshape(conv.out_channels, -1).sum(axis=1) == 0
        assert (conv.weight.numpy()[dead] == 0).all()
        assert (bn.weight.numpy()[dead] == 0).all() and (bn.bias.numpy()[dead] == 0).all()


@pytest.mark.parametrize("build,x", [
    (lambda: build_cnn(image_size=8, in_features=64), images(6).reshape(6, 64)),
    (lambda: build_cnn(image_size=8, convs_per_stage=2), images(6)),
    (lambda: build_lenet5(), images(6, 28)),
    (lambda: build_lenet5(image_size=8), images(6)),
])
def test_shrunk_model_equals_the_masked_one(build, x):
    tg.manual_seed(2)
    model = trained_statistics(build(), x)
    before = conv_channels(model)
    prune_filters(model, 0.5)
    expected = model(tg.Tensor(x)).numpy()
    small = shrink_filters(model)
    assert conv_channels(small) == [c - int(round(c / 2)) for c in before]
    assert conv_channels(model) == before and prune.is_pruned(model)  # the original is untouched
    assert not prune.is_pruned(small)
    assert n_parameters(small) < n_parameters(model)
    np.testing.assert_allclose(small(tg.Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_shrunk_cnn_loads_into_the_model_its_config_builds():
    tg.manual_seed(4)
    model = trained_statistics(build_cnn(image_size=8, widths=(8, 12)), images(8))
    prune_filters(model, 0.25)
    small = shrink_filters(model)
    rebuilt = build_cnn(image_size=8, widths=(8, 12), conv_channels=conv_channels(small)).eval()
    rebuilt.load_state_dict(small.state_dict())  # strict: every key and shape fits
    x = images(3)
    np.testing.assert_array_equal(rebuilt(tg.Tensor(x)).numpy(), small(tg.Tensor(x)).numpy())
    lenet = build_lenet5(conv_channels=(3, 8))
    assert conv_channels(lenet) == [3, 8] and lenet[-5].in_features == 8 * 5 * 5


def test_user_sequential_with_constant_channels_folds_them_into_the_next_bias():
    """ln_structured on the conv weights alone leaves sigmoid(bias) constants: exact to fold before a Linear
    and before a convolution without zero padding."""
    tg.manual_seed(5)
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.Sigmoid(), nn.AvgPool2d(2)),
        nn.Conv2d(6, 5, 3, padding=1, padding_mode="replicate"), nn.BatchNorm2d(5), nn.Tanh(),
        nn.Conv2d(5, 4, 2), nn.Dropout2d(0.3), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 3),
    )
    x = images(4, 8, 2)
    trained_statistics(model, x)
    for conv in (model[0][0], model[1], model[4]):
        prune.ln_structured(conv, "weight", 0.4, n=2, dim=0)
    expected = model(tg.Tensor(x)).numpy()
    small = shrink_filters(model)
    assert conv_channels(small) == [4, 3, 2]
    assert isinstance(small[0], nn.Sequential)  # the structure is kept
    np.testing.assert_allclose(small(tg.Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_constant_channels_before_a_zero_padded_conv_are_refused():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 2, 3, padding=1),
                          nn.Flatten(), nn.Linear(2 * 8 * 8, 2))
    model[1].bias.data[:] = 1.0  # relu(beta) = 1 in every pruned channel
    prune.ln_structured(model[0], "weight", 2, n=2, dim=0)
    with pytest.raises(ValueError, match=r"Conv2d '3' pads with zeros.*prune_filters"):
        shrink_filters(model.eval())
    prune.custom_from_mask(model[1], "bias", model[0].weight_mask.numpy().reshape(4, -1).any(axis=1))
    small = shrink_filters(model)  # with the BatchNorm shift pruned too the channels are zero: fine
    assert conv_channels(small) == [2, 2]


def test_a_next_layer_without_bias_gets_one_for_the_constants():
    tg.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.Sigmoid(), nn.Conv2d(4, 3, 1, bias=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(3 * 4 * 4, 2, bias=False))
    prune_filters(model, 0.5)  # sigmoid(0) = 0.5 in the pruned channels of the first conv
    x = tg.Tensor(images(3, 6, 2))
    expected = model.eval()(x).numpy()
    small = shrink_filters(model)
    assert small[2].bias is not None and small[5].bias is None  # relu(0) = 0: nothing to fold into the Linear
    np.testing.assert_allclose(small(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_no_filters_to_prune_on_an_mlp():
    with pytest.raises(ValueError, match="no Conv2d.*prune_hidden_units"):
        prune_filters(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), 0.5)
    with pytest.raises(TypeError, match="expected an nn.Sequential"):
        prune_filters(nn.Conv2d(1, 2, 3), 0.5)


@pytest.mark.parametrize("amount", [1.0, 32, 0.99])
def test_an_amount_that_removes_every_filter_is_refused(amount):
    model = build_cnn(image_size=8)
    with pytest.raises(ValueError, match=r"would remove all 32 remaining filters of Conv2d '0'"):
        prune_filters(model, amount)
    assert not prune.is_pruned(model)  # nothing changed


@pytest.mark.parametrize("amount,error", [(-0.5, ValueError), (1.5, ValueError), ("half", TypeError)])
def test_bad_amounts(amount, error):
    with pytest.raises(error, match="amount"):
        prune_filters(build_cnn(image_size=8), amount)


def test_layers_that_mix_channels_are_refused():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.LayerNorm([4, 6, 6]), nn.Conv2d(4, 2, 3), nn.Flatten(),
                          nn.Linear(32, 2))
    with pytest.raises(TypeError, match=r"layer '1' \(LayerNorm\) follows Conv2d '0'"):
        prune_filters(model, 0.5)
    grouped = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=2), nn.Flatten(),
                            nn.Linear(64, 2))
    prune_filters(grouped, 0.5)
    with pytest.raises(ValueError, match="groups=2"):
        shrink_filters(grouped)


def test_a_conv_at_the_output_is_left_alone():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1))
    prune_filters(model, 0.5)
    assert prune.is_pruned(model[0]) and not prune.is_pruned(model[2])
    assert conv_channels(shrink_filters(model)) == [2, 3]


def test_fine_tuning_the_shrunk_model_is_fine_tuning_the_masked_one():
    """The pruned channels are exactly zero in training mode too, so the remaining weights get the same gradients
    (what lets `prune --method ln-filters --shrink` fine-tune the smaller model)."""
    tg.manual_seed(7)
    masked = build_cnn(image_size=8, widths=(8, 12))
    prune_filters(masked, 0.5)
    small = shrink_filters(masked)
    x, y = images(16), np.arange(16) % 10
    for model in (masked, small):
        tg.manual_seed(8)  # the same dropout draws
        optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        model.train()
        for step in range(3):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(tg.Tensor(x + step)), tg.Tensor(y)).backward()
            optimizer.step()
        model.eval()
    np.testing.assert_allclose(small(tg.Tensor(x)).numpy(), masked(tg.Tensor(x)).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(shrink_filters(masked)[4].weight.numpy(), small[4].weight.numpy(), rtol=1e-4, atol=1e-6)



@st.composite
def conv_nets(draw):
    """(model, input): a random nn.Sequential of conv stages (optional bias and BatchNorm2d, an activation,
    optional pooling) and a Linear head, and an input batch for it."""
    channels = c = draw(st.integers(1, 3))
    side = input_side = draw(st.integers(6, 9))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        out, k = draw(st.integers(2, 6)), draw(st.sampled_from([k for k in (1, 2, 3) if k <= side]))
        padding = draw(st.sampled_from([0, k // 2]))
        mode = draw(st.sampled_from(["zeros", "reflect", "replicate"])) if padding else "zeros"
        layers.append(nn.Conv2d(c, out, k, padding=padding, padding_mode=mode, bias=draw(st.booleans())))
        if draw(st.booleans()):
            layers.append(nn.BatchNorm2d(out))
        layers.append(draw(st.sampled_from([nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity]))())
        side, c = side - k + 1 + 2 * padding, out
        if side >= 4 and draw(st.booleans()):
            layers.append(draw(st.sampled_from([nn.MaxPool2d, nn.AvgPool2d]))(2))
            side //= 2
    layers += [nn.Flatten(), nn.Linear(c * side * side, 3)]
    x = np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal((5, channels, input_side, input_side))
    return nn.Sequential(*layers), x.astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(net=conv_nets(), amount=st.sampled_from([0.25, 0.5, 1, 2]), n=st.sampled_from([1, 2, float("inf")]))
def test_shrinking_random_conv_nets_keeps_their_eval_outputs(net, amount, n):
    model, x = net
    before = conv_channels(model)
    trained_statistics(model, x)
    if isinstance(amount, int) and amount >= min(before):  # every conv here feeds a conv or the Linear
        with pytest.raises(ValueError, match="would remove all"):
            prune_filters(model, amount, n=n)
        return
    prune_filters(model, amount, n=n)
    expected = model(tg.Tensor(x)).numpy()
    try:
        small = shrink_filters(model)
    except ValueError as err:  # sigmoid(0) = 0.5 in the pruned channels, and a next conv that pads with zeros
        assert "pads with zeros" in str(err) and any(isinstance(m, nn.Sigmoid) for m in model.modules())
        return
    pruned = [c - (amount if isinstance(amount, int) else int(round(amount * c))) for c in before]
    assert conv_channels(small) == pruned
    np.testing.assert_allclose(small(tg.Tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
