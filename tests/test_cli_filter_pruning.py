"""`tinygrad-opt prune --method ln-filters` on CNN checkpoints (8x8 digits): masks, fine-tuning, --shrink,
evaluate of the results, and exit 2 with one line for bad input."""
import json

import pytest

from tinygrad_opt import cli
from tinygrad_opt.compress import conv_channels
from tinygrad_opt.nn.utils import prune
from tinygrad_opt.train import load_checkpoint, model_from_checkpoint

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


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp") / "run"
    assert cli.main(["train", "--hidden", "16", *FAST, "--out", str(out)]) == 0
    return out


def evaluated_accuracy(capsys, path, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", path, "--json", tmp_path / "eval.json")
    assert code == 0, err
    return json.loads((tmp_path / "eval.json").read_text())["accuracy"]


def test_prune_filters_finetune_and_shrink_then_evaluate(cnn_run, tmp_path, capsys):
    out = tmp_path / "shrunk"
    code, stdout, err = run_cli(capsys, "prune", cnn_run, "--method", "ln-filters", "--amount", "0.5",
                                "--finetune-epochs", "1", "--shrink", "--quiet", "--out", out)
    assert code == 0, err
    assert "conv filters [32, 64]" in stdout and "conv filters [16, 32]" in stdout
    assert "shrunk the convolutions from [32, 64] to [16, 32] filters" in stdout
    ckpt = load_checkpoint(out / "pruned.ckpt")
    assert ckpt["model_config"]["conv_channels"] == [16, 32]
    assert ckpt["pruning"]["method"] == "ln-filters" and ckpt["pruning"]["shrink"] is True
    assert not any(key.endswith("_mask") for key in ckpt["model"])  # an ordinary, smaller model
    model, _ = model_from_checkpoint(out / "pruned.ckpt")
    assert conv_channels(model) == [16, 32]
    report = json.loads((out / "prune_report.json").read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["before pruning"]["filters"] == [32, 64]
    assert stages["after pruning"]["filters"] == stages["shrunk"]["filters"] == [16, 32]
    # the shrunk model classifies exactly as the masked one did; then it is fine-tuned, and evaluate agrees
    assert [s["stage"] for s in report["stages"]] == ["before pruning", "after pruning", "shrunk",
                                                      "after 1 fine-tuning epochs"]
    assert stages["shrunk"]["accuracy"] == pytest.approx(stages["after pruning"]["accuracy"], abs=1e-9)
    evaluated = evaluated_accuracy(capsys, out / "pruned.ckpt", tmp_path)
    assert evaluated == pytest.approx(stages["after 1 fine-tuning epochs"]["accuracy"], abs=1e-9)
    assert ckpt["epoch"] == load_checkpoint(cnn_run / "last.ckpt")["epoch"] + 1
    assert report["conv_channels"] == [16, 32]
    code, stdout, err = run_cli(capsys, "evaluate", out)  # the prune --out folder names its pruned.ckpt
    assert code == 0 and "conv16-pool-conv32-pool" in stdout and "pruned.ckpt" in stdout


def test_masked_filter_pruned_checkpoint_loads_with_its_masks(cnn_run, tmp_path, capsys):
    out = tmp_path / "masked"
    code, stdout, err = run_cli(capsys, "prune", cnn_run, "--method", "ln-filters", "--amount", "0.25",
                                "--n", "1", "--out", out)
    assert code == 0, err
    ckpt = load_checkpoint(out / "pruned.ckpt")
    assert {"1.weight_mask", "2.weight_mask", "2.bias_mask", "5.weight_mask", "6.weight_mask"} <= set(ckpt["model"])
    model, _ = model_from_checkpoint(out / "pruned.ckpt")
    assert prune.is_pruned(model) and conv_channels(model) == [32, 64]
    assert ckpt["model_config"].get("conv_channels") is None
    report = json.loads((out / "prune_report.json").read_text())
    assert report["stages"][-1]["filters"] == [24, 48]
    evaluated = evaluated_accuracy(capsys, out / "pruned.ckpt", tmp_path)
    assert evaluated == pytest.approx(report["stages"][-1]["accuracy"], abs=1e-9)


def test_lenet5_filters_shrink(tmp_path, capsys):
    run = tmp_path / "lenet"
    assert run_cli(capsys, "train", "--model", "lenet5", *FAST, "--out", run)[0] == 0
    code, stdout, err = run_cli(capsys, "prune", run, "--method", "ln-filters", "--amount", "0.5", "--shrink",
                                "--out", tmp_path / "out")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "out" / "pruned.ckpt")["model_config"]["conv_channels"] == [3, 8]
    report = json.loads((tmp_path / "out" / "prune_report.json").read_text())
    stages = {s["stage"]: s["accuracy"] for s in report["stages"]}
    assert stages["shrunk"] == pytest.approx(stages["after pruning"], abs=1e-9)


@pytest.mark.parametrize("argv,message", [
    (["--amount", "1"], "--amount 1 would remove every filter"),
    (["--amount", "0.99"], "would remove all 32 remaining filters of Conv2d '1'"),
    (["--amount", "0.5", "--n", "-1"], "n must be a norm order"),
])
def test_bad_filter_pruning_input_is_exit_2_with_one_line(cnn_run, tmp_path, capsys, argv, message):
    code, stdout, err = run_cli(capsys, "prune", cnn_run, "--method", "ln-filters", *argv, "--out", tmp_path / "x")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "x" / "pruned.ckpt").exists()


def test_filter_pruning_an_mlp_is_exit_2_with_one_line(mlp_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "prune", mlp_run, "--method", "ln-filters", "--amount", "0.5",
                           "--out", tmp_path / "x")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "--method ln-filters prunes convolution filters" in lines[0] and "MLP" in lines[0]
    assert "ln-structured" in lines[0]


def test_shrink_needs_a_structured_method(cnn_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "prune", cnn_run, "--method", "l1", "--amount", "0.5", "--shrink",
                           "--out", tmp_path / "x")
    assert code == 2 and "--method ln-structured or ln-filters" in err
