"""A pickle-free file format for nested training state, and atomic file writes.

A state tree (dicts, lists, tuples, numbers, strings, None, NumPy arrays and scalars,
Counters) is stored as one `.npz` archive (a zip of `.npy` files): every array becomes
its own entry, and the rest of the tree is JSON in the entry `__tree__`, where an array
appears as {"__array__": "a0"}. Loading uses `np.load(allow_pickle=False)`, so opening
a checkpoint can never run code, and the file can be inspected with NumPy alone.

JSON cannot say "tuple", "dict with integer keys" or "NumPy scalar", which the
optimizer and scheduler states contain, so those get small markers too; every value
comes back with its exact type and bits (floats go through repr, NaN/inf included).

Writes are atomic: the bytes go to a temporary file in the destination's folder, are
flushed and fsync'ed, and only then renamed over the destination (os.replace), so a
crash or Ctrl-C mid-write leaves the previous file intact.
"""
from __future__ import annotations

import glob
import io
import json
import os
import secrets
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

TREE_KEY = "__tree__"
ZIP_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive
_MARKERS = ("__array__", "__scalar__", "__tuple__", "__dict__", "__counter__")


class StateFormatError(ValueError):
    """A file is not a state archive of this format (or is damaged); the message names the file."""


def _host(value: Any) -> Any:
    """CuPy arrays come to the host; everything else is returned as is."""
    if not isinstance(value, np.ndarray) and hasattr(value, "__cuda_array_interface__") and hasattr(value, "get"):
        return value.get()
    return value


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _store(self, array: np.ndarray, path: str) -> str:
        if array.dtype.hasobject:
            raise TypeError(f"cannot store an object array at {path}: only numeric/bool/string arrays are supported")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def encode(self, value: Any, path: str = "state") -> Any:
        value = _host(value)
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.ndarray):
            return {"__array__": self._store(value, path)}
        if isinstance(value, np.generic):
            return {"__scalar__": self._store(np.asarray(value), path)}
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, Counter):
            return {"__counter__": [[self.encode(k, path), self.encode(v, f"{path}[{k!r}]")] for k, v in value.items()]}
        if isinstance(value, dict):
            if all(isinstance(k, str) and k not in _MARKERS for k in value):
                return {k: self.encode(v, f"{path}.{k}") for k, v in value.items()}
            return {"__dict__": [[self.encode(k, path), self.encode(v, f"{path}[{k!r}]")] for k, v in value.items()]}
        raise TypeError(
            f"cannot store a {type(value).__name__} at {path}: checkpoints hold only numbers, strings, None, "
            "lists, tuples, dicts and arrays (keep other objects out of state_dict())"
        )


def _decode(value: Any, arrays: Any, name: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays, name) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (marker, inner), = value.items()
        if marker == "__array__":
            return _array(arrays, inner, name)
        if marker == "__scalar__":
            return _array(arrays, inner, name)[()]
        if marker == "__tuple__":
            return tuple(_decode(v, arrays, name) for v in inner)
        if marker == "__dict__":
            return {_decode(k, arrays, name): _decode(v, arrays, name) for k, v in inner}
        if marker == "__counter__":
            return Counter({_decode(k, arrays, name): _decode(v, arrays, name) for k, v in inner})
    return {k: _decode(v, arrays, name) for k, v in value.items()}


def _array(arrays: Any, key: str, name: str) -> np.ndarray:
    try:
        return arrays[key]
    except KeyError:
        raise StateFormatError(f"{name}: the archive lacks array entry {key!r}; the file is damaged") from None


def dumps_state(tree: Any) -> bytes:
    """The bytes of a state archive holding `tree`."""
    encoder = _Encoder()
    meta = json.dumps(encoder.encode(tree), allow_nan=True, separators=(",", ":"))
    buffer = io.BytesIO()
    arrays = dict(encoder.arrays)
    arrays[TREE_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def loads_state(data: bytes | str | os.PathLike, name: str | None = None) -> Any:
    """The tree stored by dumps_state (from bytes or a file path); any damage is a StateFormatError.

    Every entry is read in full and its CRC checked before anything is used: NumPy alone reads
    only as many bytes as an entry's header promises, so a flipped shape digit would otherwise
    load a silently different array.
    """
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    name = name or (str(data) if not isinstance(data, (bytes, bytearray)) else "<bytes>")
    if isinstance(source, io.BytesIO):
        head = bytes(data[:4])
    else:
        with open(source, "rb") as f:  # FileNotFoundError propagates as is
            head = f.read(4)
    if head != ZIP_MAGIC:
        raise StateFormatError(f"{name} is not a tinygrad_opt checkpoint/state file (not an .npz archive; "
                               f"{'empty' if not head else 'it starts with ' + repr(head)})")
    try:
        entries = _read_entries(source, name)
    except StateFormatError:
        raise
    except Exception as err:  # zipfile and NumPy raise many types for damaged bytes (TokenError, RuntimeError, ...)
        detail = " ".join(str(err).split()) or type(err).__name__
        raise StateFormatError(f"{name} is damaged (truncated or corrupt; {detail}): "
                               "use another checkpoint, e.g. best.ckpt or an earlier copy") from None
    if TREE_KEY not in entries:
        raise StateFormatError(f"{name} is an .npz archive but not a tinygrad_opt state file (no {TREE_KEY} entry)")
    try:
        tree = json.loads(bytes(entries.pop(TREE_KEY)).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise StateFormatError(f"{name} is damaged: its {TREE_KEY} entry is not valid JSON ({err})") from None
    return _decode(tree, entries, name)


_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what np.savez / np.savez_compressed write


def _read_entries(source: Any, name: str) -> dict[str, np.ndarray]:
    """Every `<key>.npy` entry of the archive as an array, each read in full and checked."""
    arrays = {}
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            if info.flag_bits & 0x1 or info.compress_type not in _METHODS or not info.filename.endswith(".npy"):
                raise StateFormatError(f"{name} is damaged: entry {info.filename!r} is not a plain .npy entry "
                                       f"(method {info.compress_type}, flags {info.flag_bits:#x})")
            raw = archive.read(info)  # zipfile checks the CRC once the whole entry is read
            stream = io.BytesIO(raw)
            array = np.lib.format.read_array(stream, allow_pickle=False)
            if stream.tell() != len(raw):
                raise StateFormatError(f"{name} is damaged: entry {info.filename!r} holds "
                                       f"{len(raw) - stream.tell()} bytes more than its header describes")
            arrays[info.filename[:-len(".npy")]] = array
    return arrays


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the new one, never a partial one.

    The file gets the permissions any new file gets (0666 less the umask). Temporary files
    that killed writers left beside `path` are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp_name = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:  # KeyboardInterrupt included: never leave the temporary file behind
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def remove_stale_temporaries(path: Path) -> None:
    """Delete `.NAME.<pid>-<random>.tmp` files of `path` whose writing process no longer runs."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*-*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            try:
                tmp.unlink()
            except OSError:
                pass


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
