"""Watching a tiny CNN: the conv gradient by hand (teach/conv_by_hand.py) vs the engine vs finite differences,
in the library (run_conv_step), the command (`tinygrad-opt trace --model cnn`) and its HTML page."""
import re

import numpy as np
import pytest

from tinygrad_opt import cli
from tinygrad_opt.teach import conv_by_hand
from tinygrad_opt.teach.conv_step import run_conv_step
from tinygrad_opt.teach.mlp_by_hand import ACTIVATIONS

torch = pytest.importorskip("torch")
NUMBER = r"(-?\d[\d.e+-]*)"
GRAD_ROW = re.compile(rf"^  ((?:Wc|bc|W2|b2|x)\[[\d,]+\])\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$",
                      re.M)


def run_cli(capsys, *argv):
    code = cli.main(["trace", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- the hand derivation itself, against torch -----------------------------------------------------
@pytest.mark.parametrize("shape, k", [((5, 5), 3), ((4, 7), 2), ((6, 6), 1)])
def test_correlate_and_full_convolution_are_what_torch_calls_conv2d_and_conv_transpose2d(shape, k):
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=shape), rng.normal(size=(k, k))
    t = lambda a: torch.tensor(a)[None, None]  # noqa: E731
    np.testing.assert_allclose(conv_by_hand.correlate(x, kernel),
                               torch.nn.functional.conv2d(t(x), t(kernel))[0, 0].numpy(), rtol=1e-12, atol=1e-14)
    g = rng.normal(size=(shape[0] - k + 1, shape[1] - k + 1))
    # the input gradient of a valid correlation is the transposed convolution of g with the same kernel
    np.testing.assert_allclose(conv_by_hand.full_convolution(g, kernel),
                               torch.nn.functional.conv_transpose2d(t(g), t(kernel))[0, 0].numpy(),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pool", conv_by_hand.POOLS)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_hand_backward_equals_torch_autograd(pool, activation):
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    x, y = rng.normal(size=(2, 7, 7)), 1
    w2, b2 = rng.normal(size=(4, 3 * 2 * 2)), rng.normal(size=4)
    act = ACTIVATIONS[activation]
    fwd = conv_by_hand.forward(weight, bias, w2, b2, x, y, act, 2, pool)
    bwd = conv_by_hand.backward(weight, w2, fwd, y, act, 2, pool)
    tw, tb, tx, tw2, tb2 = (torch.tensor(a, requires_grad=True) for a in (weight, bias, x[None], w2, b2))
    z = getattr(torch, activation)(torch.nn.functional.conv2d(tx, tw, tb))
    pooled = torch.nn.functional.max_pool2d(z, 2) if pool == "max" else torch.nn.functional.avg_pool2d(z, 2)
    loss = torch.nn.functional.cross_entropy(pooled.flatten(1) @ tw2.T + tb2, torch.tensor([y]))
    loss.backward()
    assert fwd.loss == pytest.approx(loss.item(), rel=1e-12)
    for ours, theirs in ((bwd.dWc, tw), (bwd.dbc, tb), (bwd.dx, tx), (bwd.dW2, tw2), (bwd.db2, tb2)):
        np.testing.assert_allclose(ours, theirs.grad.numpy().reshape(ours.shape), rtol=1e-10, atol=1e-12)


def test_pooling_routes_the_gradient_as_described():
    h = np.array([[[1.0, 5.0], [2.0, 3.0]]])
    np.testing.assert_array_equal(conv_by_hand.pool_backward(h, np.array([[[4.0]]]), 2, "max"),
                                  [[[0.0, 4.0], [0.0, 0.0]]])  # all of it to the arg-max
    np.testing.assert_array_equal(conv_by_hand.pool_backward(h, np.array([[[4.0]]]), 2, "avg"),
                                  [[[1.0, 1.0], [1.0, 1.0]]])  # a quarter to each pixel


# ---- run_conv_step: hand vs engine vs finite differences ----------------------------------------------
@pytest.mark.parametrize("pool, activation, dtype, optimizer", [
    ("max", "relu", "float64", "sgd"), ("avg", "tanh", "float64", "adam"), ("max", "sigmoid", "float32", "momentum"),
])
def test_the_three_gradients_agree_and_the_update_follows_the_formula(pool, activation, dtype, optimizer):
    step = run_conv_step(image=7, channels=3, pool=pool, activation=activation, dtype=dtype, optimizer=optimizer,
                         lr=0.05, steps=3, seed=4)
    assert step.agree, step.text()
    assert [p.symbol for p in step.params] == ["Wc", "bc", "W2", "b2"]
    assert step.params[0].hand.shape == (3, 1, 3, 3) and step.params[2].hand.shape == (3, 3 * 2 * 2)
    assert [p.symbol for p in step.inputs] == ["x"] and step.inputs[0].engine.shape == (1, 1, 7, 7)
    assert np.abs(step.inputs[0].engine).max() > 0 and len(step.later_steps) == 3
    ops = [s.op for s in step.trace.forward_steps]
    assert ops == ["Conv2d", activation.capitalize(), f"{pool.capitalize()}Pool2d", "Reshape", "Linear",
                   "CrossEntropy"]


def test_max_pooling_leaves_three_of_four_pixels_without_gradient():
    step = run_conv_step(image=6, channels=2, pool="max", activation="tanh", seed=2)
    routed = next(s for s in step.trace.steps if s.op == "MaxPool2d").input_grads[0]
    windows = routed.reshape(2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(2, 2, 2, 4)  # (c, i, j, window)
    assert ((windows != 0).sum(axis=-1) == 1).all()  # tanh is never 0, so exactly the arg-max gets g
    avg = run_conv_step(image=6, channels=2, pool="avg", activation="tanh", seed=2)
    spread = next(s for s in avg.trace.steps if s.op == "AvgPool2d").input_grads[0]
    np.testing.assert_allclose(spread[..., ::2, ::2], spread[..., 1::2, 1::2])  # every pixel of a window the same


def test_a_wrong_hand_formula_is_caught(monkeypatch):
    """Forget to flip the kernel in dL/dx: the check must say so (the three do not agree)."""
    def unflipped(g, kernel):
        k_h, k_w = kernel.shape
        return conv_by_hand.correlate(np.pad(g, ((k_h - 1, k_h - 1), (k_w - 1, k_w - 1))), kernel)

    monkeypatch.setattr(conv_by_hand, "full_convolution", unflipped)
    step = run_conv_step(seed=3)
    assert not step.agree
    assert step.within_tolerance()[:2] == (False, False)
    assert "THEY DISAGREE" in step.text()


@pytest.mark.parametrize("kwargs, message", [
    (dict(image=3), "image 3: choose 4 to 10"), (dict(image=11), "image 11"), (dict(channels=0), "channels 0"),
    (dict(classes=1), "classes 1"), (dict(pool="min"), "pool 'min'"), (dict(target=3), "target 3 is not a class"),
    (dict(activation="gelu"), "unknown activation"), (dict(lr=-1.0), "lr must be positive"),
])
def test_bad_options_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_conv_step(**kwargs)


# ---- the command and its page ------------------------------------------------------------------------
def test_trace_model_cnn_prints_the_conv_gradient_three_ways(capsys, tmp_path):
    code, out, err = run_cli(capsys, "--model", "cnn", "--html", str(tmp_path / "conv.html"))
    assert code == 0 and err == ""
    assert out.startswith("One training step of a CNN (conv2@3x3, relu, maxpool2) on one 6x6 image")
    assert "nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))" in out
    backward = out.split("\n2. ")[1].split("\n3. ")[0]
    assert "full convolution of g with 0.weight flipped" in backward and "correlation of x with g" in backward
    derivation = out.split("\n3. ")[1].split("\n4. ")[0]
    assert "dL/dWc = the correlation of x with delta" in derivation
    assert "dL/dx = the full convolution of delta with the kernel" in derivation
    rows = {m[0]: tuple(float(v) for v in m[1:4]) for m in GRAD_ROW.findall(out.split("\n4. ")[1].split("\n5. ")[0])}
    assert {"Wc[1,0,2,2]", "bc[1]", "W2[2,7]", "b2[2]", "x[0,0,0,0]"} <= set(rows)
    for hand, engine, numeric in rows.values():
        assert engine == pytest.approx(hand, rel=1e-5, abs=1e-9) and numeric == pytest.approx(hand, rel=1e-4, abs=1e-8)
    assert "the three agree" in out and "the update matches the formula" in out
    page = (tmp_path / "conv.html").read_text()
    assert "Conv2d" in page and "MaxPool2d" in page and '<table class="check">' in page
    assert "dL/dWc (0.weight, shape (2, 1, 3, 3)) three ways" in page and "dL/dx (x, shape (1, 1, 6, 6))" in page


def test_avg_pooling_and_other_options(capsys):
    code, out, _ = run_cli(capsys, "--model", "cnn", "--pool", "avg", "--activation", "tanh", "--image", "5",
                           "--channels", "1", "--optimizer", "adam", "--lr", "0.01", "--steps", "2")
    assert code == 0, out
    assert "nn.Conv2d(1, 1, 3), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(1, 3)" in out
    assert "spread evenly over each window" in out and "the three agree" in out


@pytest.mark.parametrize("argv, message", [
    (["--model", "cnn", "--image", "3"], "--image 3: choose 4 to 10 pixels per side"),
    (["--model", "cnn", "--channels", "9"], "--channels 9: choose 1 to 4"),
    (["--model", "cnn", "--target", "3"], "--target 3 is not a class of a 3-class model (0..2)"),
    (["--pool", "avg"], "--pool applies only to --model cnn"),
    (["--model", "4-3-2", "--image", "8", "--channels", "3"], "--image, --channels apply only to --model cnn"),
])
def test_bad_cnn_options_are_one_line_errors(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
