"""compress: the gradual pruning schedule and pruner, structured shrinking, BatchNorm folding."""
import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, optim
from tinygrad_opt.compress import (
    GradualPruner, dead_units, fold_batchnorm, hidden_sizes, polynomial_sparsity, prunable_weights,
    prune_hidden_units, prune_to_sparsity, shrink,
)
from tinygrad_opt.data import load_dataset
from tinygrad_opt.nn.utils import prune


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# ---- the schedule -----------------------------------------------------------------------------
def test_polynomial_sparsity_formula():
    s_i, s_f, t0, dt, n = 0.1, 0.9, 100, 50, 8
    end = t0 + n * dt
    for k in range(n + 1):
        t = t0 + k * dt
        expected = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3
        assert polynomial_sparsity(t, s_f, t0, end, dt, s_i) == pytest.approx(expected, abs=1e-12)
        if k < n:  # constant until the next pruning step
            assert polynomial_sparsity(t + dt - 1, s_f, t0, end, dt, s_i) == pytest.approx(expected, abs=1e-12)
    assert polynomial_sparsity(t0 - 1, s_f, t0, end, dt, s_i) == 0.0
    assert polynomial_sparsity(end + 1000, s_f, t0, end, dt, s_i) == s_f
    values = [polynomial_sparsity(t, s_f, t0, end, dt, s_i) for t in range(t0, end + 1)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    steps = np.diff(sorted(set(values)))
    assert np.all(np.diff(steps) < 0)  # cubic: big steps first, small steps last


def test_schedule_bad_input():
    with pytest.raises(ValueError, match=r"final_sparsity must be a fraction in \[0.0, 1.0\], got 1.5"):
        polynomial_sparsity(0, 1.5, 0, 10)
    with pytest.raises(ValueError, match="end_step must be an int >= 10"):
        polynomial_sparsity(0, 0.5, 10, 5)
    with pytest.raises(ValueError, match="frequency must be an int >= 1"):
        GradualPruner(nn.Linear(3, 3), 0.5, frequency=0)
    with pytest.raises(ValueError, match="method must be one of global-l1, l1"):
        GradualPruner(nn.Linear(3, 3), 0.5, method="l2")
    with pytest.raises(ValueError, match="no prunable weights"):
        GradualPruner(nn.ReLU(), 0.5)


def test_prune_to_sparsity_global_and_per_layer():
    model = nn.Sequential(nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 5))
    pairs = prunable_weights(model)
    assert [m for m, _ in pairs] == [model[0], model[2]]
    prune_to_sparsity(pairs, 0.5)
    total = 250
    assert sum(int((getattr(m, "weight_mask").numpy() == 0).sum()) for m, _ in pairs) == total // 2
    assert prune_to_sparsity(pairs, 0.4) == 0  # never un-prunes
    prune_to_sparsity(pairs, 0.8, method="l1")
    assert int((model[0].weight_mask.numpy() == 0).sum()) == 160
    assert int((model[2].weight_mask.numpy() == 0).sum()) == 40


def test_gradual_pruner_follows_the_schedule():
    model = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 10))
    pruner = GradualPruner(model, final_sparsity=0.9, begin_step=10, end_step=50, frequency=10)
    previous = None
    for t in range(1, 61):
        pruned_to = pruner.step()
        if t in (10, 20, 30, 40, 50):
            assert pruned_to == pytest.approx(pruner.target(t))
            assert pruner.sparsity() == pytest.approx(round(pruned_to * 800) / 800)
            masks = [m.weight_mask.numpy() for m, _ in pruner.parameters]
            if previous is not None:  # pruned entries stay pruned
                assert all(np.all(b <= a) for a, b in zip(previous, masks))
            previous = masks
        else:
            assert pruned_to is None
    assert [t for t, _ in pruner.history] == [10, 20, 30, 40, 50]
    assert pruner.sparsity() == pytest.approx(0.9) and pruner.done
    state = pruner.state_dict()
    other = GradualPruner(model, final_sparsity=0.9, begin_step=10, end_step=50, frequency=10)
    other.load_state_dict(state)
    assert other.step_count == 60 and other.history == pruner.history
    assert "0.9" in repr(pruner)


