"""Finding a dataset's IDX files on disk, and downloading them into the cache when absent.

An explicit `data_dir` argument (the CLI's --data-dir) is the only folder looked in: the four
files must be there, and one missing is an error naming it (no fall-back to other folders or a
download, which would silently train on other files than the ones pointed at). Without it the
search order is (the first folder holding all four files wins, else a download into the cache):
  1. the environment variable TINYGRAD_OPT_DATA,
  2. the cache folder: $XDG_CACHE_HOME/tinygrad_opt/<dataset> (default ~/.cache/...).
In each folder the files may sit directly, in a `<dataset>/` sub-folder (mnist/,
fashion-mnist/, torchvision's MNIST/ and FashionMNIST/) or in `<dataset>/raw/`.
File names may be `train-images-idx3-ubyte` with or without `.gz`, or the
`train-images.idx3-ubyte` spelling some archives use.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from .download import DownloadError, download_idx_dataset
from .errors import ChecksumError, DatasetNotFoundError
from .sources import IDX_DATASETS, PARTS, IDXDataset

ENV_VAR = "TINYGRAD_OPT_DATA"


def cache_root() -> Path:
    """$XDG_CACHE_HOME/tinygrad_opt, or ~/.cache/tinygrad_opt."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinygrad_opt"


def cache_dir(name: str) -> Path:
    return cache_root() / name


def search_roots(name: str, data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders searched for dataset `name`, in order, each with where it came from."""
    roots: list[tuple[str, Path]] = []
    if data_dir is not None:
        roots.append(("data_dir argument", Path(data_dir).expanduser()))
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append((f"${ENV_VAR}", Path(env).expanduser()))
    roots.append(("cache", cache_dir(name)))
    return roots


def _candidate_folders(root: Path, info: IDXDataset) -> list[Path]:
    """Dataset-named sub-folders first, so a folder holding several datasets is read correctly."""
    folders = []
    for sub in info.folder_names:
        folders += [root / sub / "raw", root / sub]
    return folders + [root]


def _file_in(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # "train-images.idx3-ubyte", as in some archives
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        path = folder / name
        if path.is_file():
            return path
    return None


def _labels_belong_to(path: Path) -> str | None:
    """Which dataset a (small) label file is byte-for-byte the official copy of, if any."""
    data = path.read_bytes()
    digests = {hashlib.md5(data).hexdigest()}
    try:
        if data.startswith(b"\x1f\x8b"):
            digests.add(hashlib.md5(gzip.decompress(data)).hexdigest())
    except (OSError, EOFError, ValueError):
        pass  # corrupt files are reported by the reader, with the file name
    for other in IDX_DATASETS.values():
        known = {other.md5_gz[p] for p in ("train_labels", "test_labels")}
        known |= {other.md5_raw[p] for p in ("train_labels", "test_labels") if p in other.md5_raw}
        if digests & known:
            return other.name
    return None


def find_in_root(root: Path, info: IDXDataset) -> tuple[dict[str, Path] | None, str]:
    """The four files under `root` (or None) and a note on what was found, for error messages."""
    if not root.is_dir():
        return None, "is a file, not a folder" if root.exists() else "does not exist"
    best: dict[str, Path] = {}
    foreign = ""  # a complete set that turned out to be another dataset's files
    for folder in _candidate_folders(root, info):
        found = {part: p for part in PARTS if (p := _file_in(folder, info.files[part])) is not None}
        if len(found) == len(PARTS):
            owner = _labels_belong_to(found["train_labels"])
            if owner is not None and owner != info.name:
                foreign = f"{folder} holds {owner} files, not {info.name}"
                continue
            return found, "found"
        if len(found) > len(best):
            best = found
    if best:
        missing = [info.files[p] for p in PARTS if p not in best]
        return None, f"incomplete: lacks {', '.join(missing)}"
    return None, foreign or "no IDX files"


def how_to_get(info: IDXDataset) -> str:
    names = ", ".join(f"{info.files[p]}.gz" for p in PARTS)
    return (
        f"To get {info.name}: download the four files {names} (for example from {info.mirrors[0]}) "
        f"into a folder, then pass --data-dir FOLDER (data_dir=FOLDER in Python) or set {ENV_VAR}=FOLDER; "
        "or use the embedded dataset, which needs no files: --dataset digits."
    )


def locate_idx_files(
    info: IDXDataset,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    timeout: float = 10.0,
) -> dict[str, Path]:
    """Paths of the four IDX files of `info`: in `data_dir` if given, else searching, then downloading into
    the cache (see the module docstring).

    Raises DatasetNotFoundError naming the folders searched, what each lacks and how to get the files.
    """
    if data_dir is not None:
        return _files_in_data_dir(info, Path(data_dir).expanduser())
    looked = []
    for origin, root in search_roots(info.name, data_dir):
        files, note = find_in_root(root, info)
        if files is not None:
            return files
        looked.append(f"{root} ({origin}): {note}")
    where = "; ".join(looked)  # readable on one line, as the CLI prints it
    if not download:
        raise DatasetNotFoundError(
            f"{info.name} files not found (download=False). Looked in: {where}. {how_to_get(info)}"
        )
    target = cache_dir(info.name)
    try:
        download_idx_dataset(info, target, timeout=timeout)
    except (DownloadError, ChecksumError, OSError) as err:
        raise DatasetNotFoundError(
            f"{info.name} files not found and the download into {target} failed. "
            f"Looked in: {where}. Download error: {err} {how_to_get(info)}"
        ) from err
    files, note = find_in_root(target, info)
    if files is None:  # cannot happen unless someone deletes files meanwhile
        raise DatasetNotFoundError(f"{info.name}: download into {target} finished but {note}. {how_to_get(info)}")
    return files


def _files_in_data_dir(info: IDXDataset, folder: Path) -> dict[str, Path]:
    """The four files in the folder the caller named, or an error saying what it lacks."""
    if not folder.is_dir():
        raise DatasetNotFoundError(f"data dir {folder} does not exist (or is not a folder). {how_to_get(info)}")
    files, note = find_in_root(folder, info)
    if files is None:
        raise DatasetNotFoundError(
            f"data dir {folder}: {note} for {info.name}. Put the missing files there (or in a {info.name}/ "
            f"sub-folder), or leave out --data-dir (data_dir=) to use ${ENV_VAR}, the cache or a download. "
            f"{how_to_get(info)}"
        )
    return files
