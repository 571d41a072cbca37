"""The training run's settings: one dataclass with their defaults, parsing and checks.

Every field of `TrainConfig` is a key of a config file (train/config_file.py) and, through
the CLI, a `tinygrad-opt train` option (`hidden` -> `--hidden`, `batch_size` -> `--batch-size`);
the field's metadata holds the help text, the choices and how a value is parsed (`kind`), so
adding a setting means adding one field here. A setting is parsed where it enters (`updated`)
and the whole config checked once (`resolved`); errors are ConfigErrors that name the settings
by their keys ("lr must be > 0"), which the CLI shows as its flags ("--lr must be > 0").

Many defaults are `None`, meaning "chosen from the other settings" (the learning rate
from the optimizer, the epochs, schedule and dropout from the model's recipe, the schedule's
knobs from the number of epochs, ...);
`TrainConfig.resolved()` fills them in, and that effective config is what
`--save-config` writes and every checkpoint stores.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import optim
from .errors import ConfigError

DATASETS = ("digits", "mnist", "fashion-mnist")
NORMALIZE = ("auto", "unit", "standard", "none")
ACTIVATIONS = ("relu", "tanh", "sigmoid")
MODELS = ("mlp", "cnn", "lenet5")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "radam", "rprop", "asgd",
              "adafactor", "lion", "schedulefree-adamw", "schedulefree-sgd", "sam", "lbfgs", "muon")
SAM_BASES = tuple(name for name in OPTIMIZERS if name not in ("sam", "lbfgs", "muon"))
SCHEDULES = ("none", "step", "multistep", "exponential", "cosine", "linear", "onecycle", "plateau", "warmup-cosine",
             "polynomial", "warm-restarts", "cyclic")
MONITORS = ("val_loss", "val_acc")
PRUNING = ("none", "global-l1", "l1")  # "none" and compress.schedule.PRUNE_METHODS
DEVICES = ("cpu", "cuda")

OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad",
                     "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "NAdam", "radam": "RAdam", "rprop": "Rprop",
                     "asgd": "ASGD", "adafactor": "Adafactor", "lion": "Lion",
                     "schedulefree-adamw": "ScheduleFreeAdamW", "schedulefree-sgd": "ScheduleFreeSGD",
                     "lbfgs": "LBFGS", "muon": "Muon"}
# The one default of the CLI's own: SGD at its signature's lr (torch's 1e-3) barely trains an MLP in 30 epochs.
CLI_LEARNING_RATES = {"sgd": 0.01}
# optimizers without weight decay (sam: its base optimizer decides)
NO_WEIGHT_DECAY = ("rprop", "lbfgs")
# schedule -> gamma when unset (the factor per decay step; plateau: the factor per reduction)
GAMMA_DEFAULTS = {"step": 0.1, "multistep": 0.1, "exponential": 0.9, "plateau": 0.1}
LOOKAHEAD_ALPHA_DEFAULT = 0.5
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop", "schedulefree-sgd", "sam", "muon")
# optimizers that read --betas (muon: the AdamW it steps the non-matrix parameters with; sam: its base decides)
BETAS_OPTIMIZERS = ("adam", "adamw", "adamax", "nadam", "radam", "lion", "schedulefree-adamw", "muon")
# the pairs an effective config written before betas were left unset for other optimizers holds
_FILLED_BETAS = ([0.9, 0.999], [0.9, 0.99])
# Settings whose default depends on the model (its recipe): None (unset, on the command line and in
# the config file) resolves to the model's value here; a value given on purpose, 0 included, wins.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"optimizer": "adam", "dropout": 0.0, "epochs": 30, "schedule": "none"},
    # the measured MNIST recipe: 10 epochs, the rate falling along a cosine to min_lr (0) over the run
    "cnn": {"optimizer": "adam", "dropout": 0.5, "epochs": 10, "schedule": "cosine"},
    "lenet5": {"optimizer": "adam", "dropout": 0.0, "epochs": 30, "schedule": "none"},  # no dropout layer
}
# What --augment changes in a model's recipe (unset settings only). The CNN's, measured on MNIST: shifted
# images regularise, so less dropout; Muon on its weight matrices fits them within the 10 epochs.
AUGMENT_DEFAULTS: dict[str, dict[str, Any]] = {"cnn": {"optimizer": "muon", "dropout": 0.1}}


def recipe_default(config: "TrainConfig", key: str, model: str | None = None) -> Any:
    """An unset setting's value in the recipe of `model` (default: the config's), with --augment's changes."""
    model = model or config.model
    if config.augment and key in AUGMENT_DEFAULTS.get(model, {}):
        return AUGMENT_DEFAULTS[model][key]
    return MODEL_DEFAULTS[model][key]
