"""tg.compile replays BatchNorm1d/2d steps: batch statistics recomputed at each replay, running statistics
and num_batches_tracked updated as eager updates them, bit for bit; eval mode runs eagerly and the step
replays again once back in training."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.capture import CaptureWarning, into
from tinygrad_opt.train.models import build_cnn

STEPS = 9


def mlp_batches(n: int = STEPS, batch: int = 8):
    rng = np.random.default_rng(1)
    return [(tg.Tensor(rng.standard_normal((batch, 12)).astype(np.float32)), tg.Tensor(rng.integers(0, 4, batch)))
            for _ in range(n)]


def image_batches(n: int = STEPS, batch: int = 6, size: int = 8):
    rng = np.random.default_rng(2)
    return [(tg.Tensor(rng.standard_normal((batch, 1, size, size)).astype(np.float32)),
             tg.Tensor(rng.integers(0, 10, batch))) for _ in range(n)]


def bn_mlp(momentum=0.1, affine=True, track=True):
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16, momentum=momentum, affine=affine,
                                                           track_running_stats=track),
                         nn.ReLU(), nn.Linear(16, 4))


def cli_cnn(momentum=0.1):
    """The CLI's --model cnn (conv-BN-ReLU-pool twice, fc, dropout, fc) on 8x8 images, with small widths."""
    model = build_cnn(1, 10, image_size=8, widths=(4, 6), hidden=16, dropout=0.3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = momentum
    return model


def make(build, optimizer=lambda p: tg.optim.Adam(p, lr=1e-2)):
    tg.manual_seed(0)
    model = build()
    opt = optimizer(model.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def run(step, data):
    return [step(x, y).data.copy() for x, y in data]


def assert_same_state(eager, captured):
    (model_e, opt_e), (model_c, opt_c) = eager, captured
    state_e, state_c = model_e.state_dict(), model_c.state_dict()
    assert state_e.keys() == state_c.keys()
    for key in state_e:  # weights, running_mean, running_var, num_batches_tracked
        a, b = np.asarray(state_e[key]), np.asarray(state_c[key])
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), key
    for (name, p), q in zip(model_e.named_parameters(), model_c.parameters()):
        assert p.grad.data.tobytes() == q.grad.data.tobytes(), name
        for key, value in opt_e.state[p].items():
            assert np.asarray(value).tobytes() == np.asarray(opt_c.state[q][key]).tobytes(), (name, key)


def assert_replays_like_eager(build, data, optimizer=lambda p: tg.optim.Adam(p, lr=1e-2)):
    model_e, opt_e, step_e = make(build, optimizer)
    losses_e = run(step_e, data)
    model_c, opt_c, step_c = make(build, optimizer)
    compiled = tg.compile(step_c)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        losses_c = run(compiled, data)
    assert compiled.replaying, compiled.eager_reason
    assert [a.tobytes() for a in losses_e] == [a.tobytes() for a in losses_c]
    assert_same_state((model_e, opt_e), (model_c, opt_c))
    return model_c, compiled


@pytest.fixture(params=["fresh outputs", "buffers"])
def buffers(request, monkeypatch):
    """Each test twice: the replay as it runs these tiny steps, and with every output in a buffer (capture/into.py)."""
    if request.param == "buffers":
        monkeypatch.setattr(into, "MIN_BYTES", 0)
    return request.param == "buffers"


@pytest.mark.parametrize("momentum", [0.1, None])
def test_a_batchnorm1d_mlp_replays_bit_for_bit(momentum, buffers):
    model, compiled = assert_replays_like_eager(lambda: bn_mlp(momentum), mlp_batches())
    assert bool(compiled.plan.buffered) == buffers
    norm = model[1]
    assert int(norm.num_batches_tracked.item()) == STEPS
    assert "BatchNorm" in compiled.plan.ops


@pytest.mark.parametrize("affine, track", [(False, True), (True, False)])
def test_batchnorm1d_without_affine_or_running_statistics_replays(affine, track):
    assert_replays_like_eager(lambda: bn_mlp(affine=affine, track=track), mlp_batches(),
                              optimizer=lambda p: tg.optim.SGD(p, lr=0.1, momentum=0.9))


def test_batchnorm1d_over_a_length_axis_replays():
    def build():
        return nn.Sequential(nn.Unflatten(1, (3, 4)), nn.BatchNorm1d(3), nn.Flatten(), nn.Linear(12, 4))

    assert_replays_like_eager(build, mlp_batches())


@pytest.mark.parametrize("momentum", [0.1, None])
def test_the_clis_conv_batchnorm_cnn_replays_bit_for_bit(momentum, buffers):
    model, compiled = assert_replays_like_eager(lambda: cli_cnn(momentum), image_batches())
    if buffers:
        assert compiled.plan.buffered.count("BatchNormChannels") == 2
        assert "BatchNormChannels" in compiled.plan.grad_buffered
    assert "BatchNormChannels" in compiled.plan.ops and "Dropout" in compiled.plan.ops
    # nn.Sequential's fused BatchNorm2d + ReLU node is what the replay runs, as in eager
    assert "ReLU" not in compiled.plan.ops[:compiled.plan.ops.index("MaxPool2d")]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [int(m.num_batches_tracked.item()) for m in norms] == [STEPS, STEPS]


def test_batchnorm2d_without_affine_or_running_statistics_replays():
    def build():
        return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3, affine=False), nn.ReLU(),
                             nn.BatchNorm2d(3, track_running_stats=False), nn.Flatten(), nn.Linear(3 * 6 * 6, 10))

    assert_replays_like_eager(build, image_batches(), optimizer=lambda p: tg.optim.SGD(p, lr=0.05))


