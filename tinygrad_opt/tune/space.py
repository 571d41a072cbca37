"""The search space: which training settings a trial samples, over which ranges, and when.

A space is a list of parameters, each mapping to one key of the training config
(the keys of `tinygrad-opt train --config`), plus fixed settings every trial shares
and starting points tried first. A parameter is sampled only when its `when`
condition holds on the values drawn before it (momentum only for SGD and RMSprop,
the step size only for the step schedule), so Optuna sees a conditional space and
never wastes trials on knobs that do nothing.

Kinds (see README "Hyperparameter search" for the file format):
    float        low, high, log=False, step=None     -> trial.suggest_float
    int          low, high, log=False, step=1        -> trial.suggest_int
    categorical  choices (str, int, float, bool; lists are stored as JSON text)
    layers       layers=[min, max] and either units=[low, high] (log=True by default)
                 or unit_choices=[...]: a list of hidden sizes, one width per layer,
                 sampled as "<name>_layers" and "<name>_0", "<name>_1", ...

A parameter whose name starts with "_" is a switch: it is sampled and may appear in
other parameters' `when`, but is not a training setting and stays out of the config
(the default space's `_regularizer` picks one of weight decay, L1 or L2 this way).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

KINDS = ("float", "int", "categorical", "layers")


class SpaceError(ValueError):
    """A search-space file or definition is malformed; the message names the parameter and the fix."""


class _Picker(Protocol):
    """Where a parameter's value comes from: an Optuna trial, or a dict of already-sampled values."""

    def float(self, name: str, low: float, high: float, log: bool, step: float | None) -> float: ...
    def int(self, name: str, low: int, high: int, log: bool, step: int) -> int: ...
    def categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


class _TrialPicker:
    def __init__(self, trial: Any):
        self.trial = trial

    def float(self, name, low, high, log, step):
        return self.trial.suggest_float(name, low, high, log=log, step=step)

    def int(self, name, low, high, log, step):
        return self.trial.suggest_int(name, low, high, log=log, step=step)

    def categorical(self, name, choices):
        return self.trial.suggest_categorical(name, list(choices))


class _DictPicker:
    """Replays sampled values (a FrozenTrial's params) through the same code path as sampling."""

    def __init__(self, params: Mapping[str, Any]):
        self.params = params

    def _get(self, name):
        if name not in self.params:
            raise KeyError(f"the trial has no value for parameter {name!r}: was it sampled from another space?")
        return self.params[name]

    def float(self, name, low, high, log, step):
        return float(self._get(name))

    def int(self, name, low, high, log, step):
        return int(self._get(name))

    def categorical(self, name, choices):
        return self._get(name)


def _encode_choice(value: Any) -> Any:
    # Optuna's categorical distribution holds only None/bool/int/float/str: lists travel as JSON.
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else value