# input features of each dataset (for the memory estimate of a model before it is built)
DATASET_FEATURES = {"digits": 64, "mnist": 784, "fashion-mnist": 784}


def _opt(help: str, kind: str, choices: tuple | None = None, metavar: str | None = None) -> dict:
    return {"help": help, "kind": kind, "choices": choices, "metavar": metavar}


@dataclass
class TrainConfig:
    """Everything that defines a training run (see the module docstring)."""

    # data
    dataset: str = field(default="digits", metadata=_opt("dataset to train on (digits is embedded, no download)", "str", DATASETS))
    data_dir: str | None = field(default=None, metadata=_opt("folder holding the MNIST / Fashion-MNIST IDX files", "path", metavar="DIR"))
    normalize: str = field(default="auto", metadata=_opt(
        "input scaling: unit = [0, 1], standard = zero mean / unit variance, auto = standard for digits, unit otherwise",
        "str", NORMALIZE))
    val_fraction: float = field(default=0.1, metadata=_opt("fraction of the training set held out for validation (0: none)", "float"))
    # model
    model: str = field(default="mlp", metadata=_opt(
        "architecture: mlp (--hidden, --activation, --batchnorm), cnn (conv32-pool-conv64-pool-fc128 with "
        "BatchNorm2d) or lenet5; cnn and lenet5 need image data", "str", MODELS))
    augment: bool = field(default=False, metadata=_opt(
        "random shifts of the training images by up to 2 pixels (image data)", "bool"))
    augment_rotation: float = field(default=0.0, metadata=_opt(
        "with --augment: also turn each training image by a random angle of up to this many degrees", "float"))
    augment_scale: float = field(default=0.0, metadata=_opt(
        "with --augment: also scale each training image by a random factor in [1 - this, 1 + this]", "float"))
    hidden: list[int] = field(default_factory=lambda: [256], metadata=_opt("hidden layer sizes, e.g. 256 or 256,128", "int_list", metavar="SIZES"))
    activation: str = field(default="relu", metadata=_opt("hidden-layer activation", "str", ACTIVATIONS))
    dropout: float | None = field(default=None, metadata=_opt(
        "dropout probability after each hidden layer (cnn: before the last layer); default: mlp 0, cnn 0.5 "
        "(0.1 with --augment)", "float"))
    batchnorm: bool = field(default=False, metadata=_opt("BatchNorm1d after each hidden Linear layer", "bool"))
    conv_widths: list[int] | None = field(default=None, metadata=_opt(
        "cnn: output channels of each stage (a 3x3 conv, BatchNorm2d, ReLU, then a 2x2 max pool), e.g. 16,32; "
        "default 32,64", "int_list", metavar="WIDTHS"))
    # optimizer
    optimizer: str | None = field(default=None, metadata=_opt(
        "optimizer (default adam; the cnn with --augment: muon)", "str", OPTIMIZERS))
    lr: float | None = field(default=None, metadata=_opt(
        "learning rate (default: sgd 0.01, adam/adamw 1e-3, rmsprop/adagrad 1e-2)", "float"))
    momentum: float = field(default=0.0, metadata=_opt(
        "momentum (sgd, rmsprop; schedulefree-sgd and muon, where 0 means their defaults 0.9 and 0.95)", "float"))
    nesterov: bool = field(default=False, metadata=_opt("Nesterov momentum (sgd; needs --momentum > 0)", "bool"))
    betas: list[float] | None = field(default=None, metadata=_opt(
        "betas of the Adam family, lion and schedulefree-adamw, e.g. 0.9,0.999 (default; lion 0.9,0.99)", "float_pair",
        metavar="B1,B2"))
    weight_decay: float | None = field(default=None, metadata=_opt(
        "weight decay (default: the optimizer's own: 0; adamw 0.01, muon 0.1)", "float"))
    eps: float | None = field(default=None, metadata=_opt("optimizer epsilon (default: torch.optim's)", "float"))
    sam_base: str = field(default="sgd", metadata=_opt("sam: the optimizer SAM steps with", "str", SAM_BASES))
    sam_rho: float = field(default=0.05, metadata=_opt("sam: radius of the neighbourhood SAM looks at", "float"))
    lookahead_k: int | None = field(default=None, metadata=_opt(
        "wrap the optimizer in Lookahead with this many fast steps per slow update (default: no Lookahead)", "int"))
    lookahead_alpha: float = field(default=LOOKAHEAD_ALPHA_DEFAULT, metadata=_opt("Lookahead: step size towards the fast weights", "float"))
    # schedule
    schedule: str | None = field(default=None, metadata=_opt(
        "learning-rate schedule (default: none; cnn: cosine)", "str", SCHEDULES))
    step_size: int | None = field(default=None, metadata=_opt(
        "step: epochs between decays (default epochs // 3); warm-restarts: epochs per cosine period (default "
        "epochs // 3); cyclic: epochs per half cycle (default epochs // 4)", "int"))
    gamma: float | None = field(default=None, metadata=_opt(
        "decay factor (step/multistep 0.1, exponential 0.9, plateau 0.1)", "float"))
    milestones: list[int] | None = field(default=None, metadata=_opt(
        "multistep: epochs at which to decay (default 50%% and 75%% of the epochs)", "int_list", metavar="EPOCHS"))
    warmup_epochs: int | None = field(default=None, metadata=_opt("warmup-cosine: linear warm-up epochs (default epochs // 10, at least 1)", "int"))
    max_lr: float | None = field(default=None, metadata=_opt(
        "onecycle: peak learning rate (default: --lr); cyclic: top of the cycle (default 4 x --lr)", "float"))
    pct_start: float = field(default=0.3, metadata=_opt("onecycle: fraction of the steps spent rising", "float"))
    min_lr: float = field(default=0.0, metadata=_opt("cosine / warmup-cosine: final rate; plateau: lower bound", "float"))
    end_factor: float = field(default=0.0, metadata=_opt("linear: the rate falls from lr to lr * end_factor", "float"))
    plateau_patience: int = field(default=2, metadata=_opt("plateau: epochs without improvement before a reduction", "int"))
    power: float = field(default=1.0, metadata=_opt("polynomial: lr * (1 - epoch / epochs) ** power", "float"))
    # gradual magnitude pruning (Zhu & Gupta 2017) while training
    prune: str = field(default="none", metadata=_opt(
        "prune the weight matrices while training: global-l1 = smallest magnitudes over all layers together, "
        "l1 = each layer on its own; the epochs after --prune-end-epoch fine-tune with the masks fixed", "str", PRUNING))
    sparsity: float | None = field(default=None, metadata=_opt(
        "final fraction of weights pruned, e.g. 0.9 (needs --prune)", "float", metavar="S"))
    prune_start_epoch: float = field(default=0.0, metadata=_opt(
        "start pruning after this many epochs (fractions allowed)", "float", metavar="E"))
    prune_end_epoch: float | None = field(default=None, metadata=_opt(
        "reach --sparsity after this many epochs (default: 3/4 of --epochs)", "float", metavar="E"))
    prune_frequency: int | None = field(default=None, metadata=_opt(
        "optimizer steps between pruning steps (default: 20 pruning steps over the span)", "int", metavar="STEPS"))
    # loop
    batch_size: int = field(default=32, metadata=_opt("mini-batch size", "int"))
    epochs: int | None = field(default=None, metadata=_opt("number of epochs (default 30; cnn 10)", "int"))
    l1: float = field(default=0.0, metadata=_opt("L1 penalty lam * sum|w| added to the loss", "float"))
    l2: float = field(default=0.0, metadata=_opt("L2 penalty lam * sum w^2 added to the loss", "float"))
    clip_grad: float | None = field(default=None, metadata=_opt("clip the gradients' total norm to this value", "float"))
    patience: int | None = field(default=None, metadata=_opt("early stopping: epochs without improvement of --monitor", "int"))
    monitor: str = field(default="val_loss", metadata=_opt("metric for early stopping and best.ckpt", "str", MONITORS))
    seed: int = field(default=0, metadata=_opt("random seed (init, dropout, shuffling, validation split)", "int"))
    device: str = field(default="cpu", metadata=_opt("device to train on", "str", DEVICES))
    out: str | None = field(default=None, metadata=_opt("output folder (default runs/<dataset>-<time>)", "path", metavar="DIR"))
    quiet: bool = field(default=False, metadata=_opt("no progress bars or per-epoch lines", "bool"))
    log_every: int | None = field(default=None, metadata=_opt(
        "steps between reads of the running loss/accuracy from the device, where a NaN loss is also caught "
        "(default: every step on cpu, 50 on cuda, where each read waits for the GPU); the results do not depend on it",
        "int", metavar="N"))
    capture: bool = field(default=True, metadata=_opt(
        "record the training step on the first batches and replay it (tg.compile; the same numbers as eager, "
        "less Python per step); --no-capture runs every step eagerly. Steps it cannot replay (LBFGS/SAM, cuda) "
        "run eagerly anyway", "bool"))
    flush_denormal: bool = field(default=True, metadata=_opt(
        "flush subnormal floats (below 1.2e-38) to zero while training on the cpu (tg.set_flush_denormal): a dead "
        "unit's Adam moments decay into them, which x86 computes slowly; --no-flush-denormal keeps them, as torch "
        "does", "bool"))

    # ---- building and checking ------------------------------------------------------
    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> TrainConfig:
        """A config from a mapping of keys (dashes or underscores) to values, each parsed and checked."""
        return cls().updated(values, source)

    def updated(self, values: Mapping[str, Any], source: str | None = None) -> TrainConfig:
        """A copy with `values` applied (parsed like config-file values); unknown keys are an error.

        source: where the values come from ("config file x.toml"), named in errors before the key;
        None: the errors name the setting alone (the CLI shows it as its flag).
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes = {}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key not in fields:
                raise ConfigError(f"{source or 'settings'}: unknown key {raw_key!r}; valid keys: {', '.join(fields)}")
            changes[key] = parse_value(fields[key], value, source)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in dataclasses.asdict(self).items()}

    def resolved(self, given: Iterable[str] = ()) -> TrainConfig:
        """Fill every "chosen from the other settings" default, then check the whole config.

        given: the settings the user gave on purpose (the CLI: the options on the command line). One that
        the run does not read is refused whatever its value, also at its default; the others are refused
        only when their value differs from the default (a written effective config holds every setting).
        """
        given = frozenset(str(k).replace("-", "_") for k in given)
        # each value parsed as a config file's is (TrainConfig(epochs="x") or quiet="no" from Python); lists copied
        parsed = {f.name: parse_value(f, getattr(self, f.name)) for f in dataclasses.fields(self)}
        c = dataclasses.replace(self, **parsed)
        check_choices(c)
        for key in MODEL_DEFAULTS[c.model]:
            if getattr(c, key) is None:
                setattr(c, key, recipe_default(c, key))
        lr, weight_decay, eps = optimizer_defaults(c.sam_base if c.optimizer == "sam" else c.optimizer)
        stepping = c.sam_base if c.optimizer == "sam" else c.optimizer
        if c.betas is not None and stepping not in BETAS_OPTIMIZERS:
            if "betas" in given or c.betas not in _FILLED_BETAS:
                raise ConfigError.about(f"{{betas}}: {stepping} has no betas (they belong to "
                                        f"{', '.join(BETAS_OPTIMIZERS)}); drop it")
            c.betas = None
        if c.betas is None and stepping in BETAS_OPTIMIZERS:
            c.betas = [0.9, 0.99] if stepping == "lion" else [0.9, 0.999]
        if c.optimizer in ("schedulefree-sgd", "muon") and c.momentum == 0:
            c.momentum = 0.9 if c.optimizer == "schedulefree-sgd" else 0.95
        c.lr = lr if c.lr is None else c.lr
        c.weight_decay = weight_decay if c.weight_decay is None else c.weight_decay
        c.eps = eps if c.eps is None else c.eps
        c.normalize = resolve_normalize(c.normalize, c.dataset)
        if c.data_dir is not None:  # stored absolute, so a checkpoint's data is found from any folder
            c.data_dir = str(Path(c.data_dir).expanduser().absolute())
        if c.gamma is None and c.schedule in GAMMA_DEFAULTS:
            c.gamma = GAMMA_DEFAULTS[c.schedule]
        if c.schedule in ("step", "warm-restarts") and c.step_size is None:
            c.step_size = max(1, c.epochs // 3)
        if c.schedule == "cyclic" and c.step_size is None:
            c.step_size = max(1, c.epochs // 4)
        if c.schedule == "cyclic" and c.max_lr is None:
            c.max_lr = 4 * c.lr
        if c.schedule == "multistep" and c.milestones is None:
            c.milestones = sorted({max(1, c.epochs // 2), max(1, (3 * c.epochs) // 4)})
        if c.schedule == "warmup-cosine" and c.warmup_epochs is None:
            c.warmup_epochs = max(1, c.epochs // 10)
        if c.schedule == "onecycle" and c.max_lr is None:
            c.max_lr = c.lr
        check(c, given)
        return c


def check_choices(c: TrainConfig) -> None:
    """Raise ConfigError for a setting whose value is not one of its field's choices."""
    for f in dataclasses.fields(c):
        choices = f.metadata.get("choices")
        if choices and getattr(c, f.name) not in (*choices, None):  # None: unset, the model's default
            raise ConfigError.about(f"{{{f.name}}}: invalid choice {{value!r}} (choose from {', '.join(choices)})",
                                    value=getattr(c, f.name))


