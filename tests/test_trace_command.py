"""`tinygrad-opt trace`: one training step of a tiny MLP, watched; run in-process through cli.main."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_opt import cli
from tinygrad_opt.trace import dot as dot_module

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"(-?\d[\d.e+-]*|-?nan|-?inf)"
GRAD_ROW = re.compile(rf"^  ([Wb]\d\[[\d,]+\])\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", re.M)
STEP_ROW = re.compile(rf"^  ([Wb]\d\[[\d,]+\])\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", re.M)


def run_cli(capsys, *argv):
    code = cli.main(["trace", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def gradient_rows(out: str) -> dict:
    """param element -> (hand, engine, finite diff) from section 4's table."""
    section = out.split("\n4. ")[1].split("\n5. ")[0]
    return {m[0]: tuple(float(v) for v in m[1:4]) for m in GRAD_ROW.findall(section)}


def update_rows(out: str) -> dict:
    """param element -> (before, grad, after by the engine, after by the formula) from section 5."""
    section = out.split("\n5. ")[1]
    return {m[0]: tuple(float(v) for v in m[1:5]) for m in STEP_ROW.findall(section)}


def test_default_step_prints_both_passes_and_three_agreeing_gradients(capsys):
    code, out, err = run_cli(capsys)
    assert code == 0 and err == ""
    assert out.startswith("One training step of a 4-3-2 MLP (tanh): cross-entropy on one sample, optim.SGD lr 0.1")
    assert "W1 = 0.weight (3, 4), b1 = 0.bias (3,), W2 = 2.weight (2, 3), b2 = 2.bias (2,)" in out
    # forward: the four ops in order, with their modules; backward: the same four, reversed
    fwd = out.split("\n1. ")[1].split("\n2. ")[0]
    assert [line.split()[1] for line in fwd.splitlines() if re.match(r"  #\d", line)] == \
        ["Linear", "Tanh", "Linear", "CrossEntropy"]
    assert re.search(r"#1\s+Linear\s+0 \(Linear\)", fwd) and re.search(r"#2\s+Tanh\s+1 \(Tanh\)", fwd)
    assert "created at" not in out and "one_step.py" not in out  # library code, not the reader's
    bwd = out.split("\n2. ")[1].split("\n3. ")[0]
    assert [m for m in re.findall(r"^  \d\s+(\w+) \(of #(\d)\)", bwd, re.M)] == \
        [("CrossEntropy", "4"), ("Linear", "3"), ("Tanh", "2"), ("Linear", "1")]
    assert "-> 0.weight" in bwd and "-> y" in bwd and "- (needs no gradient)" in bwd
    # the formula column: what each backward sends to each input, with the inputs' names
    assert re.search(r"-> 2\.weight\s+\(2, 3\)\s+g\^T @ #2 ", bwd)
    assert re.search(r"-> #2\s+\(1, 3\)\s+g @ 2\.weight ", bwd)
    assert re.search(r"-> 0\.bias\s+\(3,\)\s+sum over batch of g ", bwd)
    # the textbook derivation
    assert "delta2 = dL/dz2 = p - onehot(y=" in out
    assert "delta1 = (W2^T delta2) * tanh'(z1) = (W2^T delta2) * (1 - h^2)" in out
    # the three gradient columns agree element by element, for all 23 parameters
    rows = gradient_rows(out)
    assert len(rows) == 3 * 4 + 3 + 2 * 3 + 2
    for name, (hand, engine, numeric) in rows.items():
        assert engine == pytest.approx(hand, rel=1e-5, abs=1e-9), name
        assert numeric == pytest.approx(hand, rel=1e-5, abs=1e-9), name
    assert any(abs(v[0]) > 1e-3 for v in rows.values())  # not trivially all zero
    assert "the three agree" in out
    # SGD: after = before - 0.1 * grad, by the engine and by the formula
    for name, (before, grad, after, formula) in update_rows(out).items():
        assert after == pytest.approx(before - 0.1 * grad, abs=2e-6), name
        assert formula == pytest.approx(after, abs=1e-12), name
    assert "the update matches the formula" in out


def test_other_models_activations_and_optimizers(capsys):
    code, out, _ = run_cli(capsys, "--model", "4-5-3", "--activation", "relu", "--optimizer", "adam", "--lr", "0.01",
                           "--seed", "3", "--target", "2")
    assert code == 0
    assert "4-5-3 MLP (relu)" in out and "optim.Adam lr 0.01" in out and "p - onehot(y=2)" in out
    assert "* relu'(z1) = (W2^T delta2) * (1[z1 > 0])" in out
    rows = gradient_rows(out)
    assert len(rows) == 4 * 5 + 5 + 5 * 3 + 3
    for name, (hand, engine, numeric) in rows.items():
        assert engine == pytest.approx(hand, rel=1e-5, abs=1e-9) and numeric == pytest.approx(hand, rel=1e-5, abs=1e-8)
    # Adam's first step moves each weight by about lr * sign(grad)
    for name, (before, grad, after, formula) in update_rows(out).items():
        if abs(grad) > 1e-6:
            assert after - before == pytest.approx(-0.01 * np.sign(grad), rel=1e-3), name


def test_deeper_model_in_float32(capsys):
    code, out, _ = run_cli(capsys, "--model", "3-4-4-2", "--activation", "sigmoid", "--dtype", "float32",
                           "--optimizer", "momentum")
    assert code == 0 and "float32" in out and "W3 = 4.weight (2, 4)" in out
    assert "delta2 = (W3^T delta3) * sigmoid'(z2) = (W3^T delta3) * (h2 (1 - h2))" in out
    for name, (hand, engine, numeric) in gradient_rows(out).items():
        assert engine == pytest.approx(hand, rel=1e-4, abs=1e-6), name
        assert numeric == pytest.approx(hand, rel=1e-2, abs=2e-4), name
    # float32 is checked with relative tolerances, printed with the verdict
    assert "(tolerance 1e-06 + 0.0001 x |value|)" in out and "the three agree" in out


