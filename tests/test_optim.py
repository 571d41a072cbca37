"""Optimizers next to torch.optim: same weights after 50 steps on the same gradient sequence."""
import pickle

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import optim

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (5,), ()]

CONFIGS = {
    "SGD": [
        dict(lr=0.1),
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.05, momentum=0.9, dampening=0.5),
        dict(lr=0.05, momentum=0.9, nesterov=True),
        dict(lr=0.1, weight_decay=0.1),
        dict(lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True, maximize=True),
        dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.05, maximize=True),
    ],
    "Adam": [
        dict(),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
        dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6),
    ],
    "AdamW": [
        dict(),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.01, weight_decay=0.5, amsgrad=True, maximize=True),
    ],
    "RMSprop": [
        dict(),
        dict(lr=0.01, momentum=0.9),
        dict(lr=0.01, centered=True),
        dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
        dict(lr=0.005, alpha=0.9, eps=1e-4, maximize=True),
    ],
    "Adagrad": [
        dict(),
        dict(lr=0.1, lr_decay=0.01),
        dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5),
        dict(lr=0.1, lr_decay=0.05, eps=1e-6, maximize=True),
    ],
}
CASES = [(name, cfg) for name, cfgs in CONFIGS.items() for cfg in cfgs]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in cfg.items()) or 'defaults'}" for name, cfg in CASES]


def gradient(w, noise):
    """A gradient that depends on the weights (so trajectories feed back) and stays bounded."""
    return np.asarray(2.0 * np.tanh(w - 0.5) + 0.1 * w + 0.5 * noise)