def test_eval_mode_runs_eagerly_and_the_step_replays_again_in_training(buffers):
    data = image_batches(12)

    def scenario(capture: bool):
        """4 training steps, 2 in eval mode, 6 in training again (each run reseeds: the same dropout draws)."""
        model, opt, step = make(cli_cnn)
        step = tg.compile(step) if capture else step
        losses = run(step, data[:4])
        running = model[1].running_mean.data.copy()
        model.eval()
        with pytest.warns(CaptureWarning, match=r"is in eval mode; the step was captured in training mode; "
                                                r"running this call eagerly") if capture else warnings.catch_warnings():
            losses += run(step, data[4:6])
        assert model[1].running_mean.data.tobytes() == running.tobytes()  # eval: the running statistics stay
        model.train()
        with warnings.catch_warnings():
            warnings.simplefilter("error", CaptureWarning)
            losses += run(step, data[6:])
        if capture:
            assert step.replaying
        return losses, model, opt

    losses_e, model_e, opt_e = scenario(capture=False)
    losses_c, model_c, opt_c = scenario(capture=True)
    assert [a.tobytes() for a in losses_e] == [a.tobytes() for a in losses_c]
    assert_same_state((model_e, opt_e), (model_c, opt_c))


def test_a_step_captured_in_eval_mode_reads_the_running_statistics_at_each_replay():
    tg.manual_seed(0)
    model = cli_cnn()
    model.eval()

    @tg.compile
    def predict(x):
        with tg.no_grad():
            return model(x)

    x = image_batches(1)[0][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        for _ in range(3):
            predict(x)
        assert predict.replaying
        norm = model[1]
        norm.running_mean.data[...] = 0.5  # in place, as load_state_dict copies
        norm.running_var.data[...] = 2.0
        replayed = predict(x).data
    with tg.no_grad():
        assert replayed.tobytes() == model(x).data.tobytes()


def test_an_abandoned_replay_puts_the_running_statistics_back_before_running_eagerly():
    """A replay that finds a gradient set where the recorded step had None stops before the optimizer
    runs; the batch statistics' update it already made is undone, so the eager rerun counts the batch once."""
    tg.manual_seed(0)
    model = bn_mlp()
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        for p in model.parameters():
            p.grad = None  # plain Python: a replay cannot repeat it
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    model_e, opt_e, step_e = make(lambda: bn_mlp(), lambda p: tg.optim.SGD(p, lr=0.1))
    compiled = tg.compile(step)
    with pytest.warns(CaptureWarning, match=r"optimizer.zero_grad\(\)"):
        for x, y in mlp_batches():
            assert compiled(x, y).data.tobytes() == step_e(x, y).data.tobytes()
    assert compiled.eager_reason is not None
    assert_same_state((model_e, opt_e), (model, optimizer))
    assert int(model[1].num_batches_tracked.item()) == STEPS


def test_the_batch_statistics_use_the_replayed_steps_own_batch(buffers):
    """Not constants baked in at capture: a batch of other values normalises with its own statistics."""
    model_e, opt_e, step_e = make(bn_mlp)
    model_c, opt_c, step_c = make(bn_mlp)
    compiled = tg.compile(step_c)
    data = mlp_batches(4)
    scaled = [(tg.Tensor(x.data * 10 + 3), y) for x, y in mlp_batches(3)]
    for x, y in data + scaled:
        assert step_e(x, y).data.tobytes() == compiled(x, y).data.tobytes()
    assert compiled.replaying
    assert_same_state((model_e, opt_e), (model_c, opt_c))


def test_a_changed_momentum_or_dropout_rate_is_recorded_again():
    """The replay repeats the settings it recorded; changing one between steps records the step afresh."""
    data = image_batches(12)

    def scenario(capture: bool):
        model, opt, step = make(cli_cnn)
        step = tg.compile(step) if capture else step
        with warnings.catch_warnings():
            warnings.simplefilter("error", CaptureWarning)
            losses = run(step, data[:4])
            model[1].momentum = None  # a cumulative average from now on
            losses += run(step, data[4:8])
            next(m for m in model.modules() if isinstance(m, nn.Dropout)).p = 0.0
            losses += run(step, data[8:])
        if capture:
            assert step.replaying
        return losses, model, opt

    losses_e, model_e, opt_e = scenario(capture=False)
    losses_c, model_c, opt_c = scenario(capture=True)
    assert [a.tobytes() for a in losses_e] == [a.tobytes() for a in losses_c]
    assert_same_state((model_e, opt_e), (model_c, opt_c))
