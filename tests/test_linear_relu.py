"""Linear + ReLU as one node: the fused kernels against their twins, the op against the unfused
layers and PyTorch, and nn.Sequential's choice of when to fuse."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import kernels, nn, ops
from tinygrad_opt.gradcheck import gradcheck
from tinygrad_opt.kernels import head_backward, linear_reference, reference

linear_cpu = pytest.importorskip("tinygrad_opt.kernels.linear_cpu", reason="Numba is not installed")
cpu = pytest.importorskip("tinygrad_opt.kernels.cpu", reason="Numba is not installed")

DTYPES = st.sampled_from([np.float32, np.float64])


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


def arrays(seed, rows, cols, dtype, special):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((rows, cols)).astype(dtype)
    b = rng.standard_normal(cols).astype(dtype)
    g = rng.standard_normal((rows, cols)).astype(dtype)
    if special and h.size >= 4:  # NaN, -0.0, +-inf and an exact zero after the bias
        flat = h.reshape(-1)
        flat[0], flat[1], flat[2], flat[3] = np.nan, -0.0, np.inf, -np.inf
        h[-1, 0] = -b[0]
        g.reshape(-1)[-1] = np.nan
    return h, b, g


# ---- the kernels ---------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 40), cols=st.integers(1, 40), dtype=DTYPES,
       special=st.booleans())
def test_bias_relu_matches_its_reference_and_the_unfused_pair(seed, rows, cols, dtype, special):
    h, b, _ = arrays(seed, rows, cols, dtype, special)
    expected = reference.relu(h + b)
    fused = h.copy()
    out = linear_cpu.bias_relu(fused, b)
    assert out is fused  # in place over the product
    same(fused, expected)
    ref = h.copy()
    assert linear_reference.bias_relu(ref, b) is ref
    same(ref, expected)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 40), cols=st.integers(1, 40), dtype=DTYPES,
       special=st.booleans())
def test_relu_backward_bias_grad_matches_the_unfused_kernels(seed, rows, cols, dtype, special):
    h, b, g = arrays(seed, rows, cols, dtype, special)
    y = reference.relu(h + b)
    gz, gb = linear_cpu.relu_backward_bias_grad(g, y)
    same(gz, cpu.relu_backward(g, y))  # the engine's unfused kernels: bitwise
    same(gb, cpu.bias_grad(cpu.relu_backward(g, y)))
    ref_gz, ref_gb = linear_reference.relu_backward_bias_grad(g, y)
    same(gz, ref_gz)
    # NumPy sums narrow rows pairwise, the loop row after row: equal up to rounding
    np.testing.assert_allclose(gb, ref_gb, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 40), cols=st.integers(1, 40), dtype=DTYPES,
       special=st.booleans(), dead=st.floats(0.0, 1.0))
def test_the_mask_pass_that_finds_live_units_is_the_mask_pass_then_live_columns(seed, rows, cols, dtype, special,
                                                                               dead):
    h, b, g = arrays(seed, rows, cols, dtype, special)
    h[:, np.random.default_rng(seed).random(cols) < dead] = -1.0  # units dead on every row
    y = reference.relu(h + b)
    gz, gb, live = linear_cpu.relu_backward_bias_grad_live(g, y)
    want_gz, want_gb = linear_cpu.relu_backward_bias_grad(g, y)
    same(gz, want_gz)
    same(gb, want_gb)
    np.testing.assert_array_equal(live, linear_cpu.live_columns(want_gz))
    ref_gz, _, ref_live = linear_reference.relu_backward_bias_grad_live(g, y)
    same(ref_gz, gz)
    np.testing.assert_array_equal(ref_live, live)


def test_kernels_fall_back_to_the_reference_on_layouts_they_do_not_take():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((8, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    view = h.T.copy().T  # F-ordered
    out = kernels.get("bias_relu", view)(view, b)
    same(out, reference.relu(h + b))
    g = rng.standard_normal((8, 6)).astype(np.float32)[:, ::-1]
    y = reference.relu(h)
    gz, gb = kernels.get("relu_backward_bias_grad", g)(g, y)
    same(gz, reference.relu_backward(g, y))
    np.testing.assert_allclose(gb, reference.bias_grad(gz), rtol=1e-6)


def test_the_registry_serves_the_numba_versions_for_float32():
    a = np.zeros((2, 3), np.float32)
    assert kernels.which("bias_relu", a) == "cpu"
    assert kernels.which("relu_backward_bias_grad", a) == "cpu"


# ---- the op ------------------------------------------------------------------------------

def unfused(x, w, b):
    return ops.Relu.apply(ops.Linear.apply(x, w, b))


def fused_and_unfused(arrays_, upstream):
    """[y, dx, dW, db] of LinearReLU and of Linear then Relu on copies of `arrays_` (x, W, b), g = upstream."""
    results = []
    for fn in (ops.LinearReLU.apply, unfused):
        leaves = [tg.Tensor(a.copy(), requires_grad=True) for a in arrays_]
        y = fn(*leaves)
        (y * tg.Tensor(upstream)).sum().backward()
        results.append([y.numpy()] + [t.grad.numpy() for t in leaves])
    return results


@pytest.mark.parametrize("shape", [(5, 4), (4,), (2, 3, 4)])
@pytest.mark.parametrize("mode", ["auto", "reference"])
def test_linear_relu_gives_the_unfused_numbers_bitwise(shape, mode):
    rng = np.random.default_rng(1)
    arrays_ = [rng.standard_normal(shape).astype(np.float32), rng.standard_normal((6, 4)).astype(np.float32),
               rng.standard_normal(6).astype(np.float32)]
    upstream = rng.standard_normal(shape[:-1] + (6,)).astype(np.float32)
    kernels.set_kernels(mode)
    try:
        fused, plain = fused_and_unfused(arrays_, upstream)
    finally:
        kernels.set_kernels("auto")
    for got, want in zip(fused, plain):
        same(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_product_on_the_team_takes_the_bias_and_relu_and_keeps_the_unfused_numbers(monkeypatch, dtype):
    """A product large enough for the team (kernels/gemm_job.py) gets its bias and ReLU from the team's threads,
    block by block; the numbers stay those of Linear then Relu, bitwise."""
    from tinygrad_opt.kernels import blas_threads, gemm_job  # noqa: PLC0415

    if gemm_job.cblas() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS's 64-bit build: no team products")
    monkeypatch.setattr(gemm_job, "team_products", True)
    monkeypatch.setattr(blas_threads, "_engine_parallel", False)
    policy = kernels.get_blas_threads()
    kernels.set_blas_threads(2)
    biases = []
    real = gemm_job.matmul
    monkeypatch.setattr(gemm_job, "matmul", lambda a, b, out=None, layout=None, relu_bias=None:
                        biases.append(relu_bias is not None) or real(a, b, out, layout, relu_bias))
    rng = np.random.default_rng(4)
    arrays_ = [rng.standard_normal((512, 784)).astype(dtype), rng.standard_normal((256, 784)).astype(dtype),
               rng.standard_normal(256).astype(dtype)]
    arrays_[0][3, :5] = np.nan
    upstream = rng.standard_normal((512, 256)).astype(dtype)
    try:
        fused, plain = fused_and_unfused(arrays_, upstream)
    finally:
        kernels.set_blas_threads(policy)
    assert biases[0] is True  # the fused layer's forward product took the bias
    for got, want in zip(fused, plain):
        same(got, want)


def test_linear_relu_gradcheck_float64():
    rng = np.random.default_rng(2)
    x = tg.Tensor(rng.uniform(-2, 2, (3, 4)), requires_grad=True)
    w = tg.Tensor(rng.uniform(-2, 2, (5, 4)), requires_grad=True)
    b = tg.Tensor(rng.uniform(-2, 2, 5), requires_grad=True)
    with tg.no_grad():  # keep every pre-activation away from ReLU's kink at 0
        pre = x.numpy() @ w.numpy().T + b.numpy()
    assert np.abs(pre).min() > 1e-3
    assert gradcheck(lambda x, w, b: ops.LinearReLU.apply(x, w, b), (x, w, b))


def test_linear_relu_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    arrays_ = [rng.standard_normal((7, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)]
    ours = [tg.Tensor(a, requires_grad=True) for a in arrays_]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays_]
    y = ops.LinearReLU.apply(*ours)
    y.sum().backward()
    ty = torch.relu(torch.nn.functional.linear(*theirs))
    ty.sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    for t, tt in zip(ours, theirs):
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_relu_rejects_shapes_that_do_not_fit():
    x, w, b = tg.Tensor(np.zeros((2, 3))), tg.Tensor(np.zeros((4, 5))), tg.Tensor(np.zeros(4))
    with pytest.raises(tg.ShapeError, match="linear_relu: input of shape"):
        ops.LinearReLU.apply(x, w, b)
    with pytest.raises(tg.ShapeError, match="linear_relu: bias of shape"):
        ops.LinearReLU.apply(tg.Tensor(np.zeros((2, 5))), w, tg.Tensor(np.zeros(3)))


# ---- nn.Sequential's fused pair -----------------------------------------------------------

def mlp(seed=0):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def train_step(model, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.numpy(), [p.grad.numpy() for p in model.parameters()]


def one_by_one(model):
    """The same modules called in turn, so nothing is fused."""
    def run(x):
        for module in model:
            x = module(x)
        return x
    return run


def test_sequential_fuses_linear_then_relu_and_gives_the_unfused_numbers(monkeypatch):
    monkeypatch.setattr(head_backward, "MAX_OUTPUTS", 0)  # the pair alone, not joined by the head after it
    rng = np.random.default_rng(4)
    x, y = tg.Tensor(rng.standard_normal((16, 6)).astype(np.float32)), tg.Tensor(rng.integers(0, 3, 16))
    fused_model, plain_model = mlp(), mlp()
    out = fused_model(x)
    first = out._ctx.inputs[0]._ctx  # Linear(8, 3)'s input came from the fused node
    assert type(first).__name__ == "LinearReLU"
    loss_f, grads_f = train_step(fused_model, x, y)
    loss = F.cross_entropy(one_by_one(plain_model)(x), y)
    loss.backward()
    same(loss_f, loss.numpy())
    for a, p in zip(grads_f, plain_model.parameters()):
        same(a, p.grad.numpy())


def test_sequential_runs_the_layers_as_written_when_a_hook_watches_them():
    model = mlp()
    seen = []
    model[0].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    x = tg.Tensor(np.ones((2, 6), np.float32))
    model(x)
    assert seen == [(2, 8)]


def test_sequential_keeps_pruning_masks_on_a_fused_pair():
    prune = pytest.importorskip("tinygrad_opt.nn.utils.prune")
    model = mlp()
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    x = tg.Tensor(np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32))
    w = model[0].weight.numpy()
    assert (w == 0).mean() >= 0.5
    expected = np.maximum(x.numpy() @ w.T + model[0].bias.numpy(), 0) @ model[2].weight.numpy().T
    np.testing.assert_allclose(model(x).numpy(), expected + model[2].bias.numpy(), rtol=1e-5, atol=1e-6)


def test_sequential_does_not_fuse_without_a_bias_or_under_a_tracer():
    model = nn.Sequential(nn.Linear(6, 8, bias=False), nn.ReLU())
    out = model(tg.Tensor(np.ones((2, 6), np.float32), requires_grad=True))
    assert type(out._ctx).__name__ == "Relu"
    model = mlp()
    from tinygrad_opt.trace import Trace  # noqa: PLC0415

    with Trace(model):
        out = model(tg.Tensor(np.ones((2, 6), np.float32)))
    assert type(out._ctx.inputs[0]._ctx).__name__ == "Relu"


# ---- a few rows against many features: the product computed weight first (ops.linear._weight_first) ----------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 40), cols=st.integers(1, 40), dtype=DTYPES,
       special=st.booleans())
def test_bias_relu_transposed_matches_bias_relu_on_the_product_turned_back(seed, rows, cols, dtype, special):
    h, b, _ = arrays(seed, rows, cols, dtype, special)
    expected = reference.relu(h + b)
    h_t = np.ascontiguousarray(h.T)
    out = np.full((rows, cols), 7, dtype)
    assert linear_cpu.bias_relu_transposed(h_t, b, out) is out
    same(out, expected)
    ref = np.full((rows, cols), 7, dtype)
    assert linear_reference.bias_relu_transposed(h_t, b, ref) is ref
    same(ref, expected)
    assert kernels.which("bias_relu_transposed", h_t.astype(np.float32)) == "cpu"


@pytest.mark.parametrize("rows,cols", [(64, 256), (37, 250), (1, 16), (16, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_relu_transposed_on_the_seed_layers_shapes_with_special_values(rows, cols, dtype):
    """Whole blocks of 16 output columns and the remainder, NaN, infinities, -0 and exact zeros after the bias."""
    h, b, _ = arrays(3, rows, cols, dtype, special=True)
    h.reshape(-1)[-4:] = [-0.0, np.nan, -np.inf, np.finfo(dtype).smallest_subnormal][:h.size]
    out = np.full((rows, cols), 7, dtype)
    linear_cpu.bias_relu_transposed(np.ascontiguousarray(h.T), b, out)
    same(out, reference.relu(h + b))


WIDE = (3, 600, 16)  # rows, in_features, out_features: 4 * rows <= out and in >= 512: float32 takes the weight first


def test_wide_layers_take_the_weight_first_product():
    rows, inner, out = WIDE
    x, w = np.zeros((rows, inner), np.float32), np.zeros((out, inner), np.float32)
    assert ops.linear._weight_first(x, w)
    assert not ops.linear._weight_first(np.zeros((8, inner), np.float32), w)  # rows not few enough
    assert not ops.linear._weight_first(x[:, :500], w[:, :500])  # inner axis too short
    assert not ops.linear._weight_first(x.astype(np.float64), w)
    assert not ops.linear._weight_first(x.astype(np.float64), w.astype(np.float64))  # dgemm gained nothing


def test_weight_first_layers_match_torch_and_the_fused_pair_keeps_the_unfused_numbers():
    torch = pytest.importorskip("torch")
    rows, inner, out = WIDE
    dtype = np.float32
    rng = np.random.default_rng(5)
    arrays_ = [rng.standard_normal((rows, inner)).astype(dtype), rng.standard_normal((out, inner)).astype(dtype),
               rng.standard_normal(out).astype(dtype)]
    upstream = rng.standard_normal((rows, out)).astype(dtype)
    results = []
    for fn in (ops.LinearReLU.apply, unfused):
        leaves = [tg.Tensor(a.copy(), requires_grad=True) for a in arrays_]
        y = fn(*leaves)
        assert y.data.flags.c_contiguous
        (y * tg.Tensor(upstream)).sum().backward()
        results.append([y.numpy()] + [t.grad.numpy() for t in leaves])
    for fused, plain in zip(*results):
        same(fused, plain)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays_]
    ty = torch.relu(torch.nn.functional.linear(*theirs))
    (ty * torch.tensor(upstream)).sum().backward()
    tol = 1e-5
    np.testing.assert_allclose(results[0][0], ty.detach().numpy(), rtol=tol, atol=tol)
    for ours, t in zip(results[0][1:], theirs):
        np.testing.assert_allclose(ours, t.grad.numpy(), rtol=tol, atol=tol)
    plain = ops.Linear.apply(*(tg.Tensor(a) for a in arrays_))  # Linear alone, with and without bias
    np.testing.assert_allclose(plain.numpy(), torch.nn.functional.linear(*theirs).detach().numpy(), rtol=tol,
                               atol=tol)
    no_bias = ops.Linear.apply(tg.Tensor(arrays_[0]), tg.Tensor(arrays_[1]))
    assert no_bias.data.flags.c_contiguous
    np.testing.assert_allclose(no_bias.numpy(), arrays_[0] @ arrays_[1].T, rtol=tol, atol=tol)


def test_weight_first_layers_write_into_a_given_output():
    rows, inner, out = WIDE
    rng = np.random.default_rng(6)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((rows, inner), (out, inner), (out,)))
    for op, expected in ((ops.Linear, ops.Linear.forward(type("C", (), {})(), x, w, b)),
                         (ops.LinearReLU, ops.LinearReLU.forward(type("C", (), {})(), x, w, b))):
        buffer = np.empty((rows, out), np.float32)
        assert op.forward(type("C", (), {})(), x, w, b, out=buffer) is buffer
        same(buffer, expected)
