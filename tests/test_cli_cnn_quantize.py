"""`tinygrad-opt quantize` on CNN checkpoints (8x8 digits): int8 convs and Linear layers, accuracy before and
after, the saved quantized checkpoint read by evaluate, and exit 2 with one line for bad input."""
import json

import pytest

from tinygrad_opt import cli
from tinygrad_opt.compress import QuantizedConv2d
from tinygrad_opt.train import load_checkpoint

FAST = ["--epochs", "1", "--batch-size", "128", "--quiet"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn") / "run"
    assert cli.main(["train", "--model", "cnn", *FAST, "--out", str(out)]) == 0
    return out


def test_quantize_a_cnn_then_evaluate_the_int8_checkpoint(cnn_run, tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "quantize", cnn_run, "--repeats", "2", "--out", tmp_path / "q",
                                "--json", tmp_path / "q.json")
    assert code == 0, err
    assert "folded the BatchNorm layers" in stdout and "4.00x smaller" in stdout
    report = json.loads((tmp_path / "q.json").read_text())
    assert abs(report["accuracy_int8"] - report["accuracy_float32"]) < 0.03
    ckpt = load_checkpoint(tmp_path / "q" / "quantized.ckpt")
    assert ckpt["model_config"]["type"] == "quantized" and ckpt["model_config"]["float_model"]["type"] == "cnn"
    assert str(ckpt["model"]["1.weight_int8"].dtype) == "int8" and ckpt["model"]["1.weight_int8"].shape == (32, 1, 3, 3)
    code, stdout, err = run_cli(capsys, "evaluate", tmp_path / "q", "--json", tmp_path / "e.json")  # the folder
    assert code == 0, err
    assert "int8-quantized CNN" in stdout
    assert json.loads((tmp_path / "e.json").read_text())["accuracy"] == pytest.approx(report["accuracy_int8"], abs=1e-9)


def test_quantize_a_filter_pruned_shrunk_lenet(tmp_path, capsys):
    run = tmp_path / "lenet"
    assert run_cli(capsys, "train", "--model", "lenet5", *FAST, "--out", run)[0] == 0
    assert run_cli(capsys, "prune", run, "--method", "ln-filters", "--amount", "0.5", "--shrink",
                   "--out", tmp_path / "p")[0] == 0
    code, stdout, err = run_cli(capsys, "quantize", tmp_path / "p" / "pruned.ckpt", "--repeats", "1",
                                "--out", tmp_path / "q")
    assert code == 0, err
    from tinygrad_opt.cli.compress_common import checkpoint_model

    model = checkpoint_model(load_checkpoint(tmp_path / "q" / "quantized.ckpt"))
    convs = [m for m in model.modules() if isinstance(m, QuantizedConv2d)]
    assert [c.out_channels for c in convs] == [3, 8]


def test_quantize_bad_input_is_exit_2_with_one_line(cnn_run, tmp_path, capsys):
    assert run_cli(capsys, "quantize", cnn_run, "--repeats", "1", "--out", tmp_path / "q")[0] == 0
    code, _, err = run_cli(capsys, "quantize", cnn_run, "--repeats", "1", "--out", tmp_path / "q")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "already holds a quantized checkpoint" in lines[0]
    code, _, err = run_cli(capsys, "quantize", tmp_path / "q" / "quantized.ckpt", "--repeats", "1")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "is already quantized" in lines[0]
