"""Output paths checked before any work starts, so a long run never fails at its last write."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..train.errors import ConfigError


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path, flag: str, target: Path) -> None:
    """Create and delete a file in `folder`: the only test that sees read-only mounts, /proc and full quotas."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ConfigError(f"{flag} {target}: cannot write in {folder} ({err.strerror or err}); "
                          "choose a writable location") from None


def check_output_folder(path: str | os.PathLike | None, flag: str = "--out", named: Path | None = None) -> None:
    """`path` is, or can become, a folder that files can be written to (`named`: the file the user gave)."""
    if path is None:
        return
    target = Path(path).expanduser()
    existing = _nearest_existing(target.absolute())
    if not existing.is_dir():
        what = "is" if existing == target.absolute() and named is None else f"lies under {existing}, which is"
        raise ConfigError(f"{flag} {named or target} {what} a file, not a folder; choose a folder")
    _probe(existing, flag, named or target)


def check_output_file(path: str | os.PathLike | None, flag: str) -> None:
    """`path` names a file that can be (over)written: not a folder, in a writable (or creatable) folder."""
    if path is None:
        return
    target = Path(path).expanduser()
    if target.is_dir():
        raise ConfigError(f"{flag} {target} is a folder; give a file name")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"{flag} {target}: the file is not writable; choose another file")
    check_output_folder(target.absolute().parent, flag, named=target)
