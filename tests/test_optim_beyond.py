"""Optimizers beyond torch.optim next to their authors' reference packages (lion-pytorch, schedulefree,
pytorch-optimizer's SAM and Lookahead): a small net, two param groups, float64, same weights."""
import pickle

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import optim

torch = pytest.importorskip("torch")

SHAPES = [(5, 4), (5,), (3, 5), (3,)]  # a 4 -> 5 -> 3 tanh network


class Net:
    """Inputs, targets and the loss of a small tanh network, evaluated by torch for both engines."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.x = torch.from_numpy(rng.standard_normal((16, 4)))
        self.y = torch.from_numpy(rng.standard_normal((16, 3)))
        self.init = [rng.standard_normal(s) * 0.5 for s in SHAPES]

    def loss(self, params):
        w1, b1, w2, b2 = params
        return ((torch.tanh(self.x @ w1.T + b1) @ w2.T + b2 - self.y) ** 2).mean()

    def set_grads(self, ours):
        """Gradients at our weights, computed by torch, written into our .grad; returns the loss."""
        ws = [torch.tensor(p.numpy(), requires_grad=True) for p in ours]
        loss = self.loss(ws)
        loss.backward()
        for p, w in zip(ours, ws):
            p.grad = tg.Tensor(w.grad.numpy())
        return loss.item()

    def set_torch_grads(self, theirs):
        for q in theirs:
            q.grad = None
        loss = self.loss(theirs)
        loss.backward()
        return loss


def pair(net, weights=None):
    weights = net.init if weights is None else weights
    return ([tg.Tensor(w.copy(), requires_grad=True) for w in weights],
            [torch.tensor(w.copy(), requires_grad=True) for w in weights])


def groups(params, second):
    return [{"params": params[:2]}, {"params": params[2:], **second}]


def assert_same(ours, theirs, rtol=1e-12):
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=rtol, atol=1e-14)


# ---- Lion ----------------------------------------------------------------------------

@pytest.mark.parametrize("options,second", [
    (dict(lr=1e-3), dict(betas=(0.8, 0.95), weight_decay=0.1)),
    (dict(lr=3e-3, betas=(0.95, 0.98), weight_decay=0.5), dict(lr=1e-3)),
])
def test_lion_matches_lion_pytorch(options, second):
    lion_pytorch = pytest.importorskip("lion_pytorch", reason="the reference package lion-pytorch is not installed")
    net = Net()
    ours, theirs = pair(net)
    opt = optim.Lion(groups(ours, second), **options)
    ref = lion_pytorch.Lion(groups(theirs, second), **options)
    for step in range(50):
        if step == 25:  # a checkpoint round trip half-way
            saved = pickle.loads(pickle.dumps(opt.state_dict()))
            ours = [tg.Tensor(p.numpy(), requires_grad=True) for p in ours]
            opt = optim.Lion(groups(ours, second), **options)
            opt.load_state_dict(saved)
        net.set_grads(ours)
        net.set_torch_grads(theirs)
        opt.step()
        ref.step()
    assert_same(ours, theirs)


def test_lion_maximize_is_descent_on_the_negated_gradient():
    a, b = tg.Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True), tg.Tensor(np.array([1.0, -2.0, 0.5]),
                                                                              requires_grad=True)
    up, down = optim.Lion([a], lr=0.1, maximize=True), optim.Lion([b], lr=0.1)
    for g in ([0.3, -0.1, 0.0], [0.2, 0.4, -1.0]):
        a.grad, b.grad = tg.Tensor(np.array(g)), tg.Tensor(-np.array(g))
        up.step()
        down.step()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), [1.0, -2.0, 0.5])


# ---- schedule-free -------------------------------------------------------------------

SCHEDULE_FREE = [
    ("ScheduleFreeAdamW", "AdamWScheduleFree", dict(lr=0.01), dict(betas=(0.8, 0.99), weight_decay=0.05)),
    ("ScheduleFreeAdamW", "AdamWScheduleFree", dict(lr=0.02, warmup_steps=10, r=1.0, weight_lr_power=1.0,
                                                    weight_decay=0.01), dict(eps=1e-6)),
    ("ScheduleFreeSGD", "SGDScheduleFree", dict(lr=0.05), dict(momentum=0.8, weight_decay=0.05)),
    ("ScheduleFreeSGD", "SGDScheduleFree", dict(lr=0.1, warmup_steps=5, r=0.5), dict(lr=0.02)),
]


@pytest.mark.parametrize("ours_name,ref_name,options,second", SCHEDULE_FREE,
                         ids=[f"{o}-{i}" for i, (o, *_) in enumerate(SCHEDULE_FREE)])
def test_schedule_free_matches_schedulefree_in_train_and_eval(ours_name, ref_name, options, second):
    schedulefree = pytest.importorskip("schedulefree", reason="the reference package schedulefree is not installed")
    net = Net(seed=1)
    ours, theirs = pair(net)
    opt = getattr(optim, ours_name)(groups(ours, second), **options)
    ref = getattr(schedulefree, ref_name)(groups(theirs, second), **options)
    opt.train()
    ref.train()
    for step in range(50):
        if step == 25:  # evaluate (averaged weights), checkpoint, restore, go on training
            opt.eval()
            ref.eval()
            assert_same(ours, theirs)
            saved = pickle.loads(pickle.dumps(opt.state_dict()))
            ours = [tg.Tensor(p.numpy(), requires_grad=True) for p in ours]
            opt = getattr(optim, ours_name)(groups(ours, second), **options)
            opt.load_state_dict(saved)
            assert opt.param_groups[0]["k"] == 25 and opt.param_groups[0]["train_mode"] is False
            opt.train()
            ref.train()
        net.set_grads(ours)
        net.set_torch_grads(theirs)
        opt.step()
        ref.step()
    assert_same(ours, theirs)  # y, the point the gradients are taken at
    opt.eval()
    ref.eval()
    assert_same(ours, theirs)  # x, the average
    opt.eval()  # a second eval() changes nothing
    assert_same(ours, theirs)


def test_schedule_free_refuses_to_step_in_eval_mode_and_eval_gives_the_average():
    p = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.ScheduleFreeSGD([p], lr=0.1)
    p.grad = tg.Tensor(np.array([1.0, 1.0]))
    with pytest.raises(RuntimeError, match=r"ScheduleFreeSGD.step: the optimizer is in eval mode.*optimizer.train\(\)"):
        opt.step()
    opt.train()
    opt.step()
    y = p.numpy()
    opt.eval()
    z = opt.state[p]["z"]
    np.testing.assert_allclose(p.numpy(), (y - 0.1 * z) / 0.9)  # x = (y - (1 - beta) z) / beta
    opt.train()
    np.testing.assert_allclose(p.numpy(), y)


# ---- SAM -----------------------------------------------------------------------------

@pytest.fixture
def sam_reference(monkeypatch):
    """pytorch-optimizer's SAM, with its gradient norm (which it rounds to float32) in float64."""
    pytest.importorskip("pytorch_optimizer", reason="the reference package pytorch-optimizer is not installed")
    from pytorch_optimizer.optimizer import sam

    def norm_squared(param_groups, device=None, *, weight_adaptive=False):
        total = torch.zeros(1, dtype=torch.float64)
        for group in param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad * p.abs() if weight_adaptive and group.get("adaptive", False) else p.grad
                    total += g.norm() ** 2
        return total

    monkeypatch.setattr(sam, "get_global_gradient_norm", norm_squared)
    return sam.SAM


