"""`python -m tinygrad_opt.tune.worker_process SETTINGS_PICKLE INDEX DEADLINE`: one local worker of `tune --workers K`.

Started by runner._run_local_workers; exits 0 when no trial is left to claim, 130 on Ctrl-C.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from .runner import worker_main

    settings_path, index, deadline = argv
    settings = pickle.loads(Path(settings_path).read_bytes())
    try:
        return worker_main(settings, int(index), None if deadline == "none" else float(deadline))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
