"""`tinygrad-opt quantize`: accuracy, bytes and time before/after, BatchNorm folding, pruned checkpoints, bad input."""
import json

import pytest

from tinygrad_opt import cli

FAST = ["--hidden", "32", "--batch-size", "64", "--epochs", "4", "--quiet"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    return out


def test_quantize_reports_accuracy_size_and_time(run_dir, tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "quantize", run_dir, "--repeats", "3", "--json", tmp_path / "q.json")
    assert code == 0, err
    table = {line.split("  ")[0].strip(): line for line in stdout.splitlines()}
    assert "4.00x smaller" in table["weight matrices (bytes)"]
    report = json.loads((tmp_path / "q.json").read_text())
    assert report["bytes_float32"]["weights"] == 4 * (64 * 32 + 32 * 10)
    assert report["bytes_int8"]["weights"] == 64 * 32 + 32 * 10
    assert report["bytes_int8"]["total"] == 64 * 32 + 32 * 10 + 2 * 4 * (32 + 10)
    assert abs(report["accuracy_int8"] - report["accuracy_float32"]) <= 0.02
    assert report["timing_batch"] == 359 and report["seconds_int8"] > 0
    assert "inference, batch 359 (ms)" in stdout and "best of 3 passes" in stdout


@pytest.mark.parametrize("backend", ["numpy", "numba", "blas"])
def test_quantize_backends_agree(run_dir, tmp_path, capsys, backend):
    code, stdout, err = run_cli(capsys, "quantize", run_dir, "--backend", backend, "--repeats", "1",
                                "--json", tmp_path / f"{backend}.json")
    assert code == 0, err
    accuracy = json.loads((tmp_path / f"{backend}.json").read_text())["accuracy_int8"]
    code, _, _ = run_cli(capsys, "quantize", run_dir, "--repeats", "1", "--json", tmp_path / "auto.json")
    assert accuracy == json.loads((tmp_path / "auto.json").read_text())["accuracy_int8"]  # the same integers


def test_quantize_batchnorm_and_pruned_checkpoints(tmp_path, capsys):
    out = tmp_path / "bn"
    assert cli.main(["train", *FAST, "--batchnorm", "--prune", "global-l1", "--sparsity", "0.5",
                     "--out", str(out)]) == 0
    code, stdout, err = run_cli(capsys, "quantize", out, "--repeats", "1", "--json", tmp_path / "q.json")
    assert code == 0, err
    assert "folded the BatchNorm layers" in stdout
    report = json.loads((tmp_path / "q.json").read_text())
    assert abs(report["accuracy_int8"] - report["accuracy_float32"]) <= 0.03


@pytest.mark.parametrize("argv, message", [
    (["--timing-batch", "0"], "--timing-batch and --repeats must be positive"),
    (["--backend", "int4"], "invalid choice: 'int4'"),
])
def test_quantize_bad_input(run_dir, capsys, argv, message):
    code, stdout, err = run_cli(capsys, "quantize", run_dir, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