@pytest.mark.parametrize("base,options,second", [
    ("SGD", dict(lr=0.05, momentum=0.9), dict(rho=0.1)),
    ("Adam", dict(lr=0.01, rho=0.05, adaptive=True), dict(lr=0.005)),
])
def test_sam_matches_pytorch_optimizer(sam_reference, base, options, second):
    net = Net(seed=2)
    ours, theirs = pair(net)
    opt = optim.SAM(groups(ours, second), getattr(optim, base), **options)
    ref = sam_reference(groups(theirs, second), getattr(torch.optim, base), **options)
    closure_calls = []

    def closure():
        closure_calls.append(1)
        return net.set_grads(ours)

    for step in range(30):
        if step == 15:
            saved = pickle.loads(pickle.dumps(opt.state_dict()))
            ours = [tg.Tensor(p.numpy(), requires_grad=True) for p in ours]
            opt = optim.SAM(groups(ours, second), getattr(optim, base), **options)
            opt.load_state_dict(saved)
        net.set_grads(ours)  # the first gradient, before step, as with the reference
        net.set_torch_grads(theirs)
        loss = opt.step(closure)
        ref.step(lambda: net.set_torch_grads(theirs))
        assert isinstance(loss, float)
    assert len(closure_calls) == 30  # one extra forward/backward per step
    assert_same(ours, theirs)


