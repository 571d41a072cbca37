"""Finding IDX files (argument > environment variable > cache) and downloading them safely.

No test touches the network: an autouse fixture replaces the URL opener with one that
fails like an offline machine, and downloads are tested from file:// mirrors.
"""
import dataclasses
import hashlib
import io
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from tinygrad_opt.data import (
    ChecksumError, DatasetNotFoundError, DownloadError, download_idx_dataset, load_dataset, locate_idx_files,
    write_idx,
)
from tinygrad_opt.data import download as download_module
from tinygrad_opt.data.download import checksum_matches
from tinygrad_opt.data.locate import ENV_VAR, cache_dir
from tinygrad_opt.data.sources import FASHION_MNIST, IDX_DATASETS, MNIST, PARTS, IDXDataset

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
needs_shared_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "train-labels-idx1-ubyte.gz").is_file(),
    reason=f"full MNIST not present at {SHARED_MNIST} (only on the project's machines)",
)


def _offline(url, timeout=None):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """A private cache, no TINYGRAD_OPT_DATA, and no network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(download_module, "urlopen", _offline)


def write_fake_set(folder: Path, n_train: int, n_test: int = 4, gz: bool = True, seed: int = 0) -> Path:
    """Four small valid MNIST-shaped IDX files; n_train identifies which folder was read."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", rng.integers(0, 10, n, dtype=np.uint8))
    return folder


def fake_info(folder: Path, name: str = "mnist", mirrors=()) -> IDXDataset:
    """MNIST's description with checksums of the fake files in `folder` (so downloads can succeed)."""
    md5 = {p: hashlib.md5((folder / f"{MNIST.files[p]}.gz").read_bytes()).hexdigest() for p in PARTS}
    return dataclasses.replace(MNIST, name=name, md5_gz=md5, md5_raw={}, mirrors=tuple(mirrors))


# ---- search order ---------------------------------------------------------------------

def test_argument_beats_env_beats_cache(tmp_path, monkeypatch):
    arg, env = write_fake_set(tmp_path / "arg", 5), write_fake_set(tmp_path / "env", 6)
    write_fake_set(cache_dir("mnist"), 7)
    monkeypatch.setenv(ENV_VAR, str(env))
    assert len(load_dataset("mnist", data_dir=arg).x_train) == 5
    assert len(load_dataset("mnist").x_train) == 6
    monkeypatch.delenv(ENV_VAR)
    assert len(load_dataset("mnist").x_train) == 7
    assert cache_dir("mnist") == tmp_path / "xdg-cache" / "tinygrad_opt" / "mnist"


def test_cache_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("fashion-mnist") == tmp_path / "home" / ".cache" / "tinygrad_opt" / "fashion-mnist"


