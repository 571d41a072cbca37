"""Float64 finite-difference checks of the image ops over hypothesis-drawn geometries."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt.nn.functional_image import pad2d


def t64(array, requires_grad=True):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@settings(max_examples=25, deadline=None)
@given(groups=st.sampled_from([1, 2]), per_group=st.integers(1, 2), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 2), st.integers(1, 2)), padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_gradcheck(groups, per_group, k, stride, padding, dilation, extra, bias, seed):
    rng = np.random.default_rng(seed)
    cin, cout = groups * per_group, groups
    h, w = (d * (kk - 1) + 1 + e for kk, d, e in zip(k, dilation, extra))  # odd and even sizes, kernel always fits
    inputs = [t64(rng.standard_normal((2, cin, h, w))), t64(rng.standard_normal((cout, per_group, *k)))]
    if bias:
        inputs.append(t64(rng.standard_normal(cout)))
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert tg.gradcheck(lambda *t: F.conv2d(*t, **options), inputs)


@settings(max_examples=10, deadline=None)
@given(mode=st.sampled_from(["reflect", "replicate", "circular", "zeros"]),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
       seed=st.integers(0, 2**16))
def test_pad2d_gradcheck(mode, padding, seed):
    x = t64(np.random.default_rng(seed).standard_normal((1, 2, 3, 4)))
    top, bottom, left, right = padding
    assert tg.gradcheck(lambda t: pad2d(t, padding, mode, "test"), [x])
    assert tg.gradcheck(lambda t: F.pad(t, (left, right, top, bottom), "constant" if mode == "zeros" else mode), [x])


@settings(max_examples=20, deadline=None)
@given(k=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), ceil_mode=st.booleans(),
       hw=st.tuples(st.integers(5, 7), st.integers(5, 7)), seed=st.integers(0, 2**16))
def test_max_pool2d_gradcheck(k, stride, dilation, ceil_mode, hw, seed):
    x = t64(np.random.default_rng(seed).permutation(2 * 2 * hw[0] * hw[1]).reshape(2, 2, *hw) * 0.1)  # no ties
    padding = (k[0] // 2, k[1] // 2)
    assert tg.gradcheck(lambda t: F.max_pool2d(t, k, stride, padding, dilation, ceil_mode), [x])


@settings(max_examples=20, deadline=None)
@given(k=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       ceil_mode=st.booleans(), count_include_pad=st.booleans(), divisor=st.sampled_from([None, 2]),
       hw=st.tuples(st.integers(3, 6), st.integers(3, 6)), seed=st.integers(0, 2**16))
def test_avg_pool2d_gradcheck(k, stride, ceil_mode, count_include_pad, divisor, hw, seed):
    x = t64(np.random.default_rng(seed).standard_normal((1, 2, *hw)))
    padding = (k[0] // 2, k[1] // 2)
    assert tg.gradcheck(lambda t: F.avg_pool2d(t, k, stride, padding, ceil_mode, count_include_pad, divisor), [x])


@settings(max_examples=15, deadline=None)
@given(hw=st.tuples(st.integers(1, 7), st.integers(1, 7)), out=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       seed=st.integers(0, 2**16))
def test_adaptive_avg_pool2d_gradcheck(hw, out, seed):
    x = t64(np.random.default_rng(seed).standard_normal((2, 1, *hw)))
    assert tg.gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), [x])


@settings(max_examples=10, deadline=None)
@given(training=st.booleans(), seed=st.integers(0, 2**16))
def test_batch_norm_2d_gradcheck(training, seed):
    rng = np.random.default_rng(seed)
    x, w, b = t64(rng.standard_normal((3, 2, 3, 2))), t64(rng.standard_normal(2)), t64(rng.standard_normal(2))
    mean, var = tg.Tensor(rng.standard_normal(2)), tg.Tensor(rng.random(2) + 0.5)
    assert tg.gradcheck(lambda *t: F.batch_norm(*t[:1], mean, var, *t[1:], training=training, momentum=0.0),
                        [x, w, b])


def test_dropout2d_gradcheck_with_a_fixed_mask():
    x = t64(np.random.default_rng(0).standard_normal((4, 3, 2, 2)))

    def dropped(t):
        tg.manual_seed(5)  # the same channel mask at every evaluation
        return F.dropout2d(t, 0.4)

    assert tg.gradcheck(dropped, [x])
