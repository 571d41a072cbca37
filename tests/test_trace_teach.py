"""tinygrad_opt.teach: hand-derived MLP gradients, finite differences, first optimizer steps, run_one_step."""
import numpy as np
import pytest

from tinygrad_opt.teach import mlp_by_hand
from tinygrad_opt.teach.finite_diff import numerical_gradient
from tinygrad_opt.teach.one_step import parse_sizes, run_one_step
from tinygrad_opt.teach.optimizer_by_hand import FIRST_STEPS


def _random_mlp(sizes, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(b, a)) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(size=b) for b in sizes[1:]]
    return weights, biases, rng.normal(size=sizes[0])


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("sizes", [(4, 3, 2), (3, 2), (5, 4, 3, 3)])
def test_textbook_formulas_match_torch_autograd(activation, sizes):
    torch = pytest.importorskip("torch")
    weights, biases, x = _random_mlp(sizes)
    y = 1
    act = mlp_by_hand.get_activation(activation)
    fwd = mlp_by_hand.forward(weights, biases, x, y, act)
    bwd = mlp_by_hand.backward(weights, fwd, y, act)
    tw = [torch.tensor(w, requires_grad=True) for w in weights]
    tb = [torch.tensor(b, requires_grad=True) for b in biases]
    a = torch.tensor(x)
    for l, (w, b) in enumerate(zip(tw, tb)):
        a = w @ a + b
        if l < len(tw) - 1:
            a = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[activation](a)
    loss = torch.nn.functional.cross_entropy(a[None], torch.tensor([y]))
    loss.backward()
    assert fwd.loss == pytest.approx(loss.item(), rel=1e-12)
    for l in range(1, len(sizes)):
        np.testing.assert_allclose(bwd.dW[l], tw[l - 1].grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(bwd.db[l], tb[l - 1].grad.numpy(), rtol=1e-10, atol=1e-14)


def test_derivation_text_names_each_formula():
    weights, biases, x = _random_mlp((4, 3, 2))
    act = mlp_by_hand.get_activation("tanh")
    fwd = mlp_by_hand.forward(weights, biases, x, 0, act)
    bwd = mlp_by_hand.backward(weights, fwd, 0, act)
    lines = mlp_by_hand.derivation(weights, fwd, bwd, 0, act, lambda a: "V")
    assert lines == [
        "delta2 = dL/dz2 = p - onehot(y=0)  = V",
        "dL/dW2 = delta2 h^T  = V",
        "dL/db2 = delta2  = V",
        "delta1 = (W2^T delta2) * tanh'(z1) = (W2^T delta2) * (1 - h^2)  = V",
        "dL/dW1 = delta1 x^T  = V",
        "dL/db1 = delta1  = V",
    ]
    assert mlp_by_hand.forward_formulas(3, mlp_by_hand.get_activation("relu")) == (
        "z1 = W1 x + b1,  h1 = relu(z1),  z2 = W2 h1 + b2,  h2 = relu(z2),  z3 = W3 h2 + b3,  "
        "p = softmax(z3),  L = -log p[y]")


def test_numerical_gradient_is_central_and_restores_the_array():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = w.copy()
    g = numerical_gradient(lambda: float((w ** 3).sum()), w, eps=1e-5)
    np.testing.assert_allclose(g, 3 * before ** 2, rtol=1e-9)
    np.testing.assert_array_equal(w, before)
    with pytest.raises(ValueError, match="C-contiguous"):
        numerical_gradient(lambda: 0.0, np.ones((3, 3)).T)


@pytest.mark.parametrize("name", sorted(FIRST_STEPS))
def test_first_step_formulas_match_torch_optim(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0, g = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    p = torch.tensor(w0.copy(), requires_grad=True)
    p.grad = torch.tensor(g)
    lr = 0.1
    opt = {
        "sgd": lambda: torch.optim.SGD([p], lr=lr),
        "momentum": lambda: torch.optim.SGD([p], lr=lr, momentum=0.9),
        "nesterov": lambda: torch.optim.SGD([p], lr=lr, momentum=0.9, nesterov=True),
        "rmsprop": lambda: torch.optim.RMSprop([p], lr=lr),
        "adam": lambda: torch.optim.Adam([p], lr=lr),
        "adamw": lambda: torch.optim.AdamW([p], lr=lr),
    }[name]()
    opt.step()
    np.testing.assert_allclose(FIRST_STEPS[name].update(w0, g, lr), p.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("optimizer", sorted(FIRST_STEPS))
def test_one_step_agrees_for_every_optimizer(optimizer):
    step = run_one_step("4-3-2", optimizer=optimizer, seed=2)
    assert step.agree
    e_engine, e_fd, e_opt = step.max_errors()
    assert e_engine < 1e-12 and e_fd < 1e-7 and e_opt < 1e-12
    assert [p.symbol for p in step.params] == ["W1", "b1", "W2", "b2"]
    assert [p.name for p in step.params] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(not np.allclose(p.before, p.after) for p in step.params)  # the step moved every parameter


def test_one_step_in_float32_and_deeper_models():
    step = run_one_step("5-4-3-3", activation="relu", dtype="float32", target=2)
    assert step.agree and step.y == 2 and step.sizes == (5, 4, 3, 3)
    assert [p.symbol for p in step.params] == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_a_wrong_engine_gradient_is_caught():
    step = run_one_step()
    step.params[0].engine = step.params[0].engine + 1e-6
    assert not step.agree
    assert "THEY DISAGREE" in step.text()


def test_seed_makes_the_step_reproducible():
    a, b = run_one_step(seed=5), run_one_step(seed=5)
    assert a.text() == b.text()
    assert run_one_step(seed=6).text() != a.text()


@pytest.mark.parametrize("text, message", [
    ("4", "at least 2 classes"), ("4-3-1", "at least 2 classes"), ("4-x-2", "integers joined by '-'"),
    ("4-0-2", ">= 1"), ("100-100-2", "too many to print"),
])
def test_bad_model_sizes_are_clear_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_sizes(text)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        run_one_step(activation="gelu")
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        run_one_step(optimizer="lbfgs")
    with pytest.raises(ValueError, match="target 5 is not a class"):
        run_one_step(target=5)
    with pytest.raises(ValueError, match="dtype 'float16'"):
        run_one_step(dtype="float16")
    with pytest.raises(ValueError, match="lr must be positive"):
        run_one_step(lr=0)
    assert parse_sizes("4-3-2") == parse_sizes([4, 3, 2]) == (4, 3, 2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", sorted(FIRST_STEPS))
def test_several_steps_follow_the_recurrences_for_every_optimizer(optimizer, dtype):
    step = run_one_step("4-3-2", optimizer=optimizer, lr=0.05, steps=4, dtype=dtype)
    assert step.agree and [s.t for s in step.later_steps] == [1, 2, 3, 4]
    assert all(s.worst() <= 1.0 for s in step.later_steps)
    names = set(step.later_steps[-1].params[0].engine)
    expected = {"sgd": set(), "momentum": {"buf"}, "nesterov": {"buf"}, "rmsprop": {"v"},
                "adam": {"m", "v", "m_hat", "v_hat"}, "adamw": {"m", "v", "m_hat", "v_hat"}}[optimizer]
    assert names == expected
    # the loss recorded at each step is the one its gradient came from; a few steps on one sample lower it
    assert step.later_steps[-1].loss < step.later_steps[0].loss


def test_a_wrong_state_is_caught():
    step = run_one_step(optimizer="momentum", steps=2)
    step.later_steps[1].params[0].engine["buf"] = step.later_steps[1].params[0].engine["buf"] * 1.001
    assert not step.agree and "MISMATCH" in step.text()
