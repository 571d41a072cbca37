"""Config files: TOML (or YAML with pyyaml) files of TrainConfig keys, read and written.

`save_config` writes what `read_config_file` / `load_config` read back to the same values;
run_training writes each run's effective config this way, and `tinygrad-opt train --config`
reads it.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .config import TrainConfig
from .errors import ConfigError
from .serialization import atomic_write_text


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _yaml():
    try:
        import yaml  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ConfigError("YAML config files need pyyaml: pip install 'tinygrad_opt[yaml]' (or use a .toml file)") \
            from None
    return yaml


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The key -> value mapping of a TOML (or, with pyyaml, YAML) file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:  # a checkpoint or picture given by mistake
        raise ConfigError(f"config file {path} is not a text file (TOML or YAML): give the run's config.toml, "
                          "not a checkpoint or other binary file") from None
    if _is_yaml(path):
        yaml = _yaml()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(err).split())}") from None
        data = {} if data is None else data
    else:
        try:
            import tomllib  # noqa: PLC0415 - Python 3.11+
        except ImportError:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # noqa: PLC0415
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, got {type(data).__name__}")
    if set(data) == {"train"} and isinstance(data["train"], dict):  # a [train] table is accepted too
        data = data["train"]
    return data


def load_config(path: str | os.PathLike, base: TrainConfig | None = None) -> TrainConfig:
    """`base` (default: the defaults) updated with the file's keys."""
    return (base or TrainConfig()).updated(read_config_file(path), source=f"config file {path}")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are valid in a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def dumps_toml(values: Mapping[str, Any], header: str = "") -> str:
    """Flat key = value TOML; None values are left out (they mean "the default")."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def save_config(config: TrainConfig | Mapping[str, Any], path: str | os.PathLike,
                keys: Iterable[str] | None = None) -> Path:
    """Write a config as TOML (or YAML for .yaml/.yml) that `--config` reads back to the same values."""
    path = Path(path)
    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    if keys is not None:
        values = {k: values[k] for k in keys}
    if _is_yaml(path):
        text = "# tinygrad-opt train config\n" + _yaml().safe_dump(values, sort_keys=False)
    else:
        text = dumps_toml(values, "tinygrad-opt train config (tinygrad-opt train --config FILE)")
    return atomic_write_text(path, text)
