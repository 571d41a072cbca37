"""The second failure-path sweep (after issue 13): options and files that were silently accepted, ignored, or
ended in a traceback. Each is refused in one line with exit code 2, before any work, and names what to do."""
from pathlib import Path

import pytest

from tinygrad_opt import cli
from tinygrad_opt.train import TrainConfig
from tinygrad_opt.train.config_file import read_config_file
from tinygrad_opt.train.errors import ConfigError

TRAIN = ["train", "--epochs", "2", "--quiet"]


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("argv, fragments", [
    # an empty item was dropped: --hidden 3,,4 trained a 3-4 network
    (["--hidden", "3,,4"], ["--hidden", "empty item", "'3,,4'"]),
    (["--conv-widths", "8,", "--model", "cnn"], ["--conv-widths", "empty item"]),
    (["--schedule", "multistep", "--milestones", ",1"], ["--milestones", "empty item"]),
    # an empty path meant the current folder (--data-dir) or the default folder (--out)
    (["--out", ""], ["--out", "empty string"]),
    (["--dataset", "mnist", "--data-dir", ""], ["--data-dir", "empty string"]),
    # a start past the last epoch was a ValueError traceback from the pruning callback
    (["--prune", "l1", "--sparsity", "0.5", "--prune-start-epoch", "3"],
     ["--prune-start-epoch 3 is past the last epoch (2)"]),
    # --lookahead-alpha without --lookahead-k was ignored
    (["--lookahead-alpha", "0.3"], ["--lookahead-alpha", "Lookahead, which is off", "add --lookahead-k"]),
])
def test_train_options_once_accepted_are_refused(tmp_path, capsys, argv, fragments):
    code, err = run_cli(capsys, *TRAIN, *(["--out", tmp_path / "run"] if "--out" not in argv else []), *argv)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "run").exists()


def test_list_settings_still_take_spaces_and_commas():
    for text in ("3,4", "3, 4", "3 4", " 3 ,4 "):
        assert TrainConfig.from_dict({"hidden": text}).hidden == [3, 4], text


def test_lookahead_alpha_with_lookahead_k_is_kept():
    config = TrainConfig.from_dict({"lookahead_k": 5, "lookahead_alpha": 0.3}).resolved()
    assert (config.lookahead_k, config.lookahead_alpha) == (5, 0.3)


def test_a_binary_file_given_as_config_is_a_config_error(tmp_path):
    binary = tmp_path / "last.ckpt"
    binary.write_bytes(b"PK\x03\x04\x84\xff\xfe" * 10)  # not UTF-8: was a UnicodeDecodeError traceback
    with pytest.raises(ConfigError, match="is not a text file"):
        read_config_file(binary)


@pytest.mark.parametrize("command", [["train", "--config"], ["tune", "--config"], ["tune", "--space"]])
def test_a_checkpoint_given_as_config_or_space_is_one_line(tmp_path, capsys, command):
    binary = tmp_path / "last.ckpt"
    binary.write_bytes(b"\x84\xff" * 100)
    code, err = run_cli(capsys, *command, binary, "--out", tmp_path / "out")
    assert_one_line_error(code, err, str(binary), "not a text file")


@pytest.mark.parametrize("argv, fragments", [
    (["--top", "0"], ["--top 0 must be a positive integer"]),  # was accepted: an empty results table
    (["--study", ""], ["--study ''", "must name the study"]),  # was replaced by the default name
    (["--val-fraction", "0"], ["--val-fraction 0 leaves no validation set"]),  # every trial failed, exit 1
])
def test_tune_options_once_accepted_are_refused(tmp_path, capsys, argv, fragments):
    pytest.importorskip("optuna")
    code, err = run_cli(capsys, "tune", "--trials", "1", "--out", tmp_path / "tune", *argv)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "tune" / "study.db").exists()


def test_trace_dot_with_an_unknown_format_is_refused_before_the_step(tmp_path, capsys):
    # was a RuntimeError traceback from Graphviz (or, without Graphviz, a .dot file under another name)
    code, err = run_cli(capsys, "trace", "--dot", tmp_path / "graph.xyz")
    assert_one_line_error(code, err, "--dot", "'.xyz'", ".svg")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, fragments", [
    # fine-tuning settings without fine-tuning were ignored
    (["--amount", "0.5", "--lr", "0.1"], ["--lr sets the fine-tuning, which is off", "--finetune-epochs"]),
    (["--amount", "0.5", "--batch-size", "8", "--log-every", "2"], ["--batch-size, --log-every set"]),
    # a norm order for a method without one was ignored
    (["--amount", "0.5", "--n", "3"], ["--n sets the norm order", "not global-l1"]),
    # every hidden unit removed: a model that predicts one class, written as a success
    (["--method", "ln-structured", "--amount", "1", "--shrink"], ["would remove every hidden unit"]),
])
def test_prune_options_once_accepted_are_refused(tmp_path, capsys, argv, fragments):
    code, err = run_cli(capsys, "prune", tmp_path / "missing.ckpt", "--out", tmp_path / "out", *argv)
    assert_one_line_error(code, err, *fragments)
    assert not Path(tmp_path / "out").exists()