def test_sam_computes_the_first_gradient_itself_when_there_is_none():
    net = Net(seed=3)
    ours, _ = pair(net)
    a = optim.SAM(ours, optim.SGD, lr=0.1)
    twin = [tg.Tensor(p.numpy(), requires_grad=True) for p in ours]
    b = optim.SAM(twin, optim.SGD, lr=0.1)
    calls = []

    def closure_a():
        calls.append(1)
        return net.set_grads(ours)

    a.step(closure_a)
    assert len(calls) == 2
    net.set_grads(twin)
    b.step(lambda: net.set_grads(twin))
    assert_same(ours, [torch.from_numpy(p.numpy()) for p in twin])


def test_sam_through_the_engines_autograd_lowers_the_loss():
    rng = np.random.default_rng(0)
    x, y = tg.Tensor(rng.standard_normal((32, 3))), tg.Tensor(rng.standard_normal((32, 1)))
    w = tg.Tensor(np.zeros((3, 1)), requires_grad=True)
    opt = optim.SAM([w], optim.SGD, rho=0.05, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        return loss

    first = closure().item()
    for _ in range(20):
        closure()
        opt.step(closure)
    assert closure().item() < first


# ---- Lookahead -----------------------------------------------------------------------

@pytest.mark.parametrize("base,options,k,alpha", [
    ("Adam", dict(lr=0.01), 5, 0.5),
    ("SGD", dict(lr=0.05, momentum=0.9), 3, 0.8),
])
def test_lookahead_matches_pytorch_optimizer(base, options, k, alpha):
    pytest.importorskip("pytorch_optimizer", reason="the reference package pytorch-optimizer is not installed")
    from pytorch_optimizer import Lookahead as ReferenceLookahead

    net = Net(seed=4)
    ours, theirs = pair(net)
    second = dict(lr=options["lr"] / 2)
    opt = optim.Lookahead(getattr(optim, base)(groups(ours, second), **options), k=k, alpha=alpha)
    ref = ReferenceLookahead(getattr(torch.optim, base)(groups(theirs, second), **options), k=k, alpha=alpha)
    for step in range(40):
        if step == 17:  # mid-way through a slow cycle
            saved = pickle.loads(pickle.dumps(opt.state_dict()))
            ours = [tg.Tensor(p.numpy(), requires_grad=True) for p in ours]
            opt = optim.Lookahead(getattr(optim, base)(groups(ours, second), **options), k=k, alpha=alpha)
            opt.load_state_dict(saved)
            assert opt.param_groups[0]["counter"] == 17 % k
        net.set_grads(ours)
        net.set_torch_grads(theirs)
        opt.step()
        ref.step()
    assert_same(ours, theirs)


def test_lookahead_works_with_a_scheduler():
    p = tg.Tensor(np.ones(2), requires_grad=True)
    opt = optim.Lookahead(optim.SGD([p], lr=0.1))
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    p.grad = tg.Tensor(np.ones(2))
    opt.step()
    sched.step()
    assert opt.base_optimizer.param_groups[0]["lr"] == 0.05


# ---- bad input -----------------------------------------------------------------------

def _p():
    return tg.Tensor(np.zeros(2), requires_grad=True)


@pytest.mark.parametrize("make,error,pattern", [
    (lambda: optim.Lion([_p()], lr=0.0), ValueError, r"Lion: invalid lr=0.0; lr must be > 0"),
    (lambda: optim.Lion([_p()], betas=(0.9, 1.5)), ValueError, r"Lion: invalid betas\[1\]=1.5"),
    (lambda: optim.ScheduleFreeAdamW([_p()], lr=-1.0), ValueError, r"ScheduleFreeAdamW: invalid lr=-1.0"),
    (lambda: optim.ScheduleFreeAdamW([_p()], warmup_steps=-2), ValueError, r"invalid warmup_steps=-2"),
    (lambda: optim.ScheduleFreeSGD([_p()], momentum=1.0), ValueError,
     r"ScheduleFreeSGD: invalid momentum=1.0; momentum must be in \(0.0, 1.0\)"),
    (lambda: optim.SAM([_p()], optim.SGD, rho=0.0, lr=0.1), ValueError, r"SAM: invalid rho=0.0; rho must be > 0"),
    (lambda: optim.SAM([_p()], optim.SGD, rho=-0.1, lr=0.1), ValueError, r"SAM: invalid rho=-0.1"),
    (lambda: optim.SAM([_p()], optim.SGD(_p_list(), lr=0.1)), TypeError, r"SAM: base_optimizer must be an optimizer "
                                                                          r"class"),
    (lambda: optim.SAM([_p()], optim.SGD, lr=0.1).step(), ValueError, r"SAM.step needs a closure"),
    (lambda: optim.Lookahead(optim.SGD([_p()], lr=0.1), k=0), ValueError, r"Lookahead: invalid k=0; k .*>= 1"),
    (lambda: optim.Lookahead(optim.SGD([_p()], lr=0.1), alpha=1.5), ValueError, r"Lookahead: invalid alpha=1.5"),
    (lambda: optim.Lookahead(optim.SGD, k=5), TypeError, r"Lookahead: base_optimizer must be an optimizer instance"),
])
def test_bad_input_names_optimizer_option_and_value(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def _p_list():
    return [_p()]


# ---- the Trainer -----------------------------------------------------------------------

def _trainer_setup(seed=0):
    from tinygrad_opt import nn
    from tinygrad_opt.data import DataLoader

    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    return model, DataLoader((x, y), batch_size=16, shuffle=True), DataLoader((x, y), batch_size=96)


def test_trainer_swaps_schedule_free_weights_for_evaluation():
    from tinygrad_opt.train import Trainer

    model, train, val = _trainer_setup()
    opt = optim.ScheduleFreeAdamW(model.parameters(), lr=0.01)
    seen = []
    original_eval = opt.eval

    def eval_spy():
        original_eval()
        seen.append([p.numpy().copy() for p in model.parameters()])

    opt.eval = eval_spy
    history = Trainer(model, opt, progress=False, verbose=False).fit(train, val, epochs=2)
    assert len(seen) == 2 and opt.param_groups[0]["train_mode"] is False  # evaluated (and left) on x
    x = [p.numpy().copy() for p in model.parameters()]
    opt.train()
    y = [p.numpy() for p in model.parameters()]
    for xi, yi, p in zip(x, y, model.parameters()):
        np.testing.assert_allclose(xi, (yi - 0.1 * opt.state[p]["z"]) / 0.9, rtol=1e-4, atol=1e-6)
    assert history[-1]["train_loss"] < history[0]["train_loss"] * 1.5


@pytest.mark.parametrize("make", [
    lambda params: optim.SAM(params, optim.SGD, lr=0.1, momentum=0.9),
    lambda params: optim.LBFGS(params, lr=0.5, max_iter=3),
], ids=["SAM", "LBFGS"])
def test_trainer_passes_a_closure_to_optimizers_that_need_one(make):
    from tinygrad_opt.train import Trainer

    model, train, val = _trainer_setup(seed=1)
    opt = make(model.parameters())
    closures = []
    original_step = opt.step

    def step_spy(closure=None):
        closures.append(closure)
        return original_step(closure)

    opt.step = step_spy
    history = Trainer(model, opt, progress=False, verbose=False).fit(train, val, epochs=2)
    assert len(closures) == 12 and all(callable(c) for c in closures)
    assert history[-1]["val_loss"] < history[0]["val_loss"] or history[-1]["val_acc"] > 0.6
