"""Every op's forward and gradient equal PyTorch's on the same inputs and upstream gradient."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_opt as tg
from op_specs import OPS, OPS_BY_NAME, op_cases, values

torch = pytest.importorskip("torch")


def run_both(spec, shapes, params, seed, device, dtype):
    rng = np.random.default_rng(seed)
    arrays = [values(rng, shape, spec.domain).astype(dtype) for shape in shapes]
    ours = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = spec.engine(*ours, **params)
    ref = spec.torch(*theirs, **params)
    upstream = rng.normal(size=ref.shape).astype(dtype)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    return out, ref, ours, theirs


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("spec", OPS, ids=lambda s: s.name)
@given(data=st.data())
def test_matches_torch(spec, dtype, device, data):
    shapes, params, seed = data.draw(op_cases(spec))
    out, ref, ours, theirs = run_both(spec, shapes, params, seed, device, dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=spec.float32_atol)
    assert out.dtype == dtype
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol)
    for mine, expected in zip(ours, theirs):
        assert mine.grad.shape == mine.shape
        assert mine.grad.dtype == dtype
        np.testing.assert_allclose(mine.grad.numpy(), expected.grad.numpy(), **tol)


def test_max_splits_gradient_among_ties_like_amax(device):
    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    ours = tg.Tensor(data, requires_grad=True, device=device)
    theirs = torch.tensor(data, requires_grad=True)
    ours.amax(dim=1).sum().backward()
    torch.amax(theirs, dim=1).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
    np.testing.assert_allclose(ours.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_integer_index_repeats_scatter_add(device):
    data = np.arange(12.0).reshape(4, 3)
    idx = np.array([0, 2, 0, 0])
    ours = tg.Tensor(data, requires_grad=True, device=device)
    theirs = torch.tensor(data, requires_grad=True)
    (ours[idx] * 2.0).sum().backward()
    (theirs[torch.from_numpy(idx)] * 2.0).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
    assert ours.grad.numpy()[0, 0] == 6.0


def test_pow_at_zero_matches_torch(device):
    base = np.array([0.0, 0.0, 2.0])
    expo = np.array([0.0, 2.0, 0.0])
    a = tg.Tensor(base, requires_grad=True, device=device)
    b = tg.Tensor(expo, requires_grad=True, device=device)
    ta, tb = torch.tensor(base, requires_grad=True), torch.tensor(expo, requires_grad=True)
    (a ** b).sum().backward()
    (ta ** tb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())


def test_clip_edges_pass_gradient_like_clamp(device):
    data = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    a = tg.Tensor(data, requires_grad=True, device=device)
    ta = torch.tensor(data, requires_grad=True)
    a.clip(-0.5, 0.5).sum().backward()
    ta.clamp(-0.5, 0.5).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())


def test_relu_and_abs_at_zero_match_torch(device):
    data = np.array([-1.0, 0.0, 1.0])
    for name in ("relu", "abs"):
        spec = OPS_BY_NAME[name]
        a = tg.Tensor(data, requires_grad=True, device=device)
        ta = torch.tensor(data, requires_grad=True)
        spec.engine(a).sum().backward()
        spec.torch(ta).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), err_msg=name)
