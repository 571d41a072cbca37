"""argparse options generated from TrainConfig's fields, shared by the commands that train.

Every option's default is argparse.SUPPRESS, so the parsed namespace holds only the
options given on the command line: those override the config file, and `explicit_settings`
tells --resume which settings the user asked to change.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any, Callable, Iterable

from ..train.config import TrainConfig, parse_value
from ..train.errors import ConfigError
from .config import GROUPS, with_flags


def _parser_for(f: dataclasses.Field) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return parse_value(f, text)
        except ConfigError as err:  # argparse turns this into "argument --lr: ..." and exit code 2
            raise argparse.ArgumentTypeError(with_flags(err).split(": ", 1)[-1]) from None
    parse.__name__ = f.metadata.get("kind", "value")
    return parse


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return ""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return f" (default {value})"


def add_config_arguments(parser: argparse.ArgumentParser, exclude: Iterable[str] = ()) -> None:
    """One option per TrainConfig field (--batch-size for batch_size ...), grouped as config.GROUPS says."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name not in set(exclude)}
    grouped = [(title, [k for k in keys if k in fields]) for title, keys in GROUPS.items()]
    listed = {k for _, keys in grouped for k in keys}
    grouped.append(("other", [k for k in fields if k not in listed]))
    for title, keys in grouped:
        if not keys:
            continue
        group = parser.add_argument_group(f"{title} options")
        for key in keys:
            f = fields[key]
            flag = "--" + key.replace("_", "-")
            meta = f.metadata
            help_text = meta.get("help", "") + _default_text(f)
            if meta.get("kind") == "bool":
                group.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction,
                                   default=argparse.SUPPRESS, help=help_text)
            elif meta.get("choices"):
                group.add_argument(flag, dest=key, choices=meta["choices"], default=argparse.SUPPRESS,
                                   type=_choice_normalizer, help=help_text)
            else:
                metavar = meta.get("metavar") or key.upper()
                group.add_argument(flag, dest=key, type=_parser_for(f), default=argparse.SUPPRESS,
                                   metavar=metavar, help=help_text)


def finite_float(text: str) -> float:
    """argparse type of every float option: nan and inf mean nothing to any of them."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def seed_value(text: str) -> int:
    """argparse type of every --seed: a non-negative integer, as NumPy's generators take."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _choice_normalizer(text: str) -> str:
    """Accept fashion_mnist for fashion-mnist and any case; argparse then checks the choices."""
    text = text.strip()
    return text if text.startswith("val_") else text.lower().replace("_", "-")


def explicit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig settings given on the command line (already parsed)."""
    keys = set(TrainConfig.keys())
    return {k: v for k, v in vars(args).items() if k in keys}
