"""Conv2d, padding modes, pooling, batch_norm and dropout2d: forward and gradients equal to torch's."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
import tinygrad_opt.ops.conv as conv_ops


def run_both(engine_fn, torch_fn, arrays, seed=0, atol=1e-10):
    """Call both on float64 copies of `arrays`, backpropagate one random upstream gradient, compare all."""
    ours = [tg.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = engine_fn(*ours), torch_fn(*theirs)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=atol)
    g = np.random.default_rng(seed).standard_normal(tuple(ref.shape))
    (out * tg.Tensor(g)).sum().backward()
    ref.backward(torch.tensor(g))
    for mine, torchs in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.data, torchs.grad.numpy(), rtol=1e-9, atol=atol)


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.sampled_from(["same", "valid"])))
    if padding == "same":
        stride = (1, 1)
    pads = (0, 0) if isinstance(padding, str) else padding
    h = draw(st.integers(dilation[0] * (kh - 1) + 1 - 2 * pads[0], 9).filter(lambda v: v >= 1))
    w = draw(st.integers(dilation[1] * (kw - 1) + 1 - 2 * pads[1], 9).filter(lambda v: v >= 1))
    return dict(n=draw(st.integers(1, 3)), cin=cin, cout=cout, k=(kh, kw), hw=(h, w), stride=stride, padding=padding,
                dilation=dilation, groups=groups, bias=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


@settings(max_examples=60, deadline=None)
@given(conv_cases())
def test_conv2d_matches_torch(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["cin"], *case["hw"]))
    w = rng.standard_normal((case["cout"], case["cin"] // case["groups"], *case["k"]))
    arrays = [x, w] + ([rng.standard_normal(case["cout"])] if case["bias"] else [])
    options = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    run_both(lambda *t: F.conv2d(*t, **options), lambda *t: TF.conv2d(*t, **options), arrays, case["seed"])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same"])
def test_conv2d_padding_modes_match_torch(mode, padding):
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode).double()
    ours = tg.nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode, dtype=np.float64)
    ours.load_state_dict(ref.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 6))
    run_both(lambda t: ours(t), lambda t: ref(t), [x])
    w_grad_ours = ours.weight.grad.data
    assert np.abs(w_grad_ours - ref.weight.grad.numpy()).max() < 1e-9


def test_conv2d_unbatched_input_matches_torch():
    rng = np.random.default_rng(2)
    run_both(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
             [rng.standard_normal((3, 6, 5)), rng.standard_normal((4, 3, 3, 3))])


@pytest.mark.parametrize("groups, size", [(1, 47), (2, 50), (1, 64)])  # 2209, 2500, 4096 columns
def test_first_layer_weight_gradient_over_long_rows_matches_torch(groups, size):
    """A thin weight gradient (few input channels) over more than INNER_BLOCK columns per image chunk: the
    blocked product (whole blocks batched, the leftover columns on their own) equals torch's gradient."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((3, groups, size, size))  # one input channel per group: K = 9
    w = rng.standard_normal((4 * groups, 1, 3, 3))
    assert size * size > conv_ops.INNER_BLOCK  # one image's columns already span several blocks
    run_both(lambda a, b: F.conv2d(a, b, padding=1, groups=groups),
             lambda a, b: TF.conv2d(a, b, padding=1, groups=groups), [x, w], seed=size, atol=1e-9)


@st.composite
def pool_cases(draw, dilate=True):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilate else (1, 1)
    hw = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    return dict(k=k, stride=stride, padding=padding, dilation=dilation, hw=hw, ceil=draw(st.booleans()),
                n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2**16)))


def _pool_output_ok(case):
    s = case["stride"] or case["k"]
    for size, k, p, st_, d in zip(case["hw"], case["k"], case["padding"], s, case["dilation"]):
        if size + 2 * p - d * (k - 1) - 1 < 0:
            return False
    return True


def _no_window_entirely_in_padding(case, options):
    """Dilation lets a window miss every real element; torch then routes its -inf's gradient to an arbitrary
    element (README: Differences from PyTorch), so those cases are left out here."""
    out = TF.max_pool2d(torch.zeros(1, 1, *case["hw"]), **options).shape[2:]
    s = case["stride"] or case["k"]
    for size, n_out, k, p, st_, d in zip(case["hw"], out, case["k"], case["padding"], s, case["dilation"]):
        for o in range(n_out):
            if not any(0 <= o * st_ - p + i * d < size for i in range(k)):
                return False
    return True


@settings(max_examples=60, deadline=None)
@given(pool_cases())
def test_max_pool2d_matches_torch(case):
    assume(_pool_output_ok(case))
    x = np.random.default_rng(case["seed"]).standard_normal((case["n"], case["c"], *case["hw"]))
    options = dict(kernel_size=case["k"], stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                   ceil_mode=case["ceil"])
    assume(_no_window_entirely_in_padding(case, options))
    run_both(lambda t: F.max_pool2d(t, **options), lambda t: TF.max_pool2d(t, **options), [x], case["seed"])
    _, indices = F.max_pool2d(tg.Tensor(x), return_indices=True, **options)
    _, ref_indices = TF.max_pool2d(torch.tensor(x), return_indices=True, **options)
    assert indices.dtype == tg.int64 and indices.data.dtype == ref_indices.numpy().dtype == np.int64
    assert indices.shape == tuple(ref_indices.shape)
    np.testing.assert_array_equal(indices.data, ref_indices.numpy())