def optimizer_defaults(name: str) -> tuple[float, float, float | None]:
    """(lr, weight_decay, eps) of an unset config: the optimizer's own signature defaults, torch's."""
    parameters = inspect.signature(getattr(optim, OPTIMIZER_CLASSES[name])).parameters
    eps = parameters["eps"].default if "eps" in parameters else None
    eps = eps if isinstance(eps, float) else None  # Adafactor's eps is a pair, not a CLI setting
    weight_decay = float(parameters["weight_decay"].default) if "weight_decay" in parameters else 0.0
    return CLI_LEARNING_RATES.get(name, float(parameters["lr"].default)), weight_decay, eps


def resolve_normalize(normalize: str | None, dataset: str) -> str:
    """The input scaling "auto" stands for: standard for the embedded digits, unit ([0, 1]) otherwise."""
    if normalize in (None, "auto"):
        return "standard" if dataset == "digits" else "unit"
    return normalize


# ---- parsing values -------------------------------------------------------------------
# `what` is the template naming the value in errors: "{lr}" (the setting) or "config file x.toml: lr".

def _fail(what: str, problem: str, value: Any) -> ConfigError:
    return ConfigError.about(f"{what}: {problem}", value=value)


def _number(value: Any, integer: bool, what: str) -> int | float:
    if isinstance(value, bool):
        raise _fail(what, "expected a number, got {value!r}", value)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise _fail(what, f"expected {kind}, got {{value!r}}", value) from None
    if integer:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        raise _fail(what, "expected an integer, got {value!r}", value)
    if not isinstance(value, numbers.Real):
        raise _fail(what, "expected a number, got {value!r}", value)
    if not math.isfinite(value):  # no setting means anything by nan or inf, selected or not
        raise _fail(what, "expected a finite number, got {value!r}", value)
    return float(value)


