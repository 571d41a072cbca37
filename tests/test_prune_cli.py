"""train --prune (GradualPruningCallback), resume and evaluate of pruned runs, and `tinygrad-opt prune`."""
import json

import numpy as np
import pytest

from tinygrad_opt import cli
from tinygrad_opt.nn.utils import prune
from tinygrad_opt.train import load_checkpoint, model_from_checkpoint, read_history

FAST = ["--hidden", "32", "--batch-size", "64", "--quiet"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def weight_sparsity(ckpt_path):
    model, _ = model_from_checkpoint(ckpt_path)
    return prune.sparsity(model, include="weights").overall, model


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dense") / "run"
    assert cli.main(["train", *FAST, "--epochs", "4", "--out", str(out)]) == 0
    return out


def test_train_with_gradual_pruning_then_evaluate_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", *FAST, "--epochs", "4", "--prune", "global-l1", "--sparsity", "0.75",
                                "--prune-start-epoch", "1", "--prune-end-epoch", "3", "--prune-frequency", "5",
                                "--out", out)
    assert code == 0, err
    history = read_history(out / "history.json")
    sparsities = [r["sparsity"] for r in history]
    assert sparsities[0] == 0.0 and sparsities[2] == sparsities[3] == pytest.approx(0.75, abs=1e-4)
    assert 0 < sparsities[1] < 0.75
    ckpt = load_checkpoint(out / "last.ckpt")
    assert "0.weight_orig" in ckpt["model"] and "0.weight_mask" in ckpt["model"]
    steps = [s for s, _ in ckpt["callbacks"]["gradual_pruning"]["history"]]
    assert steps[0] == 21 and steps[-1] == 63 and all(b - a == 5 for a, b in zip(steps, steps[1:-1]))  # 21 steps/epoch
    sparsity, _ = weight_sparsity(out / "last.ckpt")
    assert sparsity == pytest.approx(0.75, abs=1e-4)
    code, stdout, err = run_cli(capsys, "evaluate", out)
    assert code == 0, err and "accuracy" in stdout
    # resuming without --prune fine-tunes with the masks kept
    code, stdout, err = run_cli(capsys, "train", "--resume", out, "--epochs", "6", "--quiet")
    assert code == 0, err
    assert weight_sparsity(out / "last.ckpt")[0] == pytest.approx(0.75, abs=1e-4)


def test_train_prune_per_layer(tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "train", *FAST, "--epochs", "2", "--prune", "l1", "--sparsity", "0.5",
                                "--out", tmp_path / "run")
    assert code == 0, err
    report = prune.sparsity(weight_sparsity(tmp_path / "run" / "last.ckpt")[1], include="weights")
    assert report["0.weight"].sparsity == pytest.approx(0.5) and report["2.weight"].sparsity == pytest.approx(0.5)


@pytest.mark.parametrize("argv, message", [
    (["--prune", "l1"], "--prune l1 needs --sparsity"),
    (["--sparsity", "0.5"], "--sparsity needs --prune"),
    (["--prune", "l1", "--sparsity", "1.5"], "--sparsity must be a fraction in [0, 1], got 1.5"),
    (["--prune", "l1", "--sparsity", "0.5", "--prune-start-epoch", "2", "--prune-end-epoch", "1"],
     "need 0 <= --prune-start-epoch (2.0) <= --prune-end-epoch (1.0)"),
    (["--prune", "l1", "--sparsity", "0.5", "--prune-end-epoch", "9"], "--prune-end-epoch 9 is past the last epoch (2)"),
    (["--prune", "l1", "--sparsity", "0.5", "--prune-frequency", "0"], "--prune-frequency must be a positive"),
])
def test_train_prune_bad_options(tmp_path, capsys, argv, message):
    code, stdout, err = run_cli(capsys, "train", *FAST, "--epochs", "2", *argv, "--out", tmp_path / "run")
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("method", ["global-l1", "l1", "random"])
def test_prune_command_unstructured(dense_run, tmp_path, capsys, method):
    out = tmp_path / "pruned"
    code, stdout, err = run_cli(capsys, "prune", dense_run, "--method", method, "--amount", "0.6",
                                "--finetune-epochs", "1", "--quiet", "--out", out, "--json", tmp_path / "r.json")
    assert code == 0, err
    lines = [line for line in stdout.splitlines() if "test accuracy" in line]
    assert lines[0].startswith("before pruning") and "weight sparsity   0.00%" in lines[0]
    assert lines[1].startswith("after pruning") and "weight sparsity  60.0" in lines[1]
    assert lines[2].startswith("after 1 fine-tuning epochs") and "60.0" in lines[2]
    report = json.loads((out / "prune_report.json").read_text())
    assert report == json.loads((tmp_path / "r.json").read_text())
    before, after, tuned = (s["accuracy"] for s in report["stages"])
    assert before > 0.8 and tuned > (0.75 if method != "random" else 0.3)  # random pruning hurts most
    sparsity, model = weight_sparsity(out / "pruned.ckpt")
    assert sparsity == pytest.approx(0.6, abs=1e-3) and prune.is_pruned(model)
    code, stdout, err = run_cli(capsys, "evaluate", out / "pruned.ckpt")
    assert code == 0 and f"{100 * tuned:.2f}"[:4] in f"{100 * float(stdout.split('accuracy ')[1].split()[0]):.2f}"
    # pruning the pruned checkpoint again composes: 0.5 of the remaining 40% -> 80%
    code, stdout, err = run_cli(capsys, "prune", out / "pruned.ckpt", "--method", method, "--amount", "0.5",
                                "--out", tmp_path / "again")
    assert code == 0, err
    assert weight_sparsity(tmp_path / "again" / "pruned.ckpt")[0] == pytest.approx(0.8, abs=1e-3)


