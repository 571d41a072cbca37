"""Pruned weights stay exactly zero through training with every optimizer, and match torch step for step."""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, optim
from tinygrad_opt.data import load_dataset
from tinygrad_opt.nn.utils import prune

OPTIMIZERS = {
    "sgd-nesterov-wd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.05, weight_decay=1e-3),
}


@pytest.fixture(scope="module")
def digits():
    x, y, _, _ = load_dataset("digits")
    return x[:256], y[:256]


def _mlp():
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_pruned_weights_stay_zero_with_every_optimizer(name, digits):
    x, y = digits
    model = _mlp()
    opt = OPTIMIZERS[name](model.parameters())
    batches = [(tg.Tensor(x[i:i + 32]), y[i:i + 32]) for i in range(0, len(x), 32)]

    def train_step(xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for xb, yb in batches[:3]:  # dense steps first: momentum and moment estimates are non-zero everywhere
        train_step(xb, yb)
    prune.global_unstructured([(model[0], "weight"), (model[2], "weight")], amount=0.6)
    prune.l1_unstructured(model[0], "bias", 0.25)
    pruned = [(model[0], "weight"), (model[2], "weight"), (model[0], "bias")]
    masks = [getattr(m, n + "_mask").numpy() for m, n in pruned]
    orig_before = model[0].weight_orig.numpy()

    losses = []
    for epoch in range(3):
        for xb, yb in batches:
            losses.append(train_step(xb, yb))
            for (m, n), mask in zip(pruned, masks):
                grad = getattr(m, n + "_orig").grad.numpy()
                assert np.all(grad[mask == 0] == 0), f"{n}_orig got a gradient at a pruned entry"
                assert np.any(grad[mask == 1] != 0)
    model(tg.Tensor(x[:4]))  # the pre-hook recomputes the effective weights
    for (m, n), mask in zip(pruned, masks):
        np.testing.assert_array_equal(getattr(m, n + "_mask").numpy(), mask)  # training never changes masks
        effective = getattr(m, n).numpy()
        assert np.all(effective[mask == 0] == 0)
        np.testing.assert_array_equal(effective, getattr(m, n + "_orig").numpy() * mask)
    assert np.mean(losses[-8:]) < np.mean(losses[:8])  # it did learn
    # the optimizer state keeps moving the orig entries (as in torch), the mask keeps them out of the model
    if name != "adagrad":
        assert np.any(model[0].weight_orig.numpy()[masks[0] == 0] != orig_before[masks[0] == 0])
    report = prune.sparsity(model)
    assert report["0.weight"].zeros + report["2.weight"].zeros == round(0.6 * (64 * 32 + 32 * 10))
    prune.remove_all(model)
    np.testing.assert_array_equal(model[0].weight.numpy() == 0, masks[0] == 0)


TORCH_OPTS = {
    "sgd-nesterov-wd": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "adam": ("Adam", dict(lr=1e-2)),
    "adamw": ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    "rmsprop": ("RMSprop", dict(lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3)),
    "adagrad": ("Adagrad", dict(lr=0.05, weight_decay=1e-3)),
}


@pytest.mark.parametrize("name", list(TORCH_OPTS))
def test_pruned_training_matches_torch(name, digits):
    torch = pytest.importorskip("torch")
    tprune = pytest.importorskip("torch.nn.utils.prune")
    x, y = digits
    ours = _mlp()
    theirs = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).double()
    ours.double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    cls, kw = TORCH_OPTS[name]
    opt = getattr(optim, cls)(ours.parameters(), **kw)
    topt = getattr(torch.optim, cls)(theirs.parameters(), **kw)
    mask = (np.random.default_rng(0).random((32, 64)) > 0.7).astype(np.float64)
    prune.custom_from_mask(ours[0], "weight", mask)
    tprune.custom_from_mask(theirs[0], "weight", torch.from_numpy(mask))
    x = x.astype(np.float64)
    for i in range(0, 160, 32):
        opt.zero_grad()
        F.cross_entropy(ours(tg.Tensor(x[i:i + 32])), y[i:i + 32]).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x[i:i + 32])), torch.from_numpy(y[i:i + 32])).backward()
        topt.step()
    np.testing.assert_allclose(ours[0].weight_orig.numpy(), theirs[0].weight_orig.detach().numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ours[2].weight.numpy(), theirs[2].weight.detach().numpy(), rtol=1e-9, atol=1e-11)