@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (3, 9, 8)])
def test_max_pool2d_module_indices_are_torchs_int64_positions(shape):
    """nn.MaxPool2d(return_indices=True) on batched and unbatched float32 input: torch's int64 flat positions
    in each unpadded plane, for a padded, dilated, ceil-mode window, and no gradient through them."""
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    options = dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True, return_indices=True)
    out, indices = tg.nn.MaxPool2d(**options)(tg.Tensor(x, requires_grad=True))
    ref_out, ref_indices = torch.nn.MaxPool2d(**options)(torch.tensor(x))
    assert ref_indices.dtype == torch.int64 and indices.dtype == tg.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, ref_indices.numpy())
    np.testing.assert_array_equal(out.data, ref_out.numpy())


def test_max_pool2d_ties_and_overlaps_route_like_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = 1.0  # a tie inside overlapping windows
    run_both(lambda t: F.max_pool2d(t, 3, stride=1), lambda t: TF.max_pool2d(t, 3, stride=1), [x])


@settings(max_examples=60, deadline=None)
@given(pool_cases(dilate=False), st.booleans(), st.sampled_from([None, 1, 3, -2]))
def test_avg_pool2d_matches_torch(case, count_include_pad, divisor_override):
    assume(_pool_output_ok(case))
    x = np.random.default_rng(case["seed"]).standard_normal((case["n"], case["c"], *case["hw"]))
    options = dict(kernel_size=case["k"], stride=case["stride"], padding=case["padding"], ceil_mode=case["ceil"],
                   count_include_pad=count_include_pad, divisor_override=divisor_override)
    run_both(lambda t: F.avg_pool2d(t, **options), lambda t: TF.avg_pool2d(t, **options), [x], case["seed"])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10), st.integers(1, 10), st.one_of(st.integers(1, 5), st.tuples(st.integers(1, 6),
       st.one_of(st.none(), st.integers(1, 6)))), st.integers(0, 2**16))
def test_adaptive_avg_pool2d_matches_torch(h, w, output_size, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    run_both(lambda t: F.adaptive_avg_pool2d(t, output_size), lambda t: TF.adaptive_avg_pool2d(t, output_size), [x])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_functional_matches_torch(training, affine):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5, 2))
    arrays = [x] + ([rng.standard_normal(3), rng.standard_normal(3)] if affine else [])
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    ours_rm, ours_rv = tg.Tensor(rm.copy()), tg.Tensor(rv.copy())
    ref_rm, ref_rv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    run_both(lambda t, *wb: F.batch_norm(t, ours_rm, ours_rv, *wb, training=training, momentum=0.3),
             lambda t, *wb: TF.batch_norm(t, ref_rm, ref_rv, *wb, training=training, momentum=0.3), arrays)
    np.testing.assert_allclose(ours_rm.data, ref_rm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_rv.data, ref_rv.numpy(), rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("track", [True, False])
def test_batchnorm2d_module_matches_torch_over_steps(momentum, track):
    ref = torch.nn.BatchNorm2d(3, momentum=momentum, track_running_stats=track).double()
    ours = tg.nn.BatchNorm2d(3, momentum=momentum, track_running_stats=track, dtype=np.float64)
    rng = np.random.default_rng(4)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(rng.standard_normal(3)))
        ref.bias.copy_(torch.tensor(rng.standard_normal(3)))
    ours.load_state_dict(ref.state_dict())
    for step in range(3):
        x = rng.standard_normal((5, 3, 4, 4)) * (step + 1) + step
        run_both(lambda t: ours(t), lambda t: ref(t), [x])
    ours.eval()
    ref.eval()
    run_both(lambda t: ours(t), lambda t: ref(t), [rng.standard_normal((2, 3, 4, 4))])
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12, err_msg=name)


def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    tg.manual_seed(0)
    x = tg.Tensor(np.ones((64, 8, 3, 3)), requires_grad=True)
    y = F.dropout2d(x, 0.25)
    per_channel = y.data.reshape(64, 8, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # each channel all kept or all zero
    assert set(np.unique(per_channel)) <= {0.0, 1 / 0.75}
    assert 0.15 < (per_channel[:, :, 0] == 0).mean() < 0.35
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # dL/dx = keep / (1 - p)
    assert F.dropout2d(x, 0.25, training=False) is x
    assert np.all(F.dropout2d(x, 1.0).data == 0)


def test_dropout2d_on_3d_input_drops_channels_of_n_c_l_and_warns_as_torch():
    tg.manual_seed(1)
    x = tg.Tensor(np.ones((16, 4, 5)))
    with pytest.warns(UserWarning, match="3D input"):
        y = F.dropout2d(x, 0.5)
    rows = y.data
    assert np.all(rows.min(axis=2) == rows.max(axis=2))  # one decision per (n, c), as torch's (N, C, L) reading
    with pytest.warns(UserWarning, match="3D input"):
        TF.dropout2d(torch.ones(16, 4, 5), 0.5)
