"""PReLU / F.prelu and RReLU / F.rrelu against torch 2.13: values (NaN, +-0 and inf included), gradients of
sum(y * w) for the input and the weight, module state and repr, torch's errors in torch's order; RReLU's
training noise (torch's own draws cannot be reproduced: its bounds, where it applies, its gradient,
tg.manual_seed, in-place writes and a captured step's replay)."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn
from tinygrad_opt.errors import ArgumentValueError, DtypeError, ShapeError
from raised_error import raised
from weighted_loss import weighted_sum

torch = pytest.importorskip("torch")
F = nn.functional
TF = torch.nn.functional

NAN, INF = np.nan, np.inf


def _data(shape, dtype=np.float64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=shape).astype(dtype)
    edges = np.array([NAN, INF, -INF, 0.0, -0.0], dtype=dtype)
    flat = data.reshape(-1)
    flat[: min(flat.size, 5)] = edges[: min(flat.size, 5)]
    return data


def _same(ours, theirs, what):
    ours, theirs = ours.detach().numpy() if hasattr(ours, "detach") else ours.numpy(), theirs.detach().numpy()
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    assert np.array_equal(ours, theirs, equal_nan=True), f"{what}: {ours} != {theirs}"
    number = ~np.isnan(ours)
    assert np.array_equal(np.signbit(ours[number]), np.signbit(theirs[number])), f"{what}: signs of zero differ"


@pytest.mark.parametrize("shape,weights", [((), 1), ((5,), 1), ((3, 4), 1), ((3, 4), 4), ((2, 3, 4, 2), 3),
                                           ((2, 3, 5), 3), ((0, 2), 2), ((2, 1, 3), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prelu_matches_torch(shape, weights, dtype):
    data = _data(shape, dtype)
    slopes = np.linspace(-0.5, 1.5, weights).astype(dtype)
    for weight in ([slopes, slopes.reshape(())] if weights == 1 else [slopes]):
        ours_x, ours_w = tg.tensor(data, requires_grad=True), tg.tensor(weight, requires_grad=True)
        theirs_x, theirs_w = torch.tensor(data, requires_grad=True), torch.tensor(weight, requires_grad=True)
        ours, theirs = F.prelu(ours_x, ours_w), TF.prelu(theirs_x, theirs_w)
        _same(ours, theirs, f"prelu {shape} {weight.shape}")
        weighted_sum(ours, tg).backward()
        weighted_sum(theirs, torch).backward()
        np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(ours_w.grad.numpy(), theirs_w.grad.numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)
        assert ours_w.grad.shape == ours_w.shape
    _same(tg.tensor(data).prelu(tg.tensor(slopes)), torch.tensor(data).prelu(torch.tensor(slopes)), "Tensor.prelu")
    _same(tg.prelu(tg.tensor(data), tg.tensor(slopes)), torch.prelu(torch.tensor(data), torch.tensor(slopes)),
          "tg.prelu")


def test_prelu_float16_forward_matches_torch():
    data = _data((3, 4), np.float16)
    _same(F.prelu(tg.tensor(data), tg.tensor([0.3], dtype=tg.float16)),
          TF.prelu(torch.tensor(data), torch.tensor([0.3], dtype=torch.float16)), "float16")



@pytest.mark.parametrize("call,expected,words", [
    (lambda m: m.prelu(m.zeros(2, 4, dtype=m.int64), m.zeros(2, 2, dtype=m.float64)), DtypeError,
     "Type promoting not supported"),
    (lambda m: m.prelu(m.tensor(1.0), m.zeros(2, 2)), ShapeError, "Not allow zero-dim input tensor"),
    (lambda m: m.prelu(m.zeros(2, 4), m.zeros(1, 2)), ShapeError, "Mismatch of parameter numbers and input channel"),
    (lambda m: m.prelu(m.zeros(4), m.zeros(4)), ShapeError, "channel size = 1"),
    (lambda m: m.prelu(m.zeros(2, 4), m.zeros(0)), ShapeError, "Found parameter numbers = 0"),
    (lambda m: m.prelu(m.zeros(2, 1), m.zeros(1, 1)), ShapeError, "Expected `weight` to be a scalar or 1D tensor"),
    (lambda m: m.prelu(m.zeros(2, 4, dtype=m.int64), m.zeros(1, dtype=m.int64)), DtypeError, "not implemented"),
    (lambda m: m.prelu(m.zeros(2), 0.25), TypeError, "must be Tensor"),
])
def test_prelu_errors_in_torch_order(call, expected, words):
    ours, theirs = raised(call, tg), raised(call, torch)
    assert isinstance(ours, expected) and isinstance(ours, type(theirs)), (ours, theirs)
    assert "prelu" in str(ours)
    assert words.replace("must be Tensor", "must be a Tensor") in str(ours) and words in str(theirs)


def test_prelu_module_matches_torch():
    ours, theirs = nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1)
    assert repr(ours) == repr(theirs) == "PReLU(num_parameters=3)"
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert ours.weight.dtype == np.float32 and np.array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    assert nn.PReLU(2, dtype=tg.float64).weight.dtype == np.float64
    assert nn.PReLU(0).weight.shape == (0,) and nn.PReLU(1, init=True).weight.numpy().tolist() == [1.0]
    theirs.weight.data = torch.tensor([0.5, -0.25, 2.0])
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    data = _data((2, 3, 4), np.float32)
    x, tx = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    _same(y, ty, "PReLU(3)")
    weighted_sum(y, tg).backward()
    weighted_sum(ty, torch).backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5, equal_nan=True)
    ours.reset_parameters()
    assert ours.weight.numpy().tolist() == pytest.approx([0.1] * 3)
    with pytest.raises(TypeError, match="num_parameters"):
        nn.PReLU(2.5)
    with pytest.raises(RuntimeError, match="num_parameters"):
        nn.PReLU(-1)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_rrelu_eval_is_leaky_relu_at_the_mean_slope_as_torch(dtype):
    data = _data((3, 7), dtype)
    for lower, upper in [(1 / 8, 1 / 3), (0.2, 0.2), (-1.0, 2.0), (1, 2)]:
        x, tx = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        y, ty = F.rrelu(x, lower, upper), TF.rrelu(tx, lower, upper)
        _same(y, ty, f"rrelu eval {lower} {upper}")
        module, theirs_module = nn.RReLU(lower, upper).eval(), torch.nn.RReLU(lower, upper).eval()
        _same(module(tg.tensor(data)), theirs_module(torch.tensor(data)), "RReLU.eval()")
        y.backward(tg.tensor(np.linspace(-2, 2, y.numel()).reshape(y.shape).astype(dtype)))
        ty.backward(torch.tensor(np.linspace(-2, 2, y.numel()).reshape(y.shape).astype(dtype)))
        assert np.array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rrelu_training_noise_is_torchs_distribution_and_gradient(dtype):
    """x * r with r in [lower, upper) where x <= 0 (0 and -0.0 too), x where x > 0 or NaN; dL/dx = g * r
    (g at x > 0 and at NaN, as torch's noise of 1 there)."""
    data = np.concatenate([-np.ones(20000), _data((50,), seed=3).reshape(-1)]).astype(dtype)
    x = tg.tensor(data, requires_grad=True)
    tg.manual_seed(5)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    y.backward(tg.ones_like(y))
    noise = x.grad.numpy()
    nonpositive = data <= 0
    assert np.all((noise[nonpositive] >= np.asarray(0.1, dtype)) & (noise[nonpositive] <= np.asarray(0.3, dtype)))
    assert np.all(noise[~nonpositive] == 1)
    assert abs(float(noise[:20000].mean()) - 0.2) < 0.003 and len(np.unique(noise[:20000])) > 10000
    expected = data * noise  # the gradient is the noise the forward pass multiplied by
    assert np.array_equal(y.numpy(), expected, equal_nan=True)
    assert np.array_equal(np.signbit(y.numpy()), np.signbit(expected))
    tg.manual_seed(5)
    assert np.array_equal(F.rrelu(tg.tensor(data), 0.1, 0.3, training=True).numpy(), y.numpy(), equal_nan=True)
    fresh = F.rrelu(tg.tensor(data), 0.1, 0.3, training=True).numpy()
    assert not np.array_equal(fresh, y.numpy(), equal_nan=True)  # a new draw on every call
    tx = torch.tensor(data, requires_grad=True)
    ty = TF.rrelu(tx, 0.1, 0.3, training=True)
    ty.backward(torch.ones_like(ty))
    assert np.array_equal(np.isnan(ty.detach().numpy()), np.isnan(y.numpy()))
    assert np.array_equal(tx.grad.numpy()[~nonpositive], noise[~nonpositive])
    assert np.array_equal(ty.detach().numpy() == tx.grad.numpy() * data, y.numpy() == noise * data)


def test_rrelu_training_gradcheck_with_a_fixed_seed():
    x = tg.tensor(np.array([-1.5, -0.3, 0.4, 2.0, -0.8]), requires_grad=True)

    def fn(t):
        tg.manual_seed(11)  # the same noise on every evaluation
        return F.rrelu(t, 0.1, 0.6, training=True)

    assert tg.gradcheck(fn, (x,))


def test_rrelu_inplace_as_torch():
    data = _data((2, 5), np.float32)
    ours, theirs = tg.tensor(data), torch.tensor(data)
    assert F.rrelu(ours, inplace=True) is ours and TF.rrelu(theirs, inplace=True) is theirs
    _same(ours, theirs, "rrelu inplace eval")
    ours, theirs = tg.tensor(data), torch.tensor(data)
    assert F.rrelu_(ours, 0.1, 0.3) is ours and torch.nn.RReLU(0.1, 0.3, inplace=True).eval()(theirs) is theirs
    _same(ours, theirs, "rrelu_")
    assert tg.rrelu_(tg.tensor(data)).numpy().tolist() == F.rrelu(tg.tensor(data)).numpy().tolist() or \
        np.isnan(data).any()
    for library, module in ((tg, F), (torch, TF)):
        leaf = library.tensor(data, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            module.rrelu(leaf, inplace=True)
    leaf = tg.tensor(np.array([1.0, -2.0, -0.5]), requires_grad=True)
    h = leaf * 1
    tg.manual_seed(2)
    out = F.rrelu(h, 0.1, 0.3, training=True, inplace=True)
    assert out is h
    h.sum().backward()
    assert np.array_equal(h.numpy(), np.array([1.0, -2.0, -0.5]) * leaf.grad.numpy())
    with tg.no_grad():
        leaf = tg.tensor(data, requires_grad=True)
        assert F.rrelu(leaf, inplace=True) is leaf and leaf.requires_grad


@pytest.mark.parametrize("call,expected,words", [
    (lambda m, f: f.rrelu(m.zeros(2, dtype=m.int64), float("nan"), 0.3), ArgumentValueError,
     "lower bound must be finite, got nan"),
    (lambda m, f: f.rrelu(m.zeros(2, dtype=m.int64), 0.1, float("inf")), ArgumentValueError,
     "upper bound must be finite, got inf"),
    (lambda m, f: f.rrelu(m.zeros(2, dtype=m.int64), 0.5, 0.2), ArgumentValueError,
     "Lower bound should be less than or equal to the upper bound"),
    (lambda m, f: f.rrelu(m.zeros(2), 0.5, 0.2, training=True), ArgumentValueError, "Lower bound should be"),
    (lambda m, f: f.rrelu(m.zeros(2, dtype=m.int64)), DtypeError, "not implemented"),
    (lambda m, f: f.rrelu(m.zeros(2, dtype=m.int64), training=True), DtypeError, "not implemented"),
    (lambda m, f: f.rrelu(m.zeros(2, dtype=m.float16), training=True), DtypeError, "not implemented"),
    (lambda m, f: f.rrelu(m.zeros(2), training=1), TypeError, "training"),
    (lambda m, f: f.rrelu(m.zeros(2), "a"), TypeError, "lower"),
    (lambda m, f: f.rrelu(m.zeros(2), float("nan"), 0.3, training=None), TypeError, "training"),
])
def test_rrelu_errors_in_torch_order(call, expected, words):
    ours, theirs = raised(lambda m: call(m, F), tg), raised(lambda m: call(m, TF), torch)
    assert isinstance(ours, expected) and isinstance(ours, type(theirs)), (ours, theirs)
    assert words in str(ours) and "rrelu" in str(ours)
    if expected is not TypeError:
        assert words.split(",")[0].split(" (")[0] in str(theirs) or isinstance(ours, DtypeError)


def test_rrelu_module_and_function_forms():
    assert repr(nn.RReLU()) == repr(torch.nn.RReLU()) == "RReLU(lower=0.125, upper=0.3333333333333333)"
    assert repr(nn.RReLU(0.1, 0.3, True)) == repr(torch.nn.RReLU(0.1, 0.3, True))
    module = nn.RReLU(0.1, 0.3)
    x = tg.tensor(-np.ones(1000, dtype=np.float32))
    trained, evaluated = module(x).numpy(), module.eval()(x).numpy()
    assert len(np.unique(trained)) > 100 and np.all(evaluated == np.float32(-0.2))
    tg.manual_seed(4)
    first = tg.rrelu(x, 0.1, 0.3, True, None).numpy()
    tg.manual_seed(4)
    assert np.array_equal(first, F.rrelu(x, 0.1, 0.3, True).numpy())
    with pytest.raises(TypeError, match="generator"):
        tg.rrelu(x, 0.1, 0.3, True, generator=object())
    assert F.rrelu(x, tg.tensor(0.1), 0.3).numpy()[0] == np.float32(-0.2)


def test_a_captured_step_with_rrelu_draws_the_noise_eager_draws():
    def make():
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.RReLU(0.1, 0.4), nn.Linear(8, 3), nn.PReLU())
        optimizer = tg.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        return model, step

    rng = np.random.default_rng(0)
    data = [(tg.tensor(rng.standard_normal((5, 6)).astype(np.float32)), tg.tensor(rng.integers(0, 3, 5)))
            for _ in range(6)]
    eager_model, eager_step = make()
    eager = [eager_step(x, y).numpy().tobytes() for x, y in data]
    captured_model, step = make()
    compiled = tg.compile(step)
    assert [compiled(x, y).numpy().tobytes() for x, y in data] == eager
    assert compiled.replaying and "Rrelu" in compiled.plan.ops and "Prelu" in compiled.plan.ops
    for p, q in zip(eager_model.parameters(), captured_model.parameters()):
        assert p.data.tobytes() == q.data.tobytes()
