"""The `tinygrad-opt` subcommands: one module each, listed in tinygrad_opt.cli.COMMANDS.

A command module has a docstring (its first line is the one-line help), and
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int        # the exit code
Errors the user can fix (bad options, missing files, ...) are raised as the exception
types listed in tinygrad_opt.cli.USER_ERRORS (ConfigError, CheckpointError, the data
errors, ...); the CLI prints their message on one line and exits with code 2.
"""