def _train_digits(digits, final_sparsity):
    x, y, xt, yt = digits
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    steps_per_epoch = len(x) // 64
    pruner = None
    if final_sparsity:
        pruner = GradualPruner(model, final_sparsity, begin_step=steps_per_epoch, end_step=6 * steps_per_epoch, frequency=10)
    rng = np.random.default_rng(0)
    for epoch in range(9):
        order = rng.permutation(len(x))
        for i in range(steps_per_epoch):
            idx = order[i * 64:(i + 1) * 64]
            opt.zero_grad()
            F.cross_entropy(model(tg.Tensor(x[idx])), y[idx]).backward()
            opt.step()
            if pruner is not None:
                pruner.step()
    model.eval()
    return model, (model(tg.Tensor(xt)).numpy().argmax(1) == yt).mean()


def test_gradual_pruning_while_training_keeps_accuracy(digits):
    _, dense_acc = _train_digits(digits, 0.0)
    model, acc = _train_digits(digits, 0.8)
    assert prune.sparsity(model, include="weights").overall == pytest.approx(0.8, abs=1e-3)
    assert dense_acc > 0.9 and acc > dense_acc - 0.03  # measured: 0.928 dense, 0.903 at 80% sparsity


# ---- structured shrinking ----------------------------------------------------------------------
def _mlp_with_everything():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
        nn.Sequential(nn.Linear(16, 8), nn.Sigmoid()), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3),
    )


@pytest.mark.parametrize("amount", [0.25, 0.5, 3])
def test_shrink_is_exact_and_smaller(amount):
    model = _mlp_with_everything()
    for _ in range(3):  # give BatchNorm non-trivial running statistics
        model(tg.randn(20, 12) * 2.0 + 1.0)
    model.eval()
    with tg.no_grad():
        model[1].bias.data[:] = np.linspace(-1, 1, 16)  # dead units still send act(bias) on: folded exactly
    prune_hidden_units(model, amount)
    small = shrink(model).eval()
    x = tg.randn(9, 12)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    kept = [16 - (4 if amount == 0.25 else 8 if amount == 0.5 else 3),
            8 - (2 if amount == 0.25 else 4 if amount == 0.5 else 3),
            6 - (2 if amount == 0.25 else 3 if amount == 0.5 else 3)]
    assert hidden_sizes(small) == kept
    assert small[2].num_features == kept[0] and small[2].running_mean.shape == (kept[0],)
    assert not prune.is_pruned(small) and prune.is_pruned(model)  # the original is untouched
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
    # the small model trains like any other
    small.train()
    F.cross_entropy(small(x), [0, 1, 2, 0, 1, 2, 0, 1, 2]).backward()
    assert small[1].weight.grad.shape == (kept[0], 12)


def test_shrink_after_unstructured_pruning_and_remove():
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2))
    prune.custom_from_mask(model[0], "weight", np.array([[1] * 5, [0] * 5, [1, 0, 1, 0, 1], [0] * 5, [1] * 5, [1] * 5]))
    prune.remove(model[0], "weight")
    assert dead_units(model[0]).tolist() == [False, True, False, True, False, False]
    small = shrink(model)
    assert hidden_sizes(small) == [4]
    x = tg.randn(4, 5)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    assert (small[0].weight.numpy()[1] == [1, 0, 1, 0, 1] * model[0].weight.numpy()[2]).all()


def test_shrink_keeps_one_unit_when_all_are_dead():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    prune.ln_structured(model[0], "weight", 1.0, n=2, dim=0)
    small = shrink(model)
    assert hidden_sizes(small) == [1]
    x = tg.randn(2, 4)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)


def test_shrink_errors():
    with pytest.raises(TypeError, match="expected an nn.Sequential"):
        shrink(nn.Linear(3, 3))
    bad = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    assert hidden_sizes(shrink(bad)) == [4, 4]  # Linear -> Linear is fine

    class Mix(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"layer '1' \(Mix\) sits between Linear layers '0' and '2'"):
        shrink(nn.Sequential(nn.Linear(3, 4), Mix(), nn.Linear(4, 2)))
    no_bias = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2, bias=False))
    prune.ln_structured(no_bias[0], "weight", 2, n=1, dim=0)
    with pytest.raises(ValueError, match="has no bias to absorb"):
        shrink(no_bias)


def test_fold_batchnorm_matches_eval_mode():
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3, bias=False), nn.BatchNorm1d(3))
    for _ in range(4):
        model(tg.randn(16, 6) * 3 + 2)
    with tg.no_grad():
        model[1].weight.data[:] = np.linspace(0.5, 2, 5)
        model[4].bias.data[:] = [0.1, -0.2, 0.3]
    model.eval()
    folded = fold_batchnorm(model)
    assert [type(m).__name__ for m in folded] == ["Linear", "ReLU", "Linear"]
    x = tg.randn(7, 6)
    np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
