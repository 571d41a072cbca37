"""Exceptions of the data package, so callers (the CLI, the training loop) can catch them by meaning."""
from __future__ import annotations


class IDXFormatError(ValueError):
    """An IDX file is corrupt, truncated or not the kind of file expected; the message names the file."""


class LabelRangeError(ValueError):
    """A label lies outside [0, num_classes); the message names the source, the value and its index."""


class ChecksumError(ValueError):
    """A downloaded file's MD5 does not match the official checksum."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the searched folders and could not be downloaded.

    The message lists every folder looked at and says how to get the files.
    """


REDOWNLOAD_HINT = "delete the file and download it again (or pass --data-dir to a folder with good copies)"


class DownloadError(OSError):
    """Every mirror failed for a file (no network, HTTP error, ...); the message lists each attempt."""