def _list(value: Any, what: str) -> list:
    if isinstance(value, str):
        if not value.strip():
            raise _fail(what, "expected a comma-separated list, got {value!r}", value)
        # "256,128" or "256 128" or "256, 128"; an empty item ("3,,4", "3,") is a typo, not a shorter list
        parts = re.split(r"\s*,\s*|\s+", value.strip())
        if not all(parts):
            raise _fail(what, "an empty item in the comma-separated list {value!r}; write e.g. 256,128", value)
        return parts
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
        return value.strip().lower() in ("true", "yes", "1", "on")
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise _fail(what, "expected true or false, got {value!r}", value)


def parse_value(f: dataclasses.Field, value: Any, source: str | None = None) -> Any:
    """Convert a value from the command line (a string) or a config file to the field's type.

    source: named in errors before the key ("config file x.toml: lr: ..."); None names the setting alone.
    """
    what = "{" + f.name + "}" if source is None else (source + ": " + f.name).replace("{", "{{").replace("}", "}}")
    kind = f.metadata.get("kind", "str")
    if value is None:
        if f.default is None:
            return None
        raise _fail(what, "a value is required (null/None is not allowed here)", value)
    if kind == "int":
        return _number(value, True, what)
    if kind == "float":
        return _number(value, False, what)
    if kind == "bool":
        return _bool(value, what)
    if kind == "int_list":
        return [_number(v, True, what) for v in _list(value, what)]
    if kind == "float_pair":
        items = [_number(v, False, what) for v in _list(value, what)]
        if len(items) != 2:
            raise _fail(what, "expected two numbers such as 0.9,0.999, got {value!r}", value)
        return items
    if kind == "path":
        if isinstance(value, (str, os.PathLike)):
            if not os.fspath(value).strip():  # "" would silently mean the current folder (or the default)
                raise _fail(what, "expected a path, got an empty string", value)
            return os.fspath(value)
        raise _fail(what, f"expected a path, got {{value!r}} ({type(value).__name__})", value)
    if not isinstance(value, str):
        raise _fail(what, f"expected a string, got {{value!r}} ({type(value).__name__})", value)
    value = value.strip()
    choices = f.metadata.get("choices")
    if choices:
        key = value.lower().replace("_", "-") if f.name != "monitor" else value.lower()
        if key not in choices:
            raise _fail(what, f"invalid choice {{value!r}} (choose from {', '.join(choices)})", value)
        return key
    return value


