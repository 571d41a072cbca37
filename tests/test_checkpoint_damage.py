"""Damaged checkpoints: every bit flip is either harmless (the same state) or a CheckpointError, and
every command that reads a checkpoint reports it in one line with exit code 2, never a traceback."""
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_opt import cli
from tinygrad_opt.train import load_checkpoint, save_checkpoint
from tinygrad_opt.train.errors import CheckpointError
from tinygrad_opt.train.serialization import loads_state

FAST = ["--hidden", "8", "--epochs", "1", "--batch-size", "64", "--quiet"]


def same_tree(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("damage") / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    return out


def test_every_single_bit_flip_is_harmless_or_a_checkpoint_error(tmp_path):
    path = save_checkpoint(tmp_path / "small.ckpt", {"epoch": 3, "model": {"w": np.arange(6.0).reshape(2, 3)},
                                                      "history": [{"loss": 0.5}]})
    data = path.read_bytes()
    original = load_checkpoint(path)
    damaged = tmp_path / "damaged.ckpt"
    for offset in range(len(data)):
        for bit in (0, 5):
            flipped = bytearray(data)
            flipped[offset] ^= 1 << bit
            damaged.write_bytes(flipped)
            try:
                state = load_checkpoint(damaged)
            except CheckpointError:
                continue
            state["path"] = original["path"]
            assert same_tree(state, original), f"byte {offset} bit {bit}: a different state was accepted"


def test_a_shrunk_shape_digit_is_caught_by_the_entry_crc(tmp_path):
    path = save_checkpoint(tmp_path / "a.ckpt", {"model": {"w": np.zeros(100, np.float32)}})
    data = path.read_bytes()
    assert data.count(b"(100,)") == 1
    shrunk = data.replace(b"(100,)", b"(10,) ")  # a valid .npy header that promises fewer bytes
    assert len(shrunk) == len(data)
    (tmp_path / "b.ckpt").write_bytes(shrunk)
    with pytest.raises(CheckpointError, match="b.ckpt is damaged.*CRC"):
        load_checkpoint(tmp_path / "b.ckpt")


@pytest.mark.parametrize("field, value, match", [
    ("method", 99, "not a plain .npy entry"),        # an unknown compression method
    ("flags", 0x1, "not a plain .npy entry"),         # the encryption bit
    ("version", 0xFF, None),                           # "version needed to extract": zipfile's own error
])
def test_damaged_zip_directory_fields_are_checkpoint_errors(tmp_path, field, value, match):
    path = save_checkpoint(tmp_path / "a.ckpt", {"model": {"w": np.ones(3)}})
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first central-directory record
    offset = {"version": 6, "flags": 8, "method": 10}[field]
    struct.pack_into("<H", data, central + offset, value | struct.unpack_from("<H", data, central + offset)[0])
    (tmp_path / "b.ckpt").write_bytes(data)
    with pytest.raises(CheckpointError, match=match or "b.ckpt is damaged"):
        load_checkpoint(tmp_path / "b.ckpt")


@pytest.mark.parametrize("key, value", [("epoch", "2"), ("step", -1), ("model", [1, 2]), ("history", {"a": 1}),
                                        ("optimizer", {"state": []}), ("rng_state", 5), ("model_config", "mlp"),
                                        ("version", "1")])
def test_a_checkpoint_of_the_wrong_shape_is_refused_by_its_schema(tmp_path, key, value):
    path = save_checkpoint(tmp_path / "a.ckpt", {"epoch": 1, key: value})
    what = "format version" if key == "version" else repr(key)
    with pytest.raises(CheckpointError, match=f"a.ckpt is damaged: its {what}"):
        load_checkpoint(path)


def _flip_shape_digit(ckpt: Path) -> None:
    """Turn the first 8 of the first layer's '(8, 64)' shape into 4: a different, valid .npy header."""
    data = ckpt.read_bytes()
    assert b"(8, 64)" in data
    ckpt.write_bytes(data.replace(b"(8, 64)", b"(4, 64)", 1))


@pytest.mark.parametrize("command", ["evaluate", "resume", "quantize", "prune", "distill"])
def test_every_command_reports_a_damaged_checkpoint_in_one_line(run, tmp_path, capsys, command):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _flip_shape_digit(copy / "last.ckpt")
    argv = {"evaluate": ["evaluate", copy / "last.ckpt"],
            "resume": ["train", "--resume", copy / "last.ckpt", "--epochs", "2", "--quiet"],
            "quantize": ["quantize", copy / "last.ckpt"],
            "prune": ["prune", copy / "last.ckpt", "--amount", "0.5", "--out", tmp_path / "pruned"],
            "distill": ["distill", "--teacher", copy / "last.ckpt", "--epochs", "1", "--out", tmp_path / "student",
                        "--quiet"]}[command]
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "last.ckpt is damaged" in err and "Traceback" not in err