class Pair:
    """The same parameters under our optimizer and torch's; `step` feeds both the same gradients."""

    def __init__(self, name, options, dtype=np.float64, device="cpu", groups=None, seed=0):
        self.rng = np.random.default_rng(seed)
        inits = [self.rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.ours = [tg.Tensor(w.copy(), requires_grad=True, device=device) for w in inits]
        self.theirs = [torch.tensor(w.copy(), requires_grad=True) for w in inits]
        self.name = name
        self.opt = getattr(optim, name)(self._params(self.ours, groups), **options)
        self.topt = getattr(torch.optim, name)(self._params(self.theirs, groups), **options)

    @staticmethod
    def _params(params, groups):
        if groups is None:
            return params
        return [dict(g, params=[params[i] for i in g["params"]]) for g in groups]

    def step(self, skip=()):
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            noise = self.rng.standard_normal(p.shape)
            if i in skip:
                p.grad, q.grad = None, None
                continue
            p.grad = tg.Tensor(gradient(p.numpy(), noise).astype(p.dtype), device=p.device)
            q.grad = torch.from_numpy(gradient(q.detach().numpy(), noise).astype(p.dtype))
        assert self.opt.step() is None
        self.topt.step()

    def check(self, rtol, atol):
        for p, q in zip(self.ours, self.theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_matches_torch_float64(name, options):
    pair = Pair(name, options)
    start = [p.numpy() for p in pair.ours]
    for _ in range(50):
        pair.step()
    pair.check(rtol=1e-10, atol=1e-12)
    assert not np.allclose(pair.ours[0].numpy(), start[0])  # the weights did move


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_matches_torch_float32(name, options, device):
    pair = Pair(name, options, dtype=np.float32, device=device)
    for _ in range(50):
        pair.step()
    for p in pair.ours:
        assert p.dtype == np.float32 and p.device == device
    pair.check(rtol=5e-5, atol=5e-6)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_none_grad_is_skipped_and_steps_counted_per_parameter(name):
    options = CONFIGS[name][1]
    pair = Pair(name, options)
    frozen = pair.ours[2].numpy()
    for t in range(30):
        # parameter 2 never has a gradient; parameter 1 only on some steps
        pair.step(skip={2} | ({1} if t % 3 else set()))
    pair.check(rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(pair.ours[2].numpy(), frozen)
    assert len(pair.opt.state[pair.ours[2]]) == 0
    if "step" in pair.opt.state[pair.ours[0]]:
        assert pair.opt.state[pair.ours[0]]["step"] == 30
        assert pair.opt.state[pair.ours[1]]["step"] == 10


@pytest.mark.parametrize("name", list(CONFIGS))
def test_param_groups_with_their_own_options(name):
    extra = {"SGD": {"momentum": 0.5}, "Adam": {"betas": (0.8, 0.99)}, "AdamW": {"weight_decay": 0.3},
             "RMSprop": {"centered": True}, "Adagrad": {"lr_decay": 0.1}}[name]
    groups = [{"params": [0], "lr": 0.03}, {"params": [1, 2], **extra}]
    pair = Pair(name, dict(lr=0.01), groups=groups)
    assert pair.opt.param_groups[0]["lr"] == 0.03 and pair.opt.param_groups[1]["lr"] == 0.01
    for key, value in extra.items():
        assert pair.opt.param_groups[1][key] == value
        assert pair.opt.param_groups[0][key] == pair.opt.defaults[key]
    for _ in range(50):
        pair.step()
    pair.check(rtol=1e-10, atol=1e-12)


def test_add_param_group_matches_torch():
    pair = Pair("SGD", dict(lr=0.1, momentum=0.9), groups=[{"params": [0, 1]}])
    for _ in range(5):
        pair.step(skip={2})
    pair.opt.add_param_group({"params": pair.ours[2], "lr": 0.01})
    pair.topt.add_param_group({"params": pair.theirs[2], "lr": 0.01})
    assert pair.opt.param_groups[1]["momentum"] == 0.9
    for _ in range(10):
        pair.step()
    pair.check(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,options", [(n, c[-1]) for n, c in CONFIGS.items()], ids=list(CONFIGS))
def test_state_dict_round_trip_continues_like_an_uninterrupted_run(name, options):
    whole = Pair(name, options, seed=3)
    for _ in range(20):
        whole.step()

    first = Pair(name, options, seed=3)
    for _ in range(10):
        first.step()
    saved = pickle.loads(pickle.dumps(first.opt.state_dict()))
    for values in saved["state"].values():
        for key, value in values.items():
            assert key == "step" and isinstance(value, int) or isinstance(value, np.ndarray)
    weights = [p.numpy() for p in first.ours]
    fresh = [tg.Tensor(w, requires_grad=True) for w in weights]
    resumed = getattr(optim, name)(fresh, lr=123.0)  # hyperparameters come from the state_dict
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == first.opt.param_groups[0]["lr"]
    first.ours, first.opt = fresh, resumed
    for _ in range(10):
        first.step()
    for p, q in zip(first.ours, whole.ours):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_state_dict_is_a_copy_and_uses_torch_layout():
    pair = Pair("Adam", dict(lr=0.01, amsgrad=True), groups=[{"params": [0]}, {"params": [1, 2], "lr": 0.1}])
    for _ in range(3):
        pair.step()
    ours, theirs = pair.opt.state_dict(), pair.topt.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    assert sorted(ours["state"]) == sorted(theirs["state"]) == [0, 1, 2]
    for index in ours["state"]:
        assert set(ours["state"][index]) == set(theirs["state"][index])
        assert ours["state"][index]["step"] == int(theirs["state"][index]["step"])
    snapshot = ours["state"][0]["exp_avg"].copy()
    pair.step()
    np.testing.assert_array_equal(ours["state"][0]["exp_avg"], snapshot)  # the saved copy did not move


def test_loads_a_pytorch_state_dict_and_continues_identically():
    pair = Pair("Adam", dict(lr=0.01, amsgrad=True))
    for _ in range(10):
        pair.step()
    torch_state = pair.topt.state_dict()
    fresh = [tg.Tensor(q.detach().numpy().copy(), requires_grad=True) for q in pair.theirs]
    opt = optim.Adam(fresh)
    opt.load_state_dict(torch_state)  # torch tensors are converted; the "step" tensor becomes an int
    assert opt.param_groups[0]["amsgrad"] is True and opt.state[fresh[0]]["step"] == 10
    pair.ours, pair.opt = fresh, opt
    for _ in range(10):
        pair.step()
    pair.check(rtol=1e-10, atol=1e-12)


def test_load_state_dict_rejects_mismatched_checkpoints():
    a = tg.Tensor(np.zeros((2, 3)), requires_grad=True)
    b = tg.Tensor(np.zeros(4), requires_grad=True)
    opt = optim.Adam([a, b])
    a.grad, b.grad = tg.Tensor(np.ones((2, 3))), tg.Tensor(np.ones(4))
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameters but this optimizer's group 0 has 1"):
        optim.Adam([a]).load_state_dict(saved)
    with pytest.raises(ValueError, match="2 param groups but this optimizer has 1"):
        two = dict(saved, param_groups=saved["param_groups"] * 2)
        optim.Adam([a, b]).load_state_dict(two)
    other = [tg.Tensor(np.zeros((3, 2)), requires_grad=True), b]
    with pytest.raises(ValueError, match=r"shape \(2, 3\) but the parameter has shape \(3, 2\)"):
        optim.Adam(other).load_state_dict(saved)


def test_load_state_dict_casts_to_the_parameter_dtype():
    p = tg.Tensor(np.ones(3, dtype=np.float64), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = tg.Tensor(np.ones(3))
    opt.step()
    q = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt32 = optim.SGD([q], lr=0.1, momentum=0.9)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[q]["momentum_buffer"].dtype == np.float32


def test_training_through_autograd_matches_torch():
    """The optimizer fed by real backward passes: least squares with Adam and SGD."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 1))
    w0, b0 = rng.standard_normal((4, 1)), np.zeros(1)
    for name, options in [("Adam", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True))]:
        w, b = tg.Tensor(w0.copy(), requires_grad=True), tg.Tensor(b0.copy(), requires_grad=True)
        tw, tb = torch.tensor(w0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)
        opt, topt = getattr(optim, name)([w, b], **options), getattr(torch.optim, name)([tw, tb], **options)
        xt, yt = tg.Tensor(x), tg.Tensor(y)
        for _ in range(20):
            opt.zero_grad()
            loss = ((xt @ w + b - yt) ** 2).mean()
            loss.backward()
            opt.step()
            topt.zero_grad()
            ((torch.from_numpy(x) @ tw + tb - torch.from_numpy(y)) ** 2).mean().backward()
            topt.step()
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_zero_grad_and_closure():
    p = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tg.no_grad():  # step re-enables gradients for the closure, as torch does
        loss = opt.step(closure)
    assert calls == [1] and loss.item() == 5.0
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])
    p.grad = tg.Tensor(np.array([3.0, 4.0]))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_grad_is_not_modified_by_step():
    p = tg.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    for opt in [optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True),
                optim.Adam([p], weight_decay=0.1), optim.AdamW([p]), optim.RMSprop([p], centered=True, momentum=0.5),
                optim.Adagrad([p], weight_decay=0.1)]:
        g = np.array([0.5, 0.25])
        p.grad = tg.Tensor(g.copy())
        opt.step()
        opt.step()
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_signatures_and_defaults_follow_torch():
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    assert optim.SGD([p]).defaults["lr"] == 1e-3
    assert optim.Adam([p]).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                                            maximize=False, decoupled_weight_decay=False, foreach=None,
                                            capturable=False, differentiable=False, fused=None)  # as torch's
    assert optim.AdamW([p]).defaults["weight_decay"] == 1e-2
    assert optim.AdamW([p]).defaults["decoupled_weight_decay"] is True
    rms = optim.RMSprop([p]).defaults
    assert (rms["lr"], rms["alpha"], rms["eps"], rms["momentum"], rms["centered"]) == (1e-2, 0.99, 1e-8, 0, False)
    ada = optim.Adagrad([p], 0.1, 0.01, 0.0, 0.5, 1e-7).defaults  # torch's positional order
    assert (ada["lr"], ada["lr_decay"], ada["initial_accumulator_value"], ada["eps"]) == (0.1, 0.01, 0.5, 1e-7)


# ---- bad input ----------------------------------------------------------------------

def _param(shape=(2,)):
    return tg.Tensor(np.zeros(shape), requires_grad=True)


@pytest.mark.parametrize("make,pattern", [
    (lambda p: optim.SGD(p, lr=-0.1), r"SGD: invalid lr=-0.1; lr must be >= 0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), r"invalid momentum=-0.5"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), r"invalid weight_decay=-1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), r"nesterov=True needs momentum > 0 and dampening = 0.*momentum=0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), r"dampening=0.1"),
    (lambda p: optim.Adam(p, lr=-1e-3), r"Adam: invalid lr=-0.001"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"invalid betas\[0\]=1.0.*\[0.0, 1.0\)"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"invalid betas\[1\]=-0.1"),
    (lambda p: optim.Adam(p, betas=(0.9,)), r"betas must be a pair"),
    (lambda p: optim.AdamW(p, eps=-1e-8), r"AdamW: invalid eps=-1e-08"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), r"AdamW: invalid weight_decay=-0.01"),
    (lambda p: optim.RMSprop(p, alpha=-0.9), r"RMSprop: invalid alpha=-0.9"),
    (lambda p: optim.RMSprop(p, momentum=-0.9), r"RMSprop: invalid momentum=-0.9"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), r"Adagrad: invalid lr_decay=-1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), r"invalid initial_accumulator_value=-1"),
    (lambda p: optim.Adam(p, lr=float("nan")), r"invalid lr=nan"),
])
def test_invalid_hyperparameters_name_the_option_and_value(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make([_param()])


def test_invalid_option_in_a_param_group_names_the_group():
    with pytest.raises(ValueError, match=r"invalid lr=-1 in param group 1"):
        optim.SGD([{"params": [_param()]}, {"params": [_param()], "lr": -1}], lr=0.1)
    with pytest.raises(TypeError, match=r"lr must be a number, got '0.1'"):
        optim.Adam([_param()], lr="0.1")


def test_invalid_parameter_lists():
    p = _param()
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam(iter([]))
    with pytest.raises(TypeError, match="single Tensor.*wrap it in a list"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [_param(), p]}], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        optim.SGD([tg.Tensor(np.arange(3))], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf Tensor.*computed by"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors.*ndarray"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="no 'params' key"):
        opt.add_param_group({"lr": 0.1})


def test_gradient_shape_mismatch_is_a_clear_error():
    p = _param((2, 3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = tg.Tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(2, 3\) has a gradient of shape \(3,\)"):
        opt.step()


def test_named_parameters_are_accepted():
    a, b = _param(), _param()
    opt = optim.SGD([("w", a), ("b", b)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