def test_a_disagreement_exits_with_1(capsys, monkeypatch):
    from tinygrad_opt.teach import mlp_by_hand

    real = mlp_by_hand.backward

    def wrong_backward(*args, **kwargs):  # a textbook formula with a typo: dW1 off by a factor
        bwd = real(*args, **kwargs)
        bwd.dW[1] = bwd.dW[1] * 1.01
        return bwd

    monkeypatch.setattr(mlp_by_hand, "backward", wrong_backward)
    code, out, _ = run_cli(capsys)
    assert code == 1 and "THEY DISAGREE" in out


def test_dot_file_with_and_without_graphviz(capsys, tmp_path, monkeypatch):
    code, out, _ = run_cli(capsys, "--dot", str(tmp_path / "g.dot"))
    assert code == 0 and f"graph written to {tmp_path / 'g.dot'}" in out
    text = (tmp_path / "g.dot").read_text()
    # the graph with numbers: each value's data and gradient, parameters by module path
    assert text.startswith("digraph") and "0.weight | data (3, 4) [" in text and "| grad (3, 4) [" in text
    assert re.search(r"loss=#4 \| data \d\.\d+ \| grad 1\.0", text)
    monkeypatch.setattr(dot_module, "dot_executable", lambda: None)
    code, out, _ = run_cli(capsys, "--dot", str(tmp_path / "h.svg"))
    assert code == 0 and "was not found, so the DOT text was written to" in out
    assert (tmp_path / "h.dot").read_text() == text and not (tmp_path / "h.svg").exists()


@pytest.mark.skipif(dot_module.dot_executable() is None, reason="Graphviz's dot executable is not installed")
def test_dot_file_as_svg_with_graphviz(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "--dot", str(tmp_path / "g.svg"))
    assert code == 0 and "<svg" in (tmp_path / "g.svg").read_text()


@pytest.mark.parametrize("optimizer, state", [("momentum", ["buf"]), ("rmsprop", ["v"]),
                                              ("adam", ["m", "v", "m_hat", "v_hat"])])
def test_steps_show_the_optimizers_state_step_by_step(capsys, optimizer, state):
    code, out, _ = run_cli(capsys, "--steps", "3", "--optimizer", optimizer, "--lr", "0.05")
    assert code == 0
    section = out.split("\n6. ")[1]
    assert section.startswith(f"The optimizer's state over 3 steps ({optimizer}, lr 0.05)")
    header = next(line for line in section.splitlines() if line.strip().startswith("step"))
    assert header.split() == ["step", "loss", "param", "g", *state, "w", "after"]
    rows = [line.split() for line in section.splitlines() if re.match(r"^  \d\s", line)]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    losses = [float(r[1]) for r in rows]
    assert losses[2] < losses[0]  # three steps on one sample lower its loss
    assert "the engine's state and values follow the recurrences" in section
    if optimizer == "adam":  # at step 1 the bias correction undoes (1 - beta): m_hat = g and v_hat = g^2
        g, m, v, m_hat, v_hat = (float(x) for x in rows[0][3:8])
        assert m == pytest.approx(0.1 * g, rel=1e-5) and v == pytest.approx(0.001 * g * g, rel=1e-4)
        assert m_hat == pytest.approx(g, rel=1e-5) and v_hat == pytest.approx(g * g, rel=1e-4)


def test_steps_checks_catch_a_wrong_recurrence(capsys, monkeypatch):
    from tinygrad_opt.teach import optimizer_steps

    monkeypatch.setattr(optimizer_steps, "BETAS", (0.8, 0.999))  # the NumPy side with the wrong beta1
    code, out, _ = run_cli(capsys, "--steps", "2", "--optimizer", "adam", "--lr", "0.01")
    assert code == 1 and "MISMATCH" in out.split("\n6. ")[1]


def test_html_page(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "--html", str(tmp_path / "page.html"))
    assert code == 0 and f"page written to {tmp_path / 'page.html'}" in out
    page = (tmp_path / "page.html").read_text()
    assert "<svg" in page and "CrossEntropy" in page and "0.weight" in page and "g @ 2.weight" in page


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "--steps must be between 1 and 100, got 0"),
    (["--html", "/nonexistent-dir/page.html"], "--html /nonexistent-dir/page.html: cannot write the page"),
    (["--model", "4-a-2"], "integers joined by '-'"),
    (["--model", "4-3-1"], "at least 2 classes"),
    (["--lr", "0"], "--lr must be positive"),
    (["--target", "7"], "--target 7 is not a class of a 2-class model"),
])
def test_bad_values_are_one_line_errors(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.strip() == f"tinygrad-opt trace: error: {err.split('error: ', 1)[1].strip()}"
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"), (["--activation", "gelu"], "invalid choice: 'gelu'"),
])
def test_unknown_choices_are_usage_errors(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and message in err


def test_help_and_the_module_entry_point(capsys):
    assert cli.main(["trace", "--help"]) == 0
    assert "--optimizer {sgd,momentum,nesterov,rmsprop,adam,adamw}" in capsys.readouterr().out
    done = subprocess.run([sys.executable, "-m", "tinygrad_opt", "trace", "--seed", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "the three agree" in done.stdout and "the update matches the formula" in done.stdout