def test_a_data_folder_that_is_a_file_is_called_one(tmp_path):
    from tinygrad_opt.data.locate import find_in_root
    from tinygrad_opt.data.sources import IDX_DATASETS

    not_a_folder = tmp_path / "mnist.tar"
    not_a_folder.write_bytes(b"x")
    assert find_in_root(not_a_folder, IDX_DATASETS["mnist"]) == (None, "is a file, not a folder")  # was "does not exist"
    assert find_in_root(tmp_path / "missing", IDX_DATASETS["mnist"]) == (None, "does not exist")


def test_two_runs_into_one_out_folder_are_refused(tmp_path, capsys):
    # both used to pass the "already holds a run" check (no last.ckpt yet) and overwrite each other's files
    from tinygrad_opt.train.out_lock import hold_out_folder

    out = tmp_path / "run"
    with hold_out_folder(out):  # as another process still training there
        code, err = run_cli(capsys, "train", "--epochs", "1", "--hidden", "8", "--quiet", "--out", out)
        assert_one_line_error(code, err, f"{out} is the output folder of another run that is still training")
        assert list(out.iterdir()) == []
    code, err = run_cli(capsys, "train", "--epochs", "1", "--hidden", "8", "--quiet", "--out", out)
    assert code == 0, err  # released when the other run ends
    code, err = run_cli(capsys, "train", "--resume", out, "--epochs", "2", "--quiet")
    assert code == 0, err


def test_resuming_a_pruned_checkpoint_says_it_holds_weights_only(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--hidden", "8", "--quiet", "--out", str(run)]) == 0
    assert cli.main(["prune", str(run), "--amount", "0.5", "--out", str(tmp_path / "pruned")]) == 0
    capsys.readouterr()
    # was KeyError: 'optimizer', a traceback
    code, err = run_cli(capsys, "train", "--resume", tmp_path / "pruned" / "pruned.ckpt", "--out", tmp_path / "x")
    assert_one_line_error(code, err, "pruned.ckpt holds weights only", "fine-tuning epochs")


@pytest.mark.parametrize("argv, fragment", [
    (["--step-size", "3"], "--step-size applies to --schedule step / warm-restarts / cyclic, not none"),
    (["--gamma", "0.5", "--schedule", "cosine"], "--gamma applies to --schedule step / multistep"),
    (["--max-lr", "0.1"], "--max-lr applies to --schedule onecycle / cyclic, not none"),
    (["--min-lr", "1e-5", "--schedule", "step"], "--min-lr applies to --schedule cosine"),
    (["--power", "2"], "--power applies to --schedule polynomial, not none"),
    (["--sam-rho", "0.1"], "--sam-rho applies to --optimizer sam, not adam"),
    (["--model", "cnn", "--hidden", "64"], "--hidden applies to --model mlp, not cnn"),
    (["--model", "cnn", "--activation", "tanh"], "--activation applies to --model mlp, not cnn"),
    (["--model", "lenet5", "--dropout", "0.3"], "--dropout applies to --model mlp / cnn, not lenet5"),
    (["--prune-frequency", "5"], "--prune-frequency shapes the pruning, which is off"),
    (["--monitor", "val_acc", "--val-fraction", "0"], "--monitor val_acc watch the validation set"),
])
def test_a_setting_for_another_schedule_model_or_optimizer_is_refused(tmp_path, capsys, argv, fragment):
    # each was silently ignored: the run trained without it and said nothing
    code, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "run", *argv)
    assert_one_line_error(code, err, fragment)


def test_settings_for_the_chosen_schedule_and_model_are_kept():
    config = TrainConfig.from_dict({"schedule": "step", "step_size": 2, "gamma": 0.5, "model": "cnn",
                                    "dropout": 0.2, "epochs": 4}).resolved()
    assert (config.step_size, config.gamma, config.dropout) == (2, 0.5, 0.2)
    assert TrainConfig.from_dict({"model": "lenet5", "dropout": 0.0}).resolved().dropout == 0.0
