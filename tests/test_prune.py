"""prune: masks equal torch.nn.utils.prune's for every method, composition, global pruning, remove, state_dict."""
import math

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.nn.utils import prune

torch = pytest.importorskip("torch")
tprune = pytest.importorskip("torch.nn.utils.prune")


def distinct_weights(shape, seed=0, offset=0.0):
    """Values with pairwise distinct magnitudes (no ties for topk), random order and signs."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    mags = (rng.permutation(n) + 1.0) / n + offset
    return (mags * rng.choice([-1.0, 1.0], size=n)).reshape(shape).astype(np.float32)


def pair(in_f=7, out_f=5, seed=0):
    """A tinygrad_opt and a torch Linear with the same distinct weights."""
    w = distinct_weights((out_f, in_f), seed)
    b = distinct_weights((out_f,), seed + 100)
    ours = nn.Linear(in_f, out_f)
    ours.load_state_dict({"weight": w, "bias": b})
    theirs = torch.nn.Linear(in_f, out_f)
    theirs.load_state_dict({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)})
    return ours, theirs


def mask_of(module, name="weight"):
    m = getattr(module, name + "_mask")
    return m.detach().numpy() if hasattr(m, "detach") and not isinstance(m, tg.Tensor) else m.numpy()


AMOUNTS = [0.0, 0.1, 0.3, 0.5, 1 / 3, 0.9, 1.0, 0, 1, 7, 35]


@pytest.mark.parametrize("amount", AMOUNTS)
def test_l1_unstructured_matches_torch(amount):
    ours, theirs = pair()
    prune.l1_unstructured(ours, "weight", amount)
    tprune.l1_unstructured(theirs, "weight", amount)
    np.testing.assert_array_equal(mask_of(ours), mask_of(theirs))
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())


@pytest.mark.parametrize("amount", [0.5, 2.5 / 35, 0.3])
def test_amount_rounds_half_to_even_like_torch(amount):
    ours, theirs = pair()
    prune.l1_unstructured(ours, "bias", amount)  # 5 entries: 0.5 -> round(2.5) = 2
    tprune.l1_unstructured(theirs, "bias", amount)
    assert mask_of(ours, "bias").sum() == mask_of(theirs, "bias").sum() == 5 - round(amount * 5)
    np.testing.assert_array_equal(mask_of(ours, "bias"), mask_of(theirs, "bias"))


@pytest.mark.parametrize("n", [1, 2, 3, math.inf, -math.inf, "fro"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("amount", [0.4, 2, 0.0])
def test_ln_structured_matches_torch(n, dim, amount):
    ours, theirs = pair(seed=3)
    prune.ln_structured(ours, "weight", amount, n=n, dim=dim)
    tprune.ln_structured(theirs, "weight", amount, n=n, dim=dim)
    np.testing.assert_array_equal(mask_of(ours), mask_of(theirs))


class Cube(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.kernel = nn.Parameter(w)

    def forward(self, x):
        return x * self.kernel


class TorchCube(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.kernel = torch.nn.Parameter(torch.from_numpy(w.copy()))


@pytest.mark.parametrize("dim", [0, 1, 2, -2])
def test_ln_structured_on_a_3d_parameter(dim):
    w = np.random.default_rng(4).standard_normal((3, 4, 5)).astype(np.float32)
    ours, theirs = Cube(w.copy()), TorchCube(w)
    prune.ln_structured(ours, "kernel", 0.5, n=1, dim=dim)
    tprune.ln_structured(theirs, "kernel", 0.5, n=1, dim=dim)
    np.testing.assert_array_equal(mask_of(ours, "kernel"), mask_of(theirs, "kernel"))


COMPOSITIONS = [
    [("l1", 0.5), ("l1", 0.5)],
    [("l1", 0.3), ("l1", 4), ("l1", 0.2)],
    [("l1", 0.4), ("ln", 0.4, 2, 0)],
    [("ln", 2, 1, 0), ("l1", 0.5)],
    [("ln", 0.3, 2, 1), ("ln", 0.5, 2, 1)],
    [("ln", 1, 2, 0), ("ln", 2, math.inf, 1), ("l1", 3)],
]


def _apply(lib, module, step):
    if step[0] == "l1":
        lib.l1_unstructured(module, "weight", step[1])
    else:
        lib.ln_structured(module, "weight", step[1], n=step[2], dim=step[3])


@pytest.mark.parametrize("steps", COMPOSITIONS)
def test_composed_pruning_matches_torch(steps):
    ours, theirs = pair(in_f=9, out_f=6, seed=5)
    for step in steps:
        _apply(prune, ours, step)
        _apply(tprune, theirs, step)
        np.testing.assert_array_equal(mask_of(ours), mask_of(theirs))
    hook = [h for h in ours._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
    assert len(hook) == 1 and isinstance(hook[0], prune.PruningContainer) and len(hook[0]) == len(steps)


def test_second_unstructured_amount_counts_unpruned_entries():
    lin = nn.Linear(10, 10)
    prune.l1_unstructured(lin, "weight", 0.5)
    prune.l1_unstructured(lin, "weight", 0.5)
    assert mask_of(lin).sum() == 25  # half of the remaining 50


def _three_layers(lib_nn, seed):
    shapes = [(6, 8), (5, 6), (3, 5)]
    layers = [lib_nn.Linear(s[1], s[0]) for s in shapes]
    rng = np.random.default_rng(seed)
    all_w = distinct_weights((sum(a * b for a, b in shapes),), seed)
    start = 0
    for layer, s in zip(layers, shapes):
        w = all_w[start:start + s[0] * s[1]].reshape(s)
        start += s[0] * s[1]
        b = rng.standard_normal(s[0]).astype(np.float32)
        if lib_nn is nn:
            layer.load_state_dict({"weight": w, "bias": b})
        else:
            layer.load_state_dict({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)})
    return layers


@pytest.mark.parametrize("amount", [0.2, 0.75, 50, 1.0])
def test_global_unstructured_matches_torch(amount):
    ours, theirs = _three_layers(nn, 7), _three_layers(torch.nn, 7)
    prune.global_unstructured([(m, "weight") for m in ours], pruning_method=prune.L1Unstructured, amount=amount)
    tprune.global_unstructured([(m, "weight") for m in theirs], pruning_method=tprune.L1Unstructured, amount=amount)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(mask_of(a), mask_of(b))
    # layers are pruned unevenly, the total is exact
    total = sum(mask_of(a).size for a in ours)
    expected = amount if isinstance(amount, int) else round(amount * total)
    assert sum((mask_of(a) == 0).sum() for a in ours) == expected


def test_global_after_local_and_twice_matches_torch():
    ours, theirs = _three_layers(nn, 8), _three_layers(torch.nn, 8)
    prune.l1_unstructured(ours[1], "weight", 0.5)
    tprune.l1_unstructured(theirs[1], "weight", 0.5)
    for amount in (0.3, 0.3, 5):
        prune.global_unstructured([(m, "weight") for m in ours], amount=amount)
        tprune.global_unstructured([(m, "weight") for m in theirs], pruning_method=tprune.L1Unstructured, amount=amount)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(mask_of(a), mask_of(b))


def test_global_mixed_weights_and_biases():
    ours, theirs = _three_layers(nn, 9), _three_layers(torch.nn, 9)
    params_o = [(ours[0], "weight"), (ours[0], "bias"), (ours[2], "weight")]
    params_t = [(theirs[0], "weight"), (theirs[0], "bias"), (theirs[2], "weight")]
    prune.global_unstructured(params_o, amount=0.6)
    tprune.global_unstructured(params_t, pruning_method=tprune.L1Unstructured, amount=0.6)
    for (a, n), (b, _) in zip(params_o, params_t):
        np.testing.assert_array_equal(mask_of(a, n), mask_of(b, n))


def test_random_unstructured_counts_seeding_and_composition():
    tg.manual_seed(1)
    a = prune.random_unstructured(nn.Linear(10, 10), "weight", 0.3)
    tg.manual_seed(1)
    b = prune.random_unstructured(nn.Linear(10, 10), "weight", 0.3)
    c = prune.random_unstructured(nn.Linear(10, 10), "weight", 0.3)
    np.testing.assert_array_equal(mask_of(a), mask_of(b))  # same seed, same mask
    assert not np.array_equal(mask_of(a), mask_of(c))
    assert mask_of(a).sum() == 70
    before = mask_of(a).copy()
    prune.random_unstructured(a, "weight", 7)
    after = mask_of(a)
    assert after.sum() == 63 and np.all(after <= before)  # only unpruned entries were chosen


def test_random_masks_are_uniform_over_entries():
    counts = np.zeros((4, 5))
    for _ in range(400):
        counts += 1 - mask_of(prune.random_unstructured(nn.Linear(5, 4), "weight", 5))
    # each entry is pruned with probability 1/4: 100 of 400 on average, sd ~8.7
    assert counts.min() > 60 and counts.max() < 140


def test_identity_and_custom_from_mask():
    lin = nn.Linear(3, 2)
    w = lin.weight.numpy()
    prune.identity(lin, "weight")
    assert prune.is_pruned(lin) and mask_of(lin).sum() == 6
    np.testing.assert_array_equal(lin.weight.numpy(), w)
    prune.custom_from_mask(lin, "weight", np.array([[1, 0, 1], [0, 1, 1]]))
    np.testing.assert_array_equal(lin.weight.numpy(), w * np.array([[1, 0, 1], [0, 1, 1]]))


def test_reparametrisation_forward_backward_and_state_dict():
    ours, theirs = pair()
    prune.l1_unstructured(ours, "weight", 0.4)
    tprune.l1_unstructured(theirs, "weight", 0.4)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    assert [n for n, _ in ours.named_parameters()] == ["bias", "weight_orig"]
    assert [n for n, _ in ours.named_buffers()] == ["weight_mask"]
    assert not isinstance(ours.weight, nn.Parameter)
    x = np.random.default_rng(0).standard_normal((4, 7)).astype(np.float32)
    out = ours(tg.Tensor(x))
    tout = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6, atol=1e-6)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    np.testing.assert_allclose(ours.weight_orig.grad.numpy(), theirs.weight_orig.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(ours.weight_orig.grad.numpy()[mask_of(ours) == 0] == 0)


def test_weight_recomputed_before_every_forward():
    lin = nn.Linear(4, 3)
    prune.l1_unstructured(lin, "weight", 0.5)
    with tg.no_grad():
        lin.weight_orig.data += 1.0  # as an optimizer step would
    lin(tg.randn(2, 4))
    np.testing.assert_array_equal(lin.weight.numpy(), lin.weight_orig.numpy() * mask_of(lin))


def test_remove_makes_pruning_permanent_and_keeps_the_parameter_object():
    ours, theirs = pair()
    orig = ours.weight
    prune.l1_unstructured(ours, "weight", 0.5)
    tprune.l1_unstructured(theirs, "weight", 0.5)
    assert ours.weight_orig is orig
    prune.remove(ours, "weight")
    tprune.remove(theirs, "weight")
    assert ours.weight is orig and isinstance(ours.weight, nn.Parameter)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    assert not prune.is_pruned(ours) and not ours._forward_pre_hooks


def test_torch_pruned_state_dict_loads_strictly():
    ours, theirs = pair()
    tprune.l1_unstructured(theirs, "weight", 0.4)
    prune.identity(ours, "weight")
    ours.load_state_dict(theirs.state_dict())
    ours(tg.randn(1, 7))
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())


def test_pruned_checkpoint_into_unpruned_model():
    src = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    prune.global_unstructured([(src[0], "weight"), (src[2], "weight")], amount=0.5)
    state = src.state_dict()
    dst = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(RuntimeError, match=r"pruned model.*prune\.load_state_dict"):
        dst.load_state_dict(state)
    prune.load_state_dict(dst, state)  # re-applies the masks, then loads strictly
    fresh = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    assert prune.reparametrize_like(fresh, state) == ["0.weight", "2.weight"]
    assert prune.reparametrize_like(fresh, state) == []  # already reparametrised
    assert prune.is_pruned(dst)
    x = tg.randn(3, 6)
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())
    np.testing.assert_array_equal(mask_of(dst[0]), mask_of(src[0]))
    prune.remove_all(src)
    assert sorted(src.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]  # torch's order: bias first
    nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)).load_state_dict(src.state_dict())


def test_sparsity_report():
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 2))
    prune.l1_unstructured(model[0], "weight", 40)
    prune.l1_unstructured(model[2], "weight", 0.5)
    report = prune.sparsity(model)
    assert list(report) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert report["0.weight"].zeros == 40 and report["0.weight"].sparsity == 0.4
    assert report["2.weight"].sparsity == 0.5 and report["0.bias"].zeros == 0
    assert report.zeros == 50 and report.total == 132
    assert report.overall == pytest.approx(50 / 132)
    assert report.as_dict()["overall"] == pytest.approx(50 / 132)
    text = str(report)
    assert "0.weight" in text and "40.00%" in text and "overall" in text.splitlines()[-1]
    assert list(prune.sparsity(model, include="pruned")) == ["0.weight", "2.weight"]
    assert list(prune.sparsity(model, include="weights")) == ["0.weight", "2.weight"]


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("amount", [-0.1, 1.5, float("nan"), -1])
def test_amount_out_of_range(amount):
    with pytest.raises(ValueError, match="amount"):
        prune.l1_unstructured(nn.Linear(3, 3), "weight", amount)


@pytest.mark.parametrize("amount", ["0.5", None, True, [0.5]])
def test_amount_of_wrong_type(amount):
    with pytest.raises(TypeError, match="amount must be an int"):
        prune.random_unstructured(nn.Linear(3, 3), "weight", amount)


def test_amount_larger_than_the_parameter_leaves_the_module_untouched():
    lin = nn.Linear(3, 3)
    with pytest.raises(ValueError, match=r"amount=10 is larger than the 9 prunable entries"):
        prune.l1_unstructured(lin, "weight", 10)
    assert not prune.is_pruned(lin) and list(lin.state_dict()) == ["weight", "bias"]
    prune.l1_unstructured(lin, "weight", 5)
    with pytest.raises(ValueError, match=r"larger than the 4 prunable"):  # counts unpruned entries
        prune.l1_unstructured(lin, "weight", 5)
    assert mask_of(lin).sum() == 4 and prune.is_pruned(lin)
    with pytest.raises(ValueError, match="larger than the 3 prunable"):
        prune.ln_structured(nn.Linear(3, 3), "weight", 4, n=2, dim=0)


def test_unknown_or_absent_parameter():
    with pytest.raises(AttributeError, match=r"'wieght' of Linear does not exist; its parameters are: weight, bias"):
        prune.l1_unstructured(nn.Linear(3, 3), "wieght", 0.5)
    with pytest.raises(AttributeError, match="'bias' of Linear is None"):
        prune.l1_unstructured(nn.Linear(3, 3, bias=False), "bias", 0.5)
    with pytest.raises(AttributeError, match="does not exist"):
        prune.global_unstructured([(nn.Linear(2, 2), "w")], amount=0.5)


def test_remove_unpruned():
    lin = nn.Linear(3, 3)
    prune.l1_unstructured(lin, "bias", 1)
    with pytest.raises(ValueError, match=r"parameter 'weight' of Linear is not pruned.*pruned parameters of this module: bias"):
        prune.remove(lin, "weight")


def test_structured_errors():
    with pytest.raises(ValueError, match="2 or more axes"):
        prune.ln_structured(nn.Linear(3, 3), "bias", 1, n=2, dim=0)
    with pytest.raises(IndexError, match="dim=2 is out of range"):
        prune.ln_structured(nn.Linear(3, 3), "weight", 1, n=2, dim=2)
    with pytest.raises(ValueError, match="norm order"):
        prune.ln_structured(nn.Linear(3, 3), "weight", 1, n="nuc", dim=0)
    with pytest.raises(TypeError, match="only unstructured"):
        prune.global_unstructured([(nn.Linear(3, 3), "weight")], pruning_method=prune.LnStructured, amount=1, n=2, dim=0)