@pytest.mark.parametrize("emptied", [False, True])
def test_a_data_dir_that_lacks_files_is_an_error_not_a_fall_back(tmp_path, monkeypatch, emptied):
    # it fell through to $TINYGRAD_OPT_DATA (training on other files than the ones pointed at) or, offline,
    # tried a download and printed its progress before the error
    partial = write_fake_set(tmp_path / "partial", 5)
    for f in partial.iterdir() if emptied else [partial / "t10k-labels-idx1-ubyte.gz"]:
        f.unlink()
    monkeypatch.setenv(ENV_VAR, str(write_fake_set(tmp_path / "env", 6)))
    monkeypatch.setattr(download_module, "urlopen", lambda *a, **k: pytest.fail("no download for a data_dir"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", data_dir=partial)
    message = str(info.value)
    assert f"data dir {partial}: " in message and "leave out --data-dir" in message
    assert ("no IDX files" if emptied else "incomplete: lacks t10k-labels-idx1-ubyte") in message


@pytest.mark.parametrize("sub", ["", "mnist", "MNIST/raw"])
@pytest.mark.parametrize("gz", [True, False])
def test_layouts_and_compression(tmp_path, sub, gz):
    write_fake_set(tmp_path / "root" / sub, 5, gz=gz)
    data = load_dataset("mnist", data_dir=tmp_path / "root", download=False)
    assert data.x_train.shape == (5, 784) and data.x_test.shape == (4, 784)
    assert data.y_train.dtype == np.int64 and data.x_train.dtype == np.float32


def test_dotted_file_names(tmp_path):
    folder = write_fake_set(tmp_path / "dotted", 5, gz=False)
    for p in folder.iterdir():
        p.rename(folder / p.name.replace("-idx", ".idx"))  # train-images.idx3-ubyte
    assert len(load_dataset("mnist", data_dir=folder).x_train) == 5


def test_dataset_subfolder_preferred_over_files_beside_it(tmp_path):
    write_fake_set(tmp_path / "root", 5)
    write_fake_set(tmp_path / "root" / "fashion-mnist", 6)
    assert len(load_dataset("fashion-mnist", data_dir=tmp_path / "root").x_train) == 6
    assert len(load_dataset("mnist", data_dir=tmp_path / "root").x_train) == 5


@needs_shared_mnist
def test_mnist_files_are_not_taken_for_fashion_mnist(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for f in SHARED_MNIST.glob("*.gz"):
        (folder / f.name).symlink_to(f)
    with pytest.raises(DatasetNotFoundError, match="holds mnist files, not fashion-mnist"):
        locate_idx_files(FASHION_MNIST, data_dir=folder, download=False)
    assert locate_idx_files(MNIST, data_dir=folder, download=False)["train_images"].parent == folder


# ---- missing data: clear errors -----------------------------------------------------

def test_missing_data_dir_says_how_to_get_mnist(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path / "typo")
    message = str(info.value)
    assert "typo" in message and "does not exist" in message
    for needed in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "--data-dir", ENV_VAR):
        assert needed in message


def test_offline_error_lists_every_folder_searched(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(ENV_VAR, str(empty))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist")
    message = str(info.value)
    assert f"{empty} (${ENV_VAR}): no IDX files" in message
    assert f"{cache_dir('fashion-mnist')} (cache)" in message
    assert "Temporary failure in name resolution" in message  # the download's own error
    assert "--data-dir" in message and "--dataset digits" in message
    assert not any(cache_dir("fashion-mnist").glob("*")), "a failed download must leave no files"


def test_download_false_does_not_try_the_network(tmp_path, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("download=False must not open URLs")

    monkeypatch.setattr(download_module, "urlopen", fail)
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_dataset("mnist", download=False)


def test_incomplete_folder_names_the_missing_files(tmp_path):
    folder = write_fake_set(tmp_path / "d", 5)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="incomplete: lacks train-labels-idx1-ubyte"):
        load_dataset("mnist", data_dir=folder, download=False)


def test_corrupt_file_found_on_disk_is_reported_not_skipped(tmp_path):
    folder = write_fake_set(tmp_path / "d", 5)
    victim = folder / "train-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(ValueError, match=f"{victim}.*truncated"):
        load_dataset("mnist", data_dir=folder)


def test_labels_out_of_range_in_a_dataset_file(tmp_path):
    folder = write_fake_set(tmp_path / "d", 5)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 10, 2], np.uint8))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: label 10 at index 2 is outside \[0, 10\)"):
        load_dataset("mnist", data_dir=folder)


# ---- downloading ---------------------------------------------------------------------

def _file_url(folder: Path) -> str:
    return folder.as_uri() + "/"


@pytest.fixture
def real_urlopen(monkeypatch):
    import urllib.request

    monkeypatch.setattr(download_module, "urlopen", urllib.request.urlopen)


def test_download_from_file_mirror_then_load(tmp_path, monkeypatch, real_urlopen):
    mirror = write_fake_set(tmp_path / "mirror", 8)
    monkeypatch.setitem(IDX_DATASETS, "mnist", fake_info(mirror, mirrors=[_file_url(mirror)]))
    data = load_dataset("mnist")  # nothing local: downloads into the cache
    assert len(data.x_train) == 8
    assert sorted(p.name for p in cache_dir("mnist").iterdir()) == sorted(p.name for p in mirror.iterdir())
    for p in mirror.iterdir():
        assert (cache_dir("mnist") / p.name).read_bytes() == p.read_bytes()


def test_checksum_mismatch_discards_the_file(tmp_path, real_urlopen):
    mirror = write_fake_set(tmp_path / "mirror", 8)
    info = fake_info(mirror, mirrors=[_file_url(mirror)])
    write_fake_set(mirror, 8, seed=1)  # the mirror now serves different bytes
    target = tmp_path / "target"
    with pytest.raises(ChecksumError, match="does not match the official") as err:
        download_idx_dataset(info, target, verbose=False)
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert not target.exists(), "no partial or unverified file, nor the empty folder made for them, may remain"


