"""Linear, ReLU and a thin Linear as one node (ops.LinearReLULinear) and its one-pass backward
(kernels/head_backward.py): the job's bits against float32 arithmetic done one operation at a time, the same from
one thread or two and whichever column blocks, and its NumPy twin's; the op against the unfused layers (bit for
bit where the job does not run), PyTorch and finite differences; and nn.Sequential's choice of when to build it."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, ops
from tinygrad_opt.gradcheck import gradcheck
from tinygrad_opt.kernels import head_backward, job_build, spin_team

from job_builds import handing_to

pytest.importorskip("numba", reason="Numba is not installed")


@pytest.fixture(autouse=True)
def job_built():
    """The compiled job, not its twin, unless a test asks for the twin."""
    head_backward.wait_built()


def bits(a):
    return np.asarray(a).view(np.uint32)


def same_bits(a, b):
    """Equal float32 arrays bit for bit (signed zeros, NaNs' bits), other arrays by value."""
    np.testing.assert_array_equal(bits(a) if a.dtype == np.float32 else a, bits(b) if b.dtype == np.float32 else b)


def alone(job, args):
    spin_team.alone(job)(args.ctypes.data)


def head_problem(rows, hidden, outputs, seed=0, dead=0.5):
    """g (rows, outputs), h = a ReLU layer's output (rows, hidden) with some units dead on every row, w2."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((rows, outputs)).astype(np.float32)
    h = np.maximum(rng.standard_normal((rows, hidden)), 0).astype(np.float32)
    h[:, rng.random(hidden) < dead] = 0
    w2 = rng.standard_normal((outputs, hidden)).astype(np.float32)
    return g, h, w2


def chain(a_values, b_values) -> np.float32:
    """((0 + a0 b0) + a1 b1) + ... in float32, a multiply then an add a term, each rounded (NumPy's scalars)."""
    acc = np.float32(0.0)
    for a, b in zip(a_values, b_values):
        acc = np.float32(acc + np.float32(a * b))
    return acc


def expected(g, h, w2):
    """(gz, db1, live, dW2) as the module docstring defines them, one scalar operation at a time."""
    rows, hidden = h.shape
    gz = np.empty((rows, hidden), np.float32)
    for r in range(rows):
        for j in range(hidden):
            gz[r, j] = np.float32(0.0) if h[r, j] <= 0 else chain(g[r], w2[:, j])
    db1 = np.zeros(hidden, np.float32)
    for r in range(rows):
        db1 = db1 + gz[r]  # float32 adds, row after row
    dw2 = np.empty((g.shape[1], hidden), np.float32)
    for k in range(g.shape[1]):
        for j in range(hidden):
            blocks = [chain(g[t:t + head_backward.BLOCK, k], h[t:t + head_backward.BLOCK, j])
                      for t in range(0, rows, head_backward.BLOCK)]
            total = blocks[0]
            for block in blocks[1:]:
                total = np.float32(total + block)
            dw2[k, j] = total
    return gz, db1, np.flatnonzero((gz != 0).any(axis=0)), dw2


# ---- the kernel ------------------------------------------------------------------------------

@pytest.mark.parametrize("rows,hidden,outputs", [(3, 16, 1), (9, 48, 3), (head_backward.BLOCK + 7, 64, 10)])
def test_the_bits_are_ordered_sums_the_mask_pass_and_blocks_of_rows(rows, hidden, outputs):
    # 64 columns: whole tiles of 48 and single vectors; 10 outputs: a tile of 8 rows and single rows of dW2;
    # BLOCK + 7 rows: two blocks of dW2's sums and row tiles of 8 and of 1 for dh
    g, h, w2 = head_problem(rows, hidden, outputs)
    assert head_backward.takes(g, h, w2)
    gz, db1, live, dw2 = head_backward.backward(g, h, w2, alone)
    want = expected(g, h, w2)
    for got, exact in zip((gz, db1, live, dw2), want):
        np.testing.assert_array_equal(got, exact)
    np.testing.assert_array_equal(bits(gz), bits(want[0]))
    np.testing.assert_array_equal(bits(db1), bits(want[1]))
    np.testing.assert_array_equal(bits(dw2), bits(want[3]))


def test_threads_and_column_blocks_do_not_change_the_bits(monkeypatch):
    g, h, w2 = head_problem(300, 80, 10, seed=2)
    first = head_backward.backward(g, h, w2, alone)
    for parts in (1, 2, 3, 5):
        monkeypatch.setattr(head_backward, "PARTS_WANTED", parts)
        for run in (alone, spin_team.run):
            for a, b in zip(first, head_backward.backward(g, h, w2, run)):
                same_bits(a, b)


def test_special_values_follow_relu_backward():
    # h <= 0 (+0, -0, negative) gives +0 even where dh is NaN; a NaN h passes dh; an infinite g makes NaN or inf
    g, h, w2 = head_problem(4, 16, 2, seed=3, dead=0.0)
    h[0, :4] = [0.0, -0.0, -1.0, np.nan]
    g[1, 0] = np.inf
    g[2, 0] = np.nan
    gz, db1, live, dw2 = head_backward.backward(g, h, w2, alone)
    assert (bits(gz[0, :3]) == 0).all()
    assert np.isnan(gz[0, 3]) == np.isnan(np.float32(g[0] @ w2[:, 3]))
    assert bits(gz[0, 3]) == bits(chain(g[0], w2[:, 3]))
    assert not np.isfinite(gz[1][h[1] > 0]).any() and np.isnan(gz[2][h[2] > 0]).all()
    assert (bits(gz[2][h[2] <= 0]) == 0).all()
    assert not np.isfinite(dw2[0]).all() and np.isnan(db1[h[2] > 0]).all()
    np.testing.assert_array_equal(live, np.flatnonzero((gz != 0).any(axis=0)))


def test_dw2_can_be_left_out_and_outputs_written_into():
    g, h, w2 = head_problem(70, 32, 4, seed=4)
    gz, _, live, dw2 = head_backward.backward(g, h, w2, alone)
    into_gz, into_dw2 = np.full_like(gz, 7), np.full_like(dw2, 7)
    got = head_backward.backward(g, h, w2, alone, True, into_gz, into_dw2)
    assert got[0] is into_gz and got[3] is into_dw2
    np.testing.assert_array_equal(bits(into_gz), bits(gz))
    np.testing.assert_array_equal(bits(into_dw2), bits(dw2))
    without = head_backward.backward(g, h, w2, alone, False)
    assert without[3] is None
    np.testing.assert_array_equal(bits(without[0]), bits(gz))
    np.testing.assert_array_equal(without[2], live)


def test_what_it_refuses(monkeypatch):
    g, h, w2 = head_problem(8, 32, 4)
    assert head_backward.takes(g, h, w2)
    assert not head_backward.takes(g.astype(np.float64), h.astype(np.float64), w2.astype(np.float64))
    assert not head_backward.takes(g, h[:, :24], w2[:, :24])  # hidden units not a multiple of 16
    assert not head_backward.takes(np.asfortranarray(g), h, w2)
    assert not head_backward.takes(g[:, :1], h, w2)  # shapes that do not fit
    wide = head_problem(8, 32, head_backward.MAX_OUTPUTS + 1)
    assert not head_backward.takes(*wide)
    monkeypatch.setattr(head_backward, "enabled", False)
    assert not head_backward.takes(g, h, w2)


# ---- the op ------------------------------------------------------------------------------------

def layers(seed, inputs, hidden, outputs, dtype):
    rng = np.random.default_rng(seed)
    return [tg.Tensor(rng.standard_normal(shape).astype(dtype) * scale, requires_grad=True)
            for shape, scale in (((hidden, inputs), 0.3), ((hidden,), 0.1), ((outputs, hidden), 0.3),
                                 ((outputs,), 0.1))]


def fused_and_unfused(x, params, g):
    results = []
    for fused in (True, False):
        for p in params:
            p.grad = None
        if fused:
            z = ops.LinearReLULinear.apply(x, *params)
        else:
            z = F.linear(F.relu(F.linear(x, params[0], params[1])), params[2], params[3])
        (z * tg.Tensor(g)).sum().backward()
        results.append((z.numpy(), [p.grad.numpy() for p in params] + ([x.grad.numpy()] if x.requires_grad else [])))
        x.grad = None
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_gives_the_unfused_bits_and_backward_too_where_the_kernel_does_not_run(dtype, monkeypatch):
    monkeypatch.setattr(head_backward, "enabled", False)
    rng = np.random.default_rng(1)
    x = tg.Tensor(rng.standard_normal((10, 24)).astype(dtype), requires_grad=True)
    g = rng.standard_normal((10, 6)).astype(dtype)
    (z, grads), (z_plain, grads_plain) = fused_and_unfused(x, layers(0, 24, 32, 6, dtype), g)
    np.testing.assert_array_equal(z, z_plain)
    for a, b in zip(grads, grads_plain):
        np.testing.assert_array_equal(a, b)


def test_leading_batch_axes_are_batch_rows():
    # the node flattens them for its products (as LinearReLU does), where the unfused Linear multiplies slices
    rng = np.random.default_rng(2)
    x = tg.Tensor(rng.standard_normal((2, 5, 24)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((2, 5, 6)).astype(np.float32)
    (z, grads), (z_plain, grads_plain) = fused_and_unfused(x, layers(0, 24, 32, 6, np.float32), g)
    np.testing.assert_array_equal(z, z_plain)
    for a, b in zip(grads, grads_plain):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize("rows", [5, 64, 300])
def test_where_the_kernel_runs_the_gradients_stay_within_rounding_of_the_unfused_ones(rows):
    rng = np.random.default_rng(rows)
    x = tg.Tensor(rng.standard_normal((rows, 40)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((rows, 10)).astype(np.float32)
    (z, grads), (z_plain, grads_plain) = fused_and_unfused(x, layers(2, 40, 48, 10, np.float32), g)
    np.testing.assert_array_equal(z, z_plain)
    for a, b in zip(grads, grads_plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_it_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x_np = rng.standard_normal((130, 40)).astype(np.float32)
    g = rng.standard_normal((130, 10)).astype(np.float32)
    params = layers(3, 40, 64, 10, np.float32)
    x = tg.Tensor(x_np, requires_grad=True)
    z = ops.LinearReLULinear.apply(x, *params)
    (z * tg.Tensor(g)).sum().backward()
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in params]
    tx = torch.tensor(x_np, requires_grad=True)
    tz = torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(tx, theirs[0], theirs[1])), theirs[2],
                                    theirs[3])
    (tz * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(z.numpy(), tz.detach().numpy(), rtol=1e-5, atol=1e-5)
    for ours, t in zip(params + [x], theirs + [tx]):
        np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_gradcheck_in_float64():
    rng = np.random.default_rng(5)
    x = tg.Tensor(rng.standard_normal((6, 5)) + 0.05, requires_grad=True)
    params = layers(4, 5, 16, 3, np.float64)
    assert gradcheck(lambda *t: ops.LinearReLULinear.apply(*t), (x, *params))


@pytest.mark.parametrize("needs", [(True, False, False, True, True), (False, True, True, False, False),
                                   (False, False, False, True, False), (True, True, True, True, True)])
def test_only_the_gradients_asked_for_are_computed(needs):
    rng = np.random.default_rng(6)
    x = tg.Tensor(rng.standard_normal((70, 24)).astype(np.float32))
    params = layers(5, 24, 32, 4, np.float32)
    inputs = [x] + params
    for t, need in zip(inputs, needs):
        t.requires_grad = need
    g = rng.standard_normal((70, 4)).astype(np.float32)
    (ops.LinearReLULinear.apply(*inputs) * tg.Tensor(g)).sum().backward()
    everything = [t.detach().requires_grad_(True) for t in inputs]
    if any(needs[:3]):  # the one pass, as where every gradient is asked for
        (ops.LinearReLULinear.apply(*everything) * tg.Tensor(g)).sum().backward()
    else:  # only the head's: the head's own backward, Linear's
        x_, w1, b1, w2, b2 = everything
        (F.linear(F.relu(F.linear(x_, w1, b1)), w2, b2) * tg.Tensor(g)).sum().backward()
    for t, full, need in zip(inputs, everything, needs):
        assert (t.grad is not None) == need
        if need:
            np.testing.assert_array_equal(bits(t.grad.numpy()), bits(full.grad.numpy()))


def test_shapes_that_do_not_fit_are_named():
    x, w1, b1 = tg.Tensor(np.zeros((2, 3))), tg.Tensor(np.zeros((4, 3))), tg.Tensor(np.zeros(4))
    with pytest.raises(tg.ShapeError, match="linear_relu: input of shape"):
        ops.LinearReLULinear.apply(tg.Tensor(np.zeros((2, 5))), w1, b1, tg.Tensor(np.zeros((2, 4))),
                                   tg.Tensor(np.zeros(2)))
    with pytest.raises(tg.ShapeError, match=r"linear: input of shape \(2, 4\) does not fit a weight of shape \(2, 5\)"):
        ops.LinearReLULinear.apply(x, w1, b1, tg.Tensor(np.zeros((2, 5))), tg.Tensor(np.zeros(2)))
    with pytest.raises(tg.ShapeError, match="linear: bias of shape"):
        ops.LinearReLULinear.apply(x, w1, b1, tg.Tensor(np.zeros((2, 4))), tg.Tensor(np.zeros(3)))


# ---- nn.Sequential's choice ----------------------------------------------------------------------

def node_names(model, features=6):
    """The graph's node names from the output back, first input first."""
    out = model(tg.Tensor(np.ones((2, features), np.float32)))
    names, node = [], out._ctx
    while node is not None:
        names.append(type(node).__name__)
        node = node.inputs[0]._ctx if node.inputs and hasattr(node.inputs[0], "_ctx") else None
    return names


def test_sequential_builds_the_node_for_a_thin_head_that_no_relu_follows():
    tg.manual_seed(0)
    assert node_names(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))) == ["LinearReLULinear"]
    limit = head_backward.MAX_OUTPUTS
    assert node_names(nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, limit))) == ["LinearReLULinear"]
    assert node_names(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, limit + 1))) == \
        ["Linear", "LinearReLU"]
    # a hidden width that is not a multiple of 16 never takes the one pass: the pair and the Linear
    assert node_names(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))) == ["Linear", "LinearReLU"]
    # a ReLU after the third layer: two pairs (the second one's Linear would lose its ReLU to the head node)
    assert node_names(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 2))) == \
        ["Linear", "LinearReLU", "LinearReLU"]
    assert node_names(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))) \
        == ["LinearReLULinear", "LinearReLU"]
    assert node_names(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4), nn.Tanh())) == \
        ["Tanh", "LinearReLULinear"]