def _decode_choice(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("["):
        return json.loads(value)
    return value


@dataclass(frozen=True)
class Param:
    """One searched setting. `name` is the training-config key it sets."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()
    layers: tuple[int, int] = (1, 1)
    when: Mapping[str, tuple] = field(default_factory=dict)

    def active(self, config: Mapping[str, Any]) -> bool:
        """True when every `when` condition holds on the values chosen so far."""
        return all(config.get(key) in allowed for key, allowed in self.when.items())

    def pick(self, picker: _Picker) -> Any:
        if self.kind == "float":
            return picker.float(self.name, float(self.low), float(self.high), self.log, self.step)
        if self.kind == "int":
            return picker.int(self.name, int(self.low), int(self.high), self.log, int(self.step or 1))
        if self.kind == "categorical":
            return _decode_choice(picker.categorical(self.name, [_encode_choice(c) for c in self.choices]))
        n = picker.int(f"{self.name}_layers", self.layers[0], self.layers[1], False, 1)
        if self.choices:
            return [int(picker.categorical(f"{self.name}_{i}", list(self.choices))) for i in range(n)]
        return [picker.int(f"{self.name}_{i}", int(self.low), int(self.high), self.log, 1) for i in range(n)]

    def optuna_params(self, value: Any) -> dict[str, Any]:
        """The Optuna parameter(s) that encode `value` (used to enqueue starting points)."""
        if self.kind == "layers":
            sizes = [int(v) for v in value]
            return {f"{self.name}_layers": len(sizes), **{f"{self.name}_{i}": s for i, s in enumerate(sizes)}}
        if self.kind == "categorical":
            return {self.name: _encode_choice(value)}
        return {self.name: value}


@dataclass
class SearchSpace:
    """Parameters to sample (in order), settings every trial shares, and starting points.

    `suggest(trial)` returns a training config: `fixed`, then each active parameter's value.
    """

    params: list[Param]
    fixed: dict[str, Any] = field(default_factory=dict)
    enqueue: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for p in self.params:
            if p.name in seen:
                raise SpaceError(f"search space: parameter {p.name!r} is declared twice")
            for key in p.when:
                if key not in seen and key not in self.fixed:
                    raise SpaceError(
                        f"search space: parameter {p.name!r} has a condition on {key!r}, which is not declared "
                        f"before it; list {key!r} earlier (conditions read values already chosen)"
                    )
            seen.add(p.name)
        for point in self.enqueue:
            self.optuna_params(point)  # validates the names now rather than when the study starts

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def _build(self, picker: _Picker) -> dict[str, Any]:
        config = dict(self.fixed)
        for p in self.params:
            if p.active(config):
                config[p.name] = p.pick(picker)
        return {k: v for k, v in config.items() if not k.startswith("_")}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample a training config from an Optuna trial (conditional parameters only when active)."""
        return self._build(_TrialPicker(trial))

    def config_from_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild the training config of a finished trial from its Optuna params."""
        return self._build(_DictPicker(params))

    def optuna_params(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Translate a partial training config (a starting point) into Optuna's fixed params."""
        by_name = {p.name: p for p in self.params}
        out: dict[str, Any] = {}
        for key, value in point.items():
            if key not in by_name:
                raise SpaceError(
                    f"search space: starting point sets {key!r}, which is not a searched parameter; "
                    f"searched: {', '.join(by_name)}"
                )
            out.update(by_name[key].optuna_params(value))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The space in the file format (what `load_space` reads)."""
        params: dict[str, Any] = {}
        for p in self.params:
            entry: dict[str, Any] = {"type": p.kind}
            if p.kind in ("float", "int"):
                entry.update(low=p.low, high=p.high)
                if p.log:
                    entry["log"] = True
                if p.step is not None:
                    entry["step"] = p.step
            elif p.kind == "categorical":
                entry["choices"] = list(p.choices)
            else:
                entry["layers"] = list(p.layers)
                if p.choices:
                    entry["unit_choices"] = list(p.choices)
                else:
                    entry.update(units=[p.low, p.high], log=p.log)
            if p.when:
                entry["when"] = {k: list(v) for k, v in p.when.items()}
            params[p.name] = entry
        out: dict[str, Any] = {"params": params}
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        if self.enqueue:
            out["enqueue"] = [dict(e) for e in self.enqueue]
        return out


# --------------------------------------------------------------------------- parsing

def _number(name: str, entry: Mapping[str, Any], key: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpaceError(f"search space: parameter {name!r} needs a finite number for {key!r}, got {value!r}")
    return value


def _check_range(name: str, kind: str, low: float, high: float, log: bool) -> None:
    if not low < high:
        raise SpaceError(f"search space: parameter {name!r} ({kind}) needs low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise SpaceError(
            f"search space: parameter {name!r} is log-scaled, so low must be > 0 (got {low}); "
            f"use a small positive low such as 1e-6, or drop log = true"
        )


def parse_param(name: str, entry: Mapping[str, Any]) -> Param:
    """One `[params.NAME]` table of a space file -> Param, with errors that name the parameter."""
    if not isinstance(entry, Mapping):
        raise SpaceError(f"search space: parameter {name!r} must be a table with a 'type', got {entry!r}")
    kind = entry.get("type")
    if kind is None:  # shorthand: a table with only `choices` is categorical
        kind = "categorical" if "choices" in entry else None
    if kind not in KINDS:
        raise SpaceError(f"search space: parameter {name!r} has type {kind!r}; choose one of {', '.join(KINDS)}")
    allowed = {"type", "when", "low", "high", "log", "step", "choices", "layers", "units", "unit_choices"}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise SpaceError(f"search space: parameter {name!r} has unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    when_raw = entry.get("when", {})
    if not isinstance(when_raw, Mapping):
        raise SpaceError(f"search space: 'when' of {name!r} must map parameter names to allowed values")
    when = {k: tuple(v) if isinstance(v, (list, tuple)) else (v,) for k, v in when_raw.items()}
    log = bool(entry.get("log", False))
    if kind in ("float", "int"):
        low, high = _number(name, entry, "low"), _number(name, entry, "high")
        _check_range(name, kind, low, high, log)
        step = entry.get("step")
        if step is not None and log:
            raise SpaceError(f"search space: parameter {name!r} cannot have both log = true and a step")
        if kind == "int" and (int(low) != low or int(high) != high):
            raise SpaceError(f"search space: int parameter {name!r} needs integer bounds, got {low}..{high}")
        return Param(name, kind, low=low, high=high, log=log, step=step, when=when)
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise SpaceError(f"search space: categorical parameter {name!r} needs a non-empty list 'choices'")
        return Param(name, kind, choices=tuple(tuple(c) if isinstance(c, list) else c for c in choices), when=when)
    layers = entry.get("layers", [1, 1])
    if (not isinstance(layers, (list, tuple)) or len(layers) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in layers) or not 0 <= layers[0] <= layers[1]):
        raise SpaceError(f"search space: 'layers' of {name!r} must be [min, max] integers with 0 <= min <= max, got {layers!r}")
    if "unit_choices" in entry:
        units = entry["unit_choices"]
        if not isinstance(units, (list, tuple)) or not units or not all(isinstance(u, int) and u > 0 for u in units):
            raise SpaceError(f"search space: 'unit_choices' of {name!r} must be a list of positive integers")
        return Param(name, kind, choices=tuple(units), layers=tuple(layers), when=when)
    units = entry.get("units")
    if not isinstance(units, (list, tuple)) or len(units) != 2:
        raise SpaceError(f"search space: layers parameter {name!r} needs units = [low, high] or unit_choices = [...]")
    log = bool(entry.get("log", True))
    _check_range(name, kind, units[0], units[1], log)
    return Param(name, kind, low=int(units[0]), high=int(units[1]), log=log, layers=tuple(layers), when=when)


def space_from_dict(data: Mapping[str, Any], base: SearchSpace | None = None) -> SearchSpace:
    """Build a space from the file format. With `base`, the file's entries replace or extend it.

    Top-level keys: `params` (table of parameter tables), `fixed` (training-config values
    every trial uses), `enqueue` (list of partial configs tried first), `replace`
    (true: start from an empty space instead of `base`), `drop` (names to remove from `base`).
    """
    unknown = sorted(set(data) - {"params", "fixed", "enqueue", "replace", "drop"})
    if unknown:
        raise SpaceError(f"search space: unknown top-level key(s) {unknown}; allowed: params, fixed, enqueue, replace, drop")
    start = SearchSpace([]) if base is None or data.get("replace", False) else base
    drop = set(data.get("drop", []))
    fixed = {k: v for k, v in start.fixed.items() if k not in drop}
    fixed.update(data.get("fixed", {}))
    new = {name: parse_param(name, entry) for name, entry in data.get("params", {}).items()}
    params = [new.pop(p.name, p) for p in start.params if p.name not in drop and p.name not in fixed]
    params += [p for p in new.values() if p.name not in fixed]  # new names keep file order after the base ones
    enqueue = data.get("enqueue", start.enqueue)
    if not isinstance(enqueue, list) or not all(isinstance(e, Mapping) for e in enqueue):
        raise SpaceError("search space: 'enqueue' must be a list of tables (partial training configs)")
    return SearchSpace(params=params, fixed=fixed, enqueue=[dict(e) for e in enqueue])