# ---- checking a resolved config -----------------------------------------------------

def _positive(c: TrainConfig, key: str, strict: bool = True, optional: bool = False) -> None:
    value = getattr(c, key)
    if value is None and optional:
        return
    bad = value is None or not math.isfinite(value) or (value <= 0 if strict else value < 0)
    if bad:
        bound = "> 0" if strict else ">= 0"
        raise ConfigError.about(f"{{{key}}} must be {bound}, got {{value!r}}", value=value)


def check(c: TrainConfig, given: frozenset[str] = frozenset()) -> None:
    """Raise ConfigError for the first setting that is out of range or not read (a resolved config).

    given: the settings given on purpose (see TrainConfig.resolved).
    """
    check_choices(c)
    _positive(c, "lr")
    for key in ("batch_size", "epochs"):
        if getattr(c, key) < 1:
            raise ConfigError.about(f"{{{key}}} must be a positive integer, got {{value!r}}", value=getattr(c, key))
    for key in ("momentum", "weight_decay", "l1", "l2", "min_lr"):
        _positive(c, key, strict=False)
    _positive(c, "eps", optional=True)
    _positive(c, "clip_grad", optional=True)
    _positive(c, "max_lr", optional=True)
    if not 0.0 <= c.val_fraction < 1.0:
        raise ConfigError.about("{val_fraction} must be in [0, 1), got {value!r}", value=c.val_fraction)
    if not 0.0 <= c.augment_rotation <= 180.0:
        raise ConfigError.about("{augment_rotation} must be in [0, 180] degrees, got {value!r}",
                                value=c.augment_rotation)
    if not 0.0 <= c.augment_scale < 1.0:
        raise ConfigError.about("{augment_scale} must be in [0, 1), got {value!r}", value=c.augment_scale)
    if (c.augment_rotation or c.augment_scale) and not c.augment:
        raise ConfigError.about("{augment_rotation} and {augment_scale} shape the random moves of {augment}: "
                                "add {augment}")
    if not 0.0 <= c.dropout < 1.0:
        raise ConfigError.about("{dropout} must be in [0, 1), got {value!r}", value=c.dropout)
    if not c.hidden or any(h < 1 for h in c.hidden):
        raise ConfigError.about("{hidden} needs positive layer sizes such as 256 or 256,128, got {value!r}",
                                value=c.hidden)
    if c.conv_widths is not None:
        if c.model != "cnn":
            raise ConfigError.about("{conv_widths} applies only to {model} cnn, not {value}", value=c.model)
        if not c.conv_widths or any(w < 1 for w in c.conv_widths):
            raise ConfigError.about("{conv_widths} needs positive channel counts such as 32,64, got {value!r}",
                                    value=c.conv_widths)
    if c.betas is not None and any(not 0.0 <= b < 1.0 for b in c.betas):
        raise ConfigError.about("{betas} must both lie in [0, 1), got {value!r}", value=c.betas)
    if c.nesterov and (c.optimizer != "sgd" or c.momentum <= 0):
        raise ConfigError.about("{nesterov} needs {optimizer} sgd and {momentum} > 0 (e.g. {momentum} 0.9)")
    if c.momentum >= 1.0:
        raise ConfigError.about("{momentum} must be in [0, 1), got {value!r}", value=c.momentum)
    if (c.momentum or "momentum" in given) and c.optimizer not in MOMENTUM_OPTIMIZERS:
        raise ConfigError.about(
            f"{{momentum}} applies to {', '.join(MOMENTUM_OPTIMIZERS[:-1])} and {MOMENTUM_OPTIMIZERS[-1]}, "
            f"not {c.optimizer}" + (" (its momentum is {betas})" if c.optimizer in ("adam", "adamw") else ""))
    if c.seed < 0:
        raise ConfigError.about("{seed} must be a non-negative integer, got {value!r}", value=c.seed)
    check_model_memory(c.hidden, c.dataset)
    _check_optimizer_extras(c, given)
    if c.log_every is not None and c.log_every < 1:
        raise ConfigError.about("{log_every} must be a positive integer (steps between reads of the loss), "
                                "got {value!r}", value=c.log_every)
    if c.patience is not None and c.patience < 1:
        raise ConfigError.about("{patience} must be a positive integer (epochs), got {value!r}", value=c.patience)
    needs_val = [what for what, used in (("{patience}", c.patience is not None),
                                         ("{schedule} plateau", c.schedule == "plateau"),
                                         ("{monitor} val_acc", c.monitor == "val_acc")) if used]
    if needs_val and c.val_fraction == 0:
        raise ConfigError.about(f"{' and '.join(needs_val)} watch the validation set: use {{val_fraction}} > 0")
    _check_schedule(c)
    _check_pruning(c)
    _check_settings_apply(c, given)


