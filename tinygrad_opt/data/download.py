"""Downloading IDX datasets from mirrors, with MD5 verification and atomic writes.

A file is streamed into a temporary file next to its destination, checked against the
official MD5, and only then renamed into place with os.replace, so an interrupted or
bad download never leaves a partial file where the loader would find it.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import sys
import urllib.request
from pathlib import Path
from typing import Callable

from .errors import ChecksumError, DownloadError
from .sources import PARTS, IDXDataset

# The function used to open URLs; tests replace it (no network on CI machines).
urlopen: Callable = urllib.request.urlopen

_CHUNK = 1 << 20


def file_md5(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_matches(path: str | os.PathLike, info: IDXDataset, part: str) -> bool:
    """True if the file is the official .gz, or (where published) decompresses to the official payload."""
    if file_md5(path) == info.md5_gz[part]:
        return True
    raw_md5 = info.md5_raw.get(part)
    if raw_md5 is None:
        return False
    with open(path, "rb") as f:
        data = f.read()
    try:
        payload = gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data
    except (OSError, EOFError, ValueError):
        return False
    return hashlib.md5(payload).hexdigest() == raw_md5


def _fetch(url: str, dest: Path, info: IDXDataset, part: str, timeout: float) -> None:
    """Stream `url` into a temp file beside `dest`, verify it, then move it into place."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    try:
        with os.fdopen(fd, "wb") as out, urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
        if not checksum_matches(tmp, info, part):
            raise ChecksumError(
                f"{url}: MD5 {file_md5(tmp)} does not match the official {info.md5_gz[part]} "
                f"of {info.name} {dest.name}; the file was discarded"
            )
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def download_idx_dataset(
    info: IDXDataset,
    folder: str | os.PathLike,
    mirrors: tuple[str, ...] | list[str] | None = None,
    timeout: float = 10.0,
    verbose: bool = True,
) -> Path:
    """Download the four `.gz` files of `info` that `folder` lacks; return the folder.

    Each file is tried on every mirror in turn until one gives bytes with the right
    MD5. Raises ChecksumError when every mirror that answered gave wrong bytes, else
    DownloadError listing each failed attempt.
    """
    folder = Path(folder)
    mirrors = tuple(info.mirrors if mirrors is None else mirrors)
    if not mirrors:
        raise DownloadError(f"no mirrors to download {info.name} from")
    created = _missing_folders(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _download_parts(info, folder, mirrors, timeout, verbose)
    except BaseException:
        for path in created:  # innermost first: a failed download leaves no empty cache folders behind
            try:
                path.rmdir()
            except OSError:  # not empty: an earlier part arrived, or someone else's files
                break
        raise
    return folder


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, innermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _download_parts(info: IDXDataset, folder: Path, mirrors: tuple[str, ...], timeout: float, verbose: bool) -> None:
    for part in PARTS:
        dest = folder / f"{info.files[part]}.gz"
        if dest.exists():
            continue
        attempts: list[str] = []
        mismatches = 0
        for base in mirrors:
            url = base + dest.name
            if verbose:
                print(f"tinygrad_opt: downloading {url} -> {dest}", file=sys.stderr)
            try:
                _fetch(url, dest, info, part, timeout)
                break
            except ChecksumError as err:
                mismatches += 1
                attempts.append(str(err))
            except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts are OSErrors
                attempts.append(f"{url}: {type(err).__name__}: {err}")
        else:
            detail = "; ".join(a.rstrip(".") for a in attempts)  # one sentence per attempt, even on one line
            kind = ChecksumError if mismatches == len(mirrors) else DownloadError
            raise kind(f"could not download {dest.name} of {info.name}; tried {len(attempts)} mirror(s): {detail}.")