def test_prune_command_structured_shrink(dense_run, tmp_path, capsys):
    out = tmp_path / "small"
    code, stdout, err = run_cli(capsys, "prune", dense_run, "--method", "ln-structured", "--amount", "0.5",
                                "--shrink", "--out", out)
    assert code == 0, err
    assert "shrunk the hidden layers from [32] to [16] units" in stdout
    acc = {line.split()[0]: line for line in stdout.splitlines() if "test accuracy" in line}
    assert acc["after"].split("accuracy")[1].split("%")[0] == acc["shrunk"].split("accuracy")[1].split("%")[0]
    ckpt = load_checkpoint(out / "pruned.ckpt")
    assert ckpt["model_config"]["hidden"] == [16] and ckpt["model"]["0.weight"].shape == (16, 64)
    code, stdout, err = run_cli(capsys, "evaluate", out / "pruned.ckpt")
    assert code == 0 and "64-16-10 MLP" in stdout


@pytest.mark.parametrize("argv, message", [
    (["--amount", "1.5"], "--amount must be a fraction in [0, 1], got 1.5"),
    (["--amount", "0.5", "--shrink"],
     "--shrink removes whole hidden units or filters, so it needs --method ln-structured or ln-filters"),
    (["--amount", "0.5", "--finetune-epochs", "-1"], "--finetune-epochs must be >= 0"),
    (["--amount", "0.5", "--finetune-epochs", "1", "--log-every", "0"], "--log-every must be a positive integer"),
])
def test_prune_command_bad_input(dense_run, tmp_path, capsys, argv, message):
    code, stdout, err = run_cli(capsys, "prune", dense_run, *argv, "--out", tmp_path / "x")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_prune_command_missing_checkpoint(tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "prune", tmp_path / "nothing.ckpt", "--amount", "0.5")
    assert code == 2 and "not found" in err


def test_pruned_weights_stay_zero_when_a_pruned_checkpoint_is_fine_tuned(dense_run, tmp_path, capsys):
    assert cli.main(["prune", str(dense_run), "--amount", "0.7", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert cli.main(["prune", str(tmp_path / "a"), "--amount", "0.0", "--finetune-epochs", "2", "--quiet",
                     "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    _, first = weight_sparsity(tmp_path / "a" / "pruned.ckpt")
    _, tuned = weight_sparsity(tmp_path / "b" / "pruned.ckpt")
    mask = first[0].weight_mask.numpy()
    np.testing.assert_array_equal(tuned[0].weight_mask.numpy(), mask)
    effective = tuned[0].weight_orig.numpy() * mask
    assert np.all(effective[mask == 0] == 0)
    assert not np.allclose(effective, first[0].weight_orig.numpy() * mask)  # it did train


def test_finetune_reads_the_loss_as_often_as_the_checkpoints_run(dense_run, monkeypatch):
    import dataclasses

    from tinygrad_opt.cli.compress_common import finetune, load_checkpoint_and_data

    loaded = load_checkpoint_and_data(str(dense_run))
    assert loaded.config.log_every is None and finetune(loaded.model, loaded, 1, verbose=False).log_every == 1
    loaded.config = dataclasses.replace(loaded.config, log_every=5)  # as if trained with --log-every 5
    assert finetune(loaded.model, loaded, 1, verbose=False).log_every == 5


def test_prune_log_every_changes_the_reads_not_the_result(dense_run, tmp_path, capsys, monkeypatch):
    """--log-every N: the fine-tuning Trainer reads the loss every N steps; the pruned weights are the same."""
    from tinygrad_opt.train import trainer as trainer_module

    seen = []
    real_init = trainer_module.Trainer.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen.append(self.log_every)

    monkeypatch.setattr(trainer_module.Trainer, "__init__", spy)
    for name, extra in (("every", []), ("seventh", ["--log-every", "7"])):
        assert cli.main(["prune", str(dense_run), "--amount", "0.5", "--finetune-epochs", "1", "--quiet",
                         "--out", str(tmp_path / name), *extra]) == 0
    capsys.readouterr()
    assert seen == [1, 7]
    a = load_checkpoint(tmp_path / "every" / "pruned.ckpt")["model"]
    b = load_checkpoint(tmp_path / "seventh" / "pruned.ckpt")["model"]
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