# settings that only one part of the config reads: (what reads it, does that part run?). Given for
# another part, such a setting was silently ignored; resolved() fills them only where they are read.
_SCHEDULES_READING = {
    "gamma": ("step", "multistep", "exponential", "plateau"), "step_size": ("step", "warm-restarts", "cyclic"),
    "milestones": ("multistep",), "warmup_epochs": ("warmup-cosine",), "max_lr": ("onecycle", "cyclic"),
    "pct_start": ("onecycle",), "min_lr": ("cosine", "warmup-cosine", "plateau", "warm-restarts"),
    "end_factor": ("linear",), "plateau_patience": ("plateau",), "power": ("polynomial",),
}
_MODELS_READING = {"hidden": ("mlp",), "activation": ("mlp",), "batchnorm": ("mlp",), "dropout": ("mlp", "cnn")}


def _field_defaults() -> dict[str, Any]:
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            for f in dataclasses.fields(TrainConfig)}


def _check_settings_apply(c: TrainConfig, explicit: frozenset[str]) -> None:
    defaults = _field_defaults()
    given = explicit | {key for key, value in defaults.items() if getattr(c, key) != value}
    for key, schedules in _SCHEDULES_READING.items():
        if key in given and c.schedule not in schedules:
            raise ConfigError.about(f"{{{key}}} applies to {{schedule}} {' / '.join(schedules)}, not {{value}}; "
                                    f"drop it or choose one of those schedules", value=c.schedule)
    for key, models in _MODELS_READING.items():
        filled = key == "dropout" and c.dropout == 0 and key not in explicit  # resolved() fills lenet5's 0
        if key in given and c.model not in models and not filled:
            raise ConfigError.about(f"{{{key}}} applies to {{model}} {' / '.join(models)}, not {{value}}",
                                    value=c.model)
    for key in ("sam_base", "sam_rho"):
        if key in given and c.optimizer != "sam":
            raise ConfigError.about(f"{{{key}}} applies to {{optimizer}} sam, not {{value}}", value=c.optimizer)
    for key in ("prune_start_epoch", "prune_end_epoch", "prune_frequency"):
        if key in given and c.prune == "none":
            raise ConfigError.about(f"{{{key}}} shapes the pruning, which is off: add {{prune}} global-l1 or l1 "
                                    "and {sparsity}")