def test_bad_mirror_then_good_mirror(tmp_path, real_urlopen):
    good = write_fake_set(tmp_path / "good", 8)
    bad = write_fake_set(tmp_path / "bad", 8, seed=1)
    info = fake_info(good, mirrors=[_file_url(tmp_path / "nowhere"), _file_url(bad), _file_url(good)])
    target = download_idx_dataset(info, tmp_path / "target", verbose=False)
    assert all(checksum_matches(target / f"{info.files[p]}.gz", info, p) for p in PARTS)
    assert sorted(os.listdir(target)) == sorted(os.listdir(good))


def test_existing_files_are_not_downloaded_again(tmp_path, monkeypatch):
    mirror = write_fake_set(tmp_path / "mirror", 8)
    target = write_fake_set(tmp_path / "target", 8)
    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    opened = []

    def opener(url, timeout=None):
        opened.append(url)
        return open(mirror / url.rsplit("/", 1)[1], "rb")

    monkeypatch.setattr(download_module, "urlopen", opener)
    download_idx_dataset(fake_info(mirror, mirrors=["http://mirror.test/"]), target, verbose=False)
    assert opened == ["http://mirror.test/t10k-labels-idx1-ubyte.gz"]


class _DyingResponse(io.BytesIO):
    def read(self, size=-1):
        if self.tell() > 100:
            raise TimeoutError("The read operation timed out")
        return super().read(min(size, 64))


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch):
    mirror = write_fake_set(tmp_path / "mirror", 8)
    monkeypatch.setattr(download_module, "urlopen",
                        lambda url, timeout=None: _DyingResponse((mirror / url.rsplit("/", 1)[1]).read_bytes()))
    target = tmp_path / "target"
    with pytest.raises(DownloadError, match="TimeoutError: The read operation timed out"):
        download_idx_dataset(fake_info(mirror, mirrors=["http://mirror.test/"]), target, verbose=False)
    assert not target.exists()


def test_a_failed_download_reads_as_sentences_on_one_line_and_removes_the_folders_it_made(tmp_path, monkeypatch):
    mirror = write_fake_set(tmp_path / "mirror", 8)
    monkeypatch.setattr(download_module, "urlopen",
                        lambda url, timeout=None: _DyingResponse((mirror / url.rsplit("/", 1)[1]).read_bytes()))
    target = tmp_path / "cache" / "datasets" / "mnist"
    with pytest.raises(DownloadError) as err:
        download_idx_dataset(fake_info(mirror, mirrors=["http://a.test/", "http://b.test/"]), target, verbose=False)
    message = str(err.value)
    assert "\n" not in message and message.endswith(".")
    assert "tried 2 mirror(s): http://a.test/train-images-idx3-ubyte.gz: TimeoutError" in message
    assert "; http://b.test/train-images-idx3-ubyte.gz: TimeoutError" in message
    assert not (tmp_path / "cache").exists()


def test_urlopen_gets_a_short_timeout(tmp_path, monkeypatch):
    seen = []

    def opener(url, timeout=None):
        seen.append(timeout)
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(download_module, "urlopen", opener)
    with pytest.raises(DownloadError):
        download_idx_dataset(MNIST, tmp_path, timeout=3.0, verbose=False)
    assert seen == [3.0] * len(MNIST.mirrors)


@needs_shared_mnist
def test_official_checksums_accept_the_known_good_files(tmp_path, real_urlopen):
    """The shared copies: labels are the official .gz, images re-compressed with official payloads."""
    for part in PARTS:
        assert checksum_matches(SHARED_MNIST / f"{MNIST.files[part]}.gz", MNIST, part), part
    # and a download from them through the real MNIST checksums succeeds
    target = download_idx_dataset(dataclasses.replace(MNIST, mirrors=(_file_url(SHARED_MNIST),)), tmp_path / "t",
                                  verbose=False)
    assert sorted(os.listdir(target)) == sorted(f"{MNIST.files[p]}.gz" for p in PARTS)
    # a Fashion-MNIST checksum never accepts MNIST bytes
    assert not checksum_matches(SHARED_MNIST / "train-labels-idx1-ubyte.gz", FASHION_MNIST, "train_labels")


def test_downloaded_files_get_the_umask_permissions(tmp_path, real_urlopen):
    mirror = write_fake_set(tmp_path / "mirror", 8)
    old = os.umask(0o022)
    try:
        target = download_idx_dataset(fake_info(mirror, mirrors=[_file_url(mirror)]), tmp_path / "t", verbose=False)
    finally:
        os.umask(old)
    assert {p.stat().st_mode & 0o777 for p in target.iterdir()} == {0o644}