def test_sequential_runs_the_layers_otherwise_when_the_head_has_a_hook_or_no_bias():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    seen = []
    model[2].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    assert node_names(model) == ["Linear", "LinearReLU"] and seen == [(2, 3)]
    assert node_names(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3, bias=False))) == \
        ["Linear", "LinearReLU"]
    from tinygrad_opt.trace import Trace  # noqa: PLC0415

    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    with Trace(model):
        assert node_names(model) == ["Linear", "Relu", "Linear"]


def test_the_twin_gives_the_jobs_bits_and_declines_nan_and_tall_batches(monkeypatch):
    for rows, hidden, outputs, seed in [(1, 16, 1, 0), (9, 48, 3, 1), (head_backward.BLOCK * 2 + 3, 32, 10, 2)]:
        g, h, w2 = head_problem(rows, hidden, outputs, seed)
        g[0, 0], h[-1, 0], w2[0, -1] = np.inf, -0.0, -np.inf  # infinities make inf and NaN inside: one NaN
        job = head_backward.backward(g, h, w2, alone)
        gz, db1, dw2 = np.empty_like(job[0]), np.empty_like(job[1]), np.empty_like(job[3])
        live = head_backward.twin(g, h, w2, gz, dw2, db1)
        for a, b in zip(job, (gz, db1, live, dw2)):
            same_bits(a, b)
    g, h, w2 = head_problem(8, 16, 2)
    gz, db1, dw2 = np.full((8, 16), 7, np.float32), np.full(16, 7, np.float32), np.full((2, 16), 7, np.float32)
    h[3, 3] = np.nan
    assert head_backward.twin(g, h, w2, gz, dw2, db1) is NotImplemented
    assert (gz == 7).all() and (db1 == 7).all() and (dw2 == 7).all()  # nothing written
    h[3, 3] = 1.0
    monkeypatch.setattr(head_backward, "MAX_TWIN_ROWS", 7)
    assert head_backward.twin(g, h, w2, gz, dw2, db1) is NotImplemented


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 2 * head_backward.BLOCK + 5),
       hidden=st.sampled_from([16, 32, 64]), outputs=st.integers(1, 12), special=st.booleans())
