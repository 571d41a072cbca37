"""One run at a time per output folder.

Two commands given the same --out both passed the "already holds a run" check (neither had written
last.ckpt yet) and then overwrote each other's checkpoints, history and report file by file, each
exiting 0. The run holds an advisory lock on the folder itself (flock on the directory: no lock file
is left behind, and the kernel drops the lock when the process dies, so a killed run never blocks
the next one).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; runs are not guarded there
    fcntl = None  # type: ignore[assignment]


@contextmanager
def hold_out_folder(out_dir: Path) -> Iterator[None]:
    """Create `out_dir` and hold it for the block; ConfigError when another run holds it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError.about("{path} is the output folder of another run that is still training; wait for "
                                    "it to finish or choose another {out} folder", path=out_dir) from None
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