def _check_pruning(c: TrainConfig) -> None:
    if c.prune == "none":
        if c.sparsity is not None:
            raise ConfigError.about("{sparsity} needs {prune} (global-l1 or l1) to say how to prune")
        return
    if c.sparsity is None:
        raise ConfigError.about("{prune} {method} needs {sparsity}, the final fraction of weights to prune (e.g. 0.9)",
                                method=c.prune)
    if not 0.0 <= c.sparsity <= 1.0:
        raise ConfigError.about("{sparsity} must be a fraction in [0, 1], got {value!r}", value=c.sparsity)
    start, end = c.prune_start_epoch, c.prune_end_epoch
    if start < 0 or (end is not None and end < start):
        if end is None:
            raise ConfigError.about("{prune_start_epoch} must be >= 0, got {start!r}", start=start)
        raise ConfigError.about("pruning epochs: need 0 <= {prune_start_epoch} ({start}) <= {prune_end_epoch} ({end})",
                                start=start, end=end)
    if start > c.epochs:
        raise ConfigError.about("{prune_start_epoch} {start:g} is past the last epoch ({last}); pruning would never "
                                "start", start=start, last=c.epochs)
    if end is not None and end > c.epochs:
        raise ConfigError.about("{prune_end_epoch} {end:g} is past the last epoch ({last}); pruning would not finish",
                                end=end, last=c.epochs)
    if c.prune_frequency is not None and c.prune_frequency < 1:
        raise ConfigError.about("{prune_frequency} must be a positive number of optimizer steps, got {value!r}",
                                value=c.prune_frequency)


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def check_model_memory(hidden: list[int], dataset: str) -> None:
    """Refuse layer sizes whose weights, gradients and optimizer state could not fit in this machine's memory."""
    sizes = [DATASET_FEATURES.get(dataset, 784), *hidden, 10]
    parameters = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    needed = 4 * parameters * 4  # float32 weights, gradients and up to two optimizer states each
    memory = _physical_memory()
    if memory and needed > memory:
        raise ConfigError.about(
            "{hidden} {sizes} makes a model of {parameters:.3g} parameters, which needs about {needed:.3g} GiB to "
            "train, more than this machine's {memory:.3g} GiB of memory; choose smaller layers",
            sizes=",".join(map(str, hidden)), parameters=parameters, needed=needed / 2**30, memory=memory / 2**30)


