"""`tinygrad-opt COMMAND ...` (also `python -m tinygrad_opt COMMAND ...`).

Each command is a module in this package (tinygrad_opt/cli/) with add_arguments(parser) and
run(args) -> int (see tinygrad_opt/cli/__init__.py). To add one, create the module
and add its name to COMMANDS: "my_command" becomes `tinygrad-opt my-command`.

Exit codes: 0 success; 2 a usage or input error, a bad environment variable included (the message
is one line, no traceback; set TINYGRAD_OPT_DEBUG=1 to see the traceback); 130 interrupted by Ctrl-C
(after saving a checkpoint when training).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ..backend import GPU_INSTALL_HINT, cuda_is_available
from ..data.errors import ChecksumError, DatasetNotFoundError, DownloadError, IDXFormatError, LabelRangeError
from ..errors import EnvironmentSettingError
from ..kernels import environment
from ..train.errors import CheckpointError, ConfigError, NamesSettings, NonFiniteLossError, TrainingInterrupted
from .config import with_flags
from .outputs import check_output_file, check_output_folder

COMMANDS = ["train", "evaluate", "trace", "tune", "prune", "quantize", "distill"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message tells the user what to fix: reported in one line with exit code 2."""
    return (ConfigError, CheckpointError, NonFiniteLossError, DatasetNotFoundError, IDXFormatError,
            LabelRangeError, ChecksumError, DownloadError, EnvironmentSettingError)


def _debugging() -> bool:
    """TINYGRAD_OPT_DEBUG=1: errors show their traceback (a bad value of it is reported like any other)."""
    try:
        return bool(environment.read("TINYGRAD_OPT_DEBUG"))
    except EnvironmentSettingError:
        return False


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the message and where to find help) instead of the whole usage."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from .. import __version__  # noqa: PLC0415

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tinygrad-opt",
        description="Train, evaluate and optimise small networks with the tinygrad_opt autodiff engine.",
    )
    parser.add_argument("--version", action="version", version=f"tinygrad-opt {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"tinygrad_opt.cli.{name}")
        sub = subparsers.add_parser(name.replace("_", "-"), help=_first_line(module.__doc__),
                                    description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


# the options that name output files / folders, in every command that has them
_OUTPUT_FILES = {"json": "--json", "save_config": "--save-config", "dot": "--dot"}
_OUTPUT_FOLDERS = {"out": "--out"}


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output is writable before the command's work starts (a ConfigError otherwise)."""
    for dest, flag in _OUTPUT_FILES.items():
        check_output_file(getattr(args, dest, None), flag)
    for dest, flag in _OUTPUT_FOLDERS.items():
        check_output_folder(getattr(args, dest, None), flag)


def _check_device(device: str | None) -> None:
    """--device cuda needs a GPU: said once here for every command (train also for a config file's device)."""
    if device != "cuda":
        return
    if not cuda_is_available():
        raise ConfigError(f"--device cuda was requested but CUDA is not available: {GPU_INSTALL_HINT}")


def _one_line(error: BaseException) -> str:
    """The message on one line; an error that names settings names them as their flags."""
    return " ".join((with_flags(error) if isinstance(error, NamesSettings) else str(error)).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (argparse's own exits are returned, not raised)."""
    try:  # the package reads its variables where first needed: check them all before anything runs
        environment.check_environment()
    except EnvironmentSettingError as error:
        if _debugging():
            raise
        print(f"tinygrad-opt: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error argparse already printed (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    prog = f"{parser.prog} {args.command}"
    try:
        _check_outputs(args)
        _check_device(getattr(args, "device", None))
        return int(args._run(args) or 0)
    except TrainingInterrupted as interrupt:
        print(f"\n{prog}: {interrupt}", file=sys.stderr)
        if interrupt.checkpoint is not None:
            print(f"resume with: tinygrad-opt train --resume {interrupt.checkpoint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _user_errors() as error:
        if _debugging():
            raise
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as error:  # a size no setting check foresaw: still one line, and what to do
        if _debugging():
            raise
        print(f"{prog}: error: not enough memory ({_one_line(error) or 'MemoryError'}); choose smaller sizes",
              file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a file that cannot be read or written (disk full, permissions): the user can fix it
        if error.filename is None or _debugging():
            raise
        print(f"{prog}: error: {error.filename}: {error.strerror or _one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
