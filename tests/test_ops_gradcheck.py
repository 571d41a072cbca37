"""Every op's hand-written backward against central finite differences (float64)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_opt as tg
from op_specs import OPS, op_cases, values


def make_inputs(shapes, spec, seed, device, requires_grad=True):
    rng = np.random.default_rng(seed)
    return tuple(
        tg.Tensor(values(rng, shape, spec.domain), requires_grad=requires_grad, dtype="float64", device=device)
        for shape in shapes
    )


@pytest.mark.parametrize("spec", OPS, ids=lambda s: s.name)
@given(data=st.data())
def test_gradcheck(spec, device, data):
    shapes, params, seed = data.draw(op_cases(spec))
    inputs = make_inputs(shapes, spec, seed, device)
    assert tg.gradcheck(lambda *xs: spec.engine(*xs, **params), inputs)


@pytest.mark.parametrize("spec", [s for s in OPS if s.arity == 2 and s.shapes == "broadcast"], ids=lambda s: s.name)
def test_gradcheck_one_input_constant(spec, device):
    """Only one operand requires grad: the other gets no gradient and the check still holds."""
    a, b = make_inputs([(3, 1), (4,)], spec, 1, device)
    b.requires_grad = False
    assert tg.gradcheck(lambda x, y: spec.engine(x, y), (a, b))
    assert b.grad is None


@pytest.mark.parametrize("name,fn", [
    ("sum", lambda x: x.sum(axis=0)),
    ("mean_keep", lambda x: x.mean(axis=1, keepdims=True)),
    ("add", lambda x: x + x),
    ("reshape", lambda x: x.reshape(0, 3)),
    ("transpose", lambda x: x.T * 2.0),
    ("exp", lambda x: x.exp()),
])
def test_empty_tensors(name, fn, device):
    """Zero-size tensors flow through forward and backward with empty gradients."""
    x = tg.zeros(0, 3, dtype="float64", requires_grad=True, device=device)
    out = fn(x)
    out.sum().backward()
    assert x.grad.shape == (0, 3)


def test_gradcheck_deep_composition(device):
    """A composite expression mixing many ops (a small MLP with softmax cross-entropy by hand)."""
    rng = np.random.default_rng(3)
    x = tg.Tensor(rng.normal(size=(4, 5)), dtype="float64", device=device)
    w1 = tg.Tensor(rng.normal(size=(5, 3)), requires_grad=True, dtype="float64", device=device)
    b1 = tg.Tensor(rng.normal(size=(3,)), requires_grad=True, dtype="float64", device=device)
    w2 = tg.Tensor(rng.normal(size=(3, 2)), requires_grad=True, dtype="float64", device=device)
    onehot = tg.Tensor(np.eye(2)[[0, 1, 1, 0]], dtype="float64", device=device)

    def loss(w1, b1, w2):
        h = (x @ w1 + b1).tanh()
        return -(h @ w2).log_softmax(axis=1).__mul__(onehot).sum(axis=1).mean()

    assert tg.gradcheck(loss, (w1, b1, w2))
