"""The command line and nothing else: `tinygrad-opt COMMAND ...` (also `python -m tinygrad_opt`).

One module per subcommand (listed in main.COMMANDS), each with a docstring (its first line is
the one-line help) and
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int        # the exit code
beside the run config (config.py: config-file keys = option names) and the option helpers.
Errors the user can fix (bad options, missing files, ...) are raised as the exception
types main._user_errors() lists (ConfigError, CheckpointError, the data errors, ...);
main prints their message on one line and exits with code 2.
"""
from .main import COMMANDS, EXIT_INTERRUPTED, EXIT_USAGE, build_parser, main

__all__ = ["COMMANDS", "EXIT_INTERRUPTED", "EXIT_USAGE", "build_parser", "main"]