def test_the_twin_and_the_job_agree_bit_for_bit(seed, rows, hidden, outputs, special):
    g, h, w2 = head_problem(rows, hidden, outputs, seed)
    if special:  # signed zeros, infinities and subnormals (no NaN: the twin declines those)
        rng = np.random.default_rng(seed)
        for a in (g, h, w2):
            flat = a.reshape(-1)
            picks = rng.integers(0, flat.size, 3)
            flat[picks] = rng.choice(np.array([-0.0, np.inf, -np.inf, 1e-40, -1e-40], np.float32), 3)
    job = head_backward.backward(g, h, w2, spin_team.run)
    gz, db1, dw2 = np.empty_like(job[0]), np.empty_like(job[1]), np.empty_like(job[3])
    live = head_backward.twin(g, h, w2, gz, dw2, db1)
    assert live is not NotImplemented
    np.testing.assert_array_equal(live, job[2])
    for a, b in ((job[0], gz), (job[1], db1), (job[3], dw2)):
        same_nan = np.isnan(a) == np.isnan(b)
        assert same_nan.all()
        np.testing.assert_array_equal(bits(a)[~np.isnan(a)], bits(b)[~np.isnan(b)])


def test_the_first_backward_runs_the_twin_while_the_job_compiles_in_the_background(monkeypatch):
    g, h, w2 = head_problem(70, 32, 4, seed=8)
    want = head_backward.backward(g, h, w2, alone)
    handed, twins = [], []
    build = job_build.JobBuild(head_backward._compile_job)
    monkeypatch.setattr(head_backward, "_build", build)
    monkeypatch.setattr(job_build.background, "compile_later", handing_to(build, handed))
    original = head_backward.twin
    monkeypatch.setattr(head_backward, "twin", lambda *a: twins.append(1) or original(*a))
    for _ in range(2):
        got = head_backward.backward(g, h, w2, alone)
        for a, b in zip(want, got):
            same_bits(a, b)
    assert handed == [build.build_now] and twins == [1, 1]
    h[0, 0] = np.nan  # the twin declines: the job is built here, and runs
    got = head_backward.backward(g, h, w2, alone)
    assert build.job is not None and twins == [1, 1, 1]


def test_an_mlp_trains_the_same_in_eager_and_replayed_steps_with_the_kernel():
    def run(compiled):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
        optimizer = tg.optim.Adam(model.parameters(), lr=1e-2)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        step_fn = tg.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        losses = [step_fn(tg.Tensor(rng.standard_normal((150, 20)).astype(np.float32)),
                          tg.Tensor(rng.integers(0, 5, 150))).numpy().tobytes() for _ in range(5)]
        return losses, [p.data.tobytes() for p in model.parameters()]

    calls = []
    original = head_backward.backward
    try:
        head_backward.backward = lambda *a, **k: calls.append(1) or original(*a, **k)
        eager, replayed = run(False), run(True)
    finally:
        head_backward.backward = original
    assert eager == replayed
    if tg.kernels.gemm_job.takes_products() and tg.kernels.gemm_job.team_threads():
        assert calls