def _check_optimizer_extras(c: TrainConfig, given: frozenset[str]) -> None:
    if (c.weight_decay or "weight_decay" in given) and c.optimizer in NO_WEIGHT_DECAY:
        raise ConfigError.about("{weight_decay}: {name} has no weight decay; use {l2} {value} for the same penalty in "
                                "the loss", name=c.optimizer, value=c.weight_decay)
    if not (c.sam_rho > 0 and math.isfinite(c.sam_rho)):
        raise ConfigError.about("{sam_rho} must be > 0, got {value!r}", value=c.sam_rho)
    if c.lookahead_k is not None and c.lookahead_k < 1:
        raise ConfigError.about("{lookahead_k} must be a positive integer (fast steps per slow update), got {value!r}",
                                value=c.lookahead_k)
    if not 0.0 <= c.lookahead_alpha <= 1.0:
        raise ConfigError.about("{lookahead_alpha} must be in [0, 1], got {value!r}", value=c.lookahead_alpha)
    if c.lookahead_k is None and (c.lookahead_alpha != LOOKAHEAD_ALPHA_DEFAULT or "lookahead_alpha" in given):
        raise ConfigError.about("{lookahead_alpha} sets the step of Lookahead, which is off: add {lookahead_k} "
                                "(e.g. {lookahead_k} 5)")
    stepping = c.sam_base if c.optimizer == "sam" else c.optimizer
    if c.eps is not None and optimizer_defaults(stepping)[2] is None:  # resolved() fills eps only where read
        raise ConfigError.about("{eps}: {name} has no epsilon setting; drop it", name=stepping)
    if c.optimizer == "sam" and c.sam_base in NO_WEIGHT_DECAY and c.weight_decay:
        raise ConfigError.about("{weight_decay}: {name} has no weight decay", name=c.sam_base)


def _check_schedule(c: TrainConfig) -> None:
    if c.gamma is not None and not (c.gamma > 0 and math.isfinite(c.gamma)):
        raise ConfigError.about("{gamma} must be > 0, got {value!r}", value=c.gamma)
    if c.schedule == "plateau" and not c.gamma < 1:
        raise ConfigError.about("{gamma} (the plateau reduction factor) must be < 1, got {value!r}", value=c.gamma)
    if c.schedule in ("step", "warm-restarts", "cyclic") and c.step_size < 1:
        raise ConfigError.about("{step_size} must be a positive integer, got {value!r}", value=c.step_size)
    if c.schedule == "multistep" and (not c.milestones or any(m < 1 for m in c.milestones)):
        raise ConfigError.about("{milestones} must be positive epochs such as 10,20, got {value!r}",
                                value=c.milestones)
    if c.schedule == "warmup-cosine" and not 1 <= c.warmup_epochs < c.epochs:
        raise ConfigError.about("{warmup_epochs} must be between 1 and {epochs} - 1 ({last}), got {value!r}",
                                last=c.epochs - 1, value=c.warmup_epochs)
    if c.schedule == "onecycle" and not 0 < c.pct_start < 1:
        raise ConfigError.about("{pct_start} must be in (0, 1), got {value!r}", value=c.pct_start)
    if c.schedule == "linear" and not 0 <= c.end_factor <= 1:
        raise ConfigError.about("{end_factor} must be in [0, 1], got {value!r}", value=c.end_factor)
    if c.schedule == "cyclic" and c.max_lr < c.lr:
        raise ConfigError.about("{max_lr} (the top of the cycle) must be >= {lr} ({base}), got {value!r}",
                                base=c.lr, value=c.max_lr)
    if not (c.power > 0 and math.isfinite(c.power)):
        raise ConfigError.about("{power} must be > 0, got {value!r}", value=c.power)
    if c.plateau_patience < 0:
        raise ConfigError.about("{plateau_patience} must be >= 0, got {value!r}", value=c.plateau_patience)
