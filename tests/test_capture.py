"""tg.compile: a captured step replays bit for bit what the eager step computes, or runs eagerly and says why."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.capture import CaptureWarning

STEPS = 7


def batches(n: int = STEPS, batch: int = 8, features: int = 12, classes: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [(tg.Tensor(rng.standard_normal((batch, features)).astype(np.float32)),
             tg.Tensor(rng.integers(0, classes, batch))) for _ in range(n)]


def mlp(dropout: float = 0.0, features: int = 12, classes: int = 4):
    layers = [nn.Linear(features, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, classes))


def setup(make_optimizer, dropout=0.0, clip=None, schedule=None):
    """A fresh model/optimizer (same seed each time) and its step function."""
    tg.manual_seed(0)
    model = mlp(dropout)
    optimizer = make_optimizer(model.parameters())
    scheduler = schedule(optimizer) if schedule else None
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return loss

    return model, optimizer, step


def run(step, data):
    return [step(x, y).data.copy() for x, y in data]


def assert_same_run(make_optimizer, **options):
    data = batches()
    model_e, opt_e, step_e = setup(make_optimizer, **options)
    losses_e = run(step_e, data)
    model_c, opt_c, step_c = setup(make_optimizer, **options)
    compiled = tg.compile(step_c)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        losses_c = run(compiled, data)
    assert compiled.replaying, compiled.eager_reason
    for a, b in zip(losses_e, losses_c):
        assert a.tobytes() == b.tobytes()
    for (name, p), q in zip(model_e.named_parameters(), model_c.parameters()):
        assert p.data.tobytes() == q.data.tobytes(), name
        assert p.grad.data.tobytes() == q.grad.data.tobytes(), name
    for p, q in zip(model_e.parameters(), model_c.parameters()):
        for key, value in opt_e.state[p].items():
            other = opt_c.state[q][key]
            assert np.asarray(value).tobytes() == np.asarray(other).tobytes(), key
    assert opt_e.param_groups[0]["lr"] == opt_c.param_groups[0]["lr"]
    return compiled


OPTIMIZERS = {
    "sgd": lambda p: tg.optim.SGD(p, lr=0.1),
    "sgd_momentum_nesterov": lambda p: tg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda p: tg.optim.Adam(p, lr=1e-2),
    "adamw_amsgrad": lambda p: tg.optim.AdamW(p, lr=1e-2, amsgrad=True),
    "rmsprop": lambda p: tg.optim.RMSprop(p, lr=1e-2, momentum=0.5),
    "adagrad": lambda p: tg.optim.Adagrad(p, lr=0.1),
    "nadam": lambda p: tg.optim.NAdam(p, lr=1e-2),
    "lion": lambda p: tg.optim.Lion(p, lr=1e-3),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_replay_equals_eager_bit_for_bit(name):
    assert_same_run(OPTIMIZERS[name])


def test_replay_with_dropout_clipping_and_a_per_step_schedule():
    compiled = assert_same_run(OPTIMIZERS["adam"], dropout=0.3, clip=0.5,
                               schedule=lambda opt: tg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5))
    assert "_draw()" in compiled.plan.source  # the dropout seed is drawn at replay, not baked in


def test_learning_rate_changed_outside_the_step_is_read_at_replay():
    data = batches()
    results = []
    for capture in (False, True):
        model, optimizer, step = setup(OPTIMIZERS["sgd"])
        step = tg.compile(step) if capture else step
        scheduler = tg.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
        for x, y in data:
            step(x, y)
            scheduler.step()  # between steps, as an epoch schedule would be
        results.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


def test_the_replay_builds_no_graph_and_no_tensor_per_op():
    model, optimizer, step = setup(OPTIMIZERS["adam"])
    compiled = tg.compile(step)
    data = batches()
    run(compiled, data[:2])
    calls = []
    original = tg.autograd.Function.apply.__func__

    def counting(cls, *inputs, **options):
        calls.append(cls.__name__)
        return original(cls, *inputs, **options)

    tg.autograd.Function.apply = classmethod(counting)
    try:
        loss = compiled(*data[2])
    finally:
        tg.autograd.Function.apply = classmethod(original)
    assert calls == []
    assert not loss.requires_grad and loss.grad_fn is None  # the returned loss carries no graph


def test_parameters_updated_in_place_and_versions_bumped():
    model, optimizer, step = setup(OPTIMIZERS["sgd"])
    compiled = tg.compile(step)
    data = batches()
    run(compiled, data[:2])
    weight = model[0].weight
    array, version = weight.data, weight._version
    before = array.copy()
    compiled(*data[2])
    assert weight.data is array and not np.array_equal(before, array)
    assert weight._version == version + 1


def test_a_changed_batch_size_runs_eagerly_with_a_warning():
    model, optimizer, step = setup(OPTIMIZERS["adam"])
    compiled = tg.compile(step)
    data = batches()
    run(compiled, data[:3])
    x, y = data[3]
    eager_model, eager_opt, eager_step = setup(OPTIMIZERS["adam"])
    run(eager_step, data[:3])
    with pytest.warns(CaptureWarning, match=r"input 0 has shape \(5, 12\); the step was captured for shape \(8, 12\)"):
        loss = compiled(x[:5], y[:5])
    assert loss.data.tobytes() == eager_step(x[:5], y[:5]).data.tobytes()
    assert compiled.replaying  # the next full batch replays again
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        assert compiled(*data[4]).data.tobytes() == eager_step(*data[4]).data.tobytes()


def test_eval_mode_runs_eagerly_with_a_warning():
    model, optimizer, step = setup(OPTIMIZERS["adam"], dropout=0.5)
    compiled = tg.compile(step)
    data = batches()
    run(compiled, data[:3])
    model.eval()
    with pytest.warns(CaptureWarning, match="Sequential is in eval mode; the step was captured in training mode"):
        compiled(*data[3])
    model.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        compiled(*data[4])


def test_a_graph_that_changes_between_calls_stays_eager_with_a_warning():
    model, optimizer, _ = setup(OPTIMIZERS["sgd"])
    calls = []

    def step(x, y):
        calls.append(1)
        optimizer.zero_grad()
        out = model(x)
        if len(calls) % 2 == 0:
            out = out * 2.0
        loss = nn.functional.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        return loss

    compiled = tg.compile(step)
    data = batches()
    with pytest.warns(CaptureWarning, match="graph changed"):
        run(compiled, data)
    assert not compiled.replaying and len(calls) == len(data)


def test_reading_a_value_inside_the_step_is_refused():
    model, optimizer, _ = setup(OPTIMIZERS["sgd"])

    def step(x, y):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    compiled = tg.compile(step)
    with pytest.warns(CaptureWarning, match=r"reads a tensor's values into Python \(Tensor.item\)"):
        values = [compiled(x, y) for x, y in batches()]
    assert all(isinstance(v, float) for v in values) and compiled.eager_reason is not None


def test_gradients_reset_by_assignment_are_not_replayed_silently():
    model, optimizer, _ = setup(OPTIMIZERS["sgd"])

    def step(x, y):
        for p in model.parameters():
            p.grad = None  # plain Python: a replay cannot repeat it
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    eager_model, eager_opt, _ = setup(OPTIMIZERS["sgd"])

    def eager_step(x, y):
        eager_opt.zero_grad()
        loss = nn.functional.cross_entropy(eager_model(x), y)
        loss.backward()
        eager_opt.step()
        return loss

    compiled = tg.compile(step)
    data = batches()
    with pytest.warns(CaptureWarning, match=r"optimizer.zero_grad\(\)"):
        for x, y in data:
            assert compiled(x, y).data.tobytes() == eager_step(x, y).data.tobytes()
    for p, q in zip(model.parameters(), eager_model.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


def test_batch_statistics_computed_outside_ops_are_refused_not_baked():
    from tinygrad_opt import ops

    tg.manual_seed(0)
    first, last = nn.Linear(12, 16), nn.Linear(16, 4)
    optimizer = tg.optim.SGD([*first.parameters(), *last.parameters()], lr=0.1)

    def step(x, y):
        optimizer.zero_grad()
        h = first(x)
        mean = h.data.mean(axis=0, keepdims=True)  # on arrays by hand, not @replayed: new values each step
        var = h.data.var(axis=0, keepdims=True)
        h = ops.BatchNorm.apply(h, mean=mean, var=var, axes=(0,), eps=1e-5, training=True)
        loss = nn.functional.cross_entropy(last(h.relu()), y)
        loss.backward()
        optimizer.step()
        return loss

    compiled = tg.compile(step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(compiled, batches())
    messages = [str(w.message) for w in caught if issubclass(w.category, CaptureWarning)]
    assert not compiled.replaying
    assert messages == ["tg.compile(step): option 'mean' of BatchNorm is an array of shape (1, 16) that the step "
                        "makes outside the engine's ops and that changes between steps; it cannot be replayed; "
                        "the step runs eagerly from now on"]


def test_a_parameter_replaced_by_load_state_dict_is_recorded_again():
    data = batches()
    model, optimizer, step = setup(OPTIMIZERS["sgd"])
    compiled = tg.compile(step)
    run(compiled, data[:3])
    state = {k: np.array(v) * 0.5 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    eager_model, eager_opt, eager_step = setup(OPTIMIZERS["sgd"])
    run(eager_step, data[:3])
    eager_model.load_state_dict({k: v.copy() for k, v in state.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        for x, y in data[3:]:
            assert compiled(x, y).data.tobytes() == eager_step(x, y).data.tobytes()


def test_compile_rejects_non_callables_and_disable_returns_the_function():
    with pytest.raises(TypeError, match="tg.compile: expected a step function"):
        tg.compile(3)

    def f(x):
        return x

    assert tg.compile(f, disable=True) is f
    assert isinstance(tg.compile()(f), tg.capture.CompiledStep)


def test_a_small_cnn_with_pooling_and_dropout_replays_bit_for_bit():
    def make():
        tg.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Dropout(0.3), nn.Linear(4 * 4 * 4, 10))
        optimizer = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        return model, step

    rng = np.random.default_rng(0)
    data = [(tg.Tensor(rng.standard_normal((6, 1, 8, 8)).astype(np.float32)), tg.Tensor(rng.integers(0, 10, 6)))
            for _ in range(STEPS)]
    eager_model, eager_step = make()
    eager_losses = run(eager_step, data)
    captured_model, step = make()  # reseeds: the same dropout seeds as the eager run drew
    compiled = tg.compile(step)
    assert [a.tobytes() for a in run(compiled, data)] == [a.tobytes() for a in eager_losses]
    assert compiled.replaying
    for p, q in zip(eager_model.parameters(), captured_model.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


def test_the_recorder_keeps_nn_sequentials_fused_nodes():
    model, optimizer, step = setup(OPTIMIZERS["sgd"])
    compiled = tg.compile(step)
    run(compiled, batches()[:3])
    assert compiled.replaying
    assert compiled.plan.ops[0] == "LinearReLULinear"  # Linear, ReLU and the 3-class head


def test_a_hook_on_a_parameter_runs_at_each_replay():
    results = []
    for capture in (False, True):
        model, optimizer, step = setup(OPTIMIZERS["sgd"])
        seen = []
        model[0].weight.register_hook(lambda g: seen.append(1) or g * 0.5)
        step = tg.compile(step) if capture else step
        with warnings.catch_warnings():
            warnings.simplefilter("error", CaptureWarning)
            run(step, batches())
        assert len(seen) == STEPS
        results.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


def test_retain_grad_inside_the_step_is_refused():
    model, optimizer, _ = setup(OPTIMIZERS["sgd"])

    def step(x, y):
        optimizer.zero_grad()
        out = model(x)
        out.retain_grad()
        loss = nn.functional.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        return loss

    compiled = tg.compile(step)
    with pytest.warns(CaptureWarning, match="a hook or retain_grad"):
        run(compiled, batches())
    assert not compiled.replaying


def test_the_same_tensor_passed_twice_is_refused():
    w = tg.Tensor(np.ones((3, 3), np.float32), requires_grad=True)
    optimizer = tg.optim.SGD([w], lr=0.1)

    def step(a, b):
        optimizer.zero_grad()
        loss = (a @ w * b).sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = tg.compile(step)
    x = tg.Tensor(np.ones((2, 3), np.float32))
    with pytest.warns(CaptureWarning, match="arguments 0 and 1 are the same array; pass it once"):
        compiled(x, x)
    assert compiled.eager_reason is not None


def test_a_step_on_another_device_is_not_captured():
    class FakeCuda(np.ndarray):  # stands in for a cupy array: not a numpy.ndarray by type
        pass

    w = tg.Tensor(np.ones((3, 3), np.float32), requires_grad=True)
    compiled = tg.compile(lambda a: (a @ w).sum())
    x = tg.Tensor(np.ones((2, 3), np.float32))
    x.data = x.data.view(FakeCuda)
    with pytest.warns(CaptureWarning, match="capture replays CPU steps"):
        compiled(x)
    assert compiled.eager_reason is not None


def test_pruning_a_layer_between_steps_records_the_step_again():
    data = batches()
    results = []
    for capture in (False, True):
        model, optimizer, step = setup(OPTIMIZERS["sgd"])
        step = tg.compile(step) if capture else step
        losses = run(step, data[:3])
        nn.utils.prune.l1_unstructured(model[0], "weight", amount=0.5)  # adds a forward pre-hook: a new graph
        with warnings.catch_warnings():
            warnings.simplefilter("error", CaptureWarning)
            losses += run(step, data[3:])
        if capture:
            assert step.replaying and step.plan.ops[0] == "ApplyMask"
        results.append((losses, [p.data.copy() for p in model.parameters()]))
    assert [a.tobytes() for a in results[0][0]] == [a.tobytes() for a in results[1][0]]
    for a, b in zip(results[0][1], results[1][1]):
        assert a.tobytes() == b.tobytes()


def test_a_replayed_helper_takes_and_returns_step_arrays():
    """Batch statistics computed on arrays by a @replayed helper (with a running average kept in place)
    are recomputed at each replay from that step's array: the replay equals eager, running buffer included."""
    from tinygrad_opt import ops
    from tinygrad_opt.step_effects import replayed

    @replayed
    def batch_statistics(x, running):
        mean = x.mean(axis=0, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
        running *= 0.9
        running += 0.1 * mean.reshape(-1)
        return mean, var

    results = []
    for capture in (False, True):
        tg.manual_seed(0)
        first, last = nn.Linear(12, 16), nn.Linear(16, 4)
        scale = tg.Tensor(np.ones(16, np.float32), requires_grad=True)
        shift = tg.Tensor(np.zeros(16, np.float32), requires_grad=True)
        running = np.zeros(16, np.float32)
        optimizer = tg.optim.SGD([*first.parameters(), *last.parameters(), scale, shift], lr=0.1)

        def step(x, y):
            optimizer.zero_grad()
            h = first(x)
            mean, var = batch_statistics(h.data, running)
            h = ops.BatchNorm.apply(h, scale, shift, mean=mean, var=var, axes=(0,), eps=1e-5, training=True)
            loss = nn.functional.cross_entropy(last(h.relu()), y)
            loss.backward()
            optimizer.step()
            return loss

        step = tg.compile(step) if capture else step
        with warnings.catch_warnings():
            warnings.simplefilter("error", CaptureWarning)
            losses = run(step, batches())
        if capture:
            assert step.replaying
        results.append((losses, running.copy(), first.weight.data.copy()))
    (losses_e, running_e, weight_e), (losses_c, running_c, weight_c) = results
    assert [x.tobytes() for x in losses_e] == [x.tobytes() for x in losses_c]
    assert running_e.tobytes() == running_c.tobytes() and weight_e.tobytes() == weight_c.tobytes()
