"""The training run's configuration: one dataclass shared by the CLI, config files and the Python API.

Every field of `TrainConfig` is a key of a config file (TOML, or YAML when pyyaml is
installed) and a `tinygrad-opt train` option (`hidden` -> `--hidden`, `batch_size` ->
`--batch-size`); the field's metadata holds the help text, the choices and how a value
is parsed (`kind`), so adding a setting means adding one field here. Precedence: the
dataclass defaults, then the `--config` file, then the flags given on the command line.

Many defaults are `None`, meaning "chosen from the other settings" (the learning rate
from the optimizer, the schedule's knobs from the number of epochs, ...);
`TrainConfig.resolved()` fills them in, and that effective config is what
`--save-config` writes and every checkpoint stores.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

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
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop", "schedulefree-sgd", "sam", "muon")
# input features of each dataset (for the memory estimate of a model before it is built)
DATASET_FEATURES = {"digits": 64, "mnist": 784, "fashion-mnist": 784}
# how `tinygrad-opt train --help` groups the options (keys in no group are listed under "other")
GROUPS = {
    "data": ("dataset", "data_dir", "normalize", "val_fraction"),
    "model": ("model", "hidden", "activation", "dropout", "batchnorm", "augment"),
    "optimizer": ("optimizer", "lr", "momentum", "nesterov", "betas", "weight_decay", "eps", "sam_base", "sam_rho",
                  "lookahead_k", "lookahead_alpha"),
    "learning-rate schedule": ("schedule", "step_size", "gamma", "milestones", "warmup_epochs", "max_lr",
                               "pct_start", "min_lr", "end_factor", "plateau_patience", "power"),
    "pruning": ("prune", "sparsity", "prune_start_epoch", "prune_end_epoch", "prune_frequency"),
    "training loop": ("batch_size", "epochs", "l1", "l2", "clip_grad", "patience", "monitor", "seed", "device",
                      "out", "quiet", "log_every"),
}


class ConfigError(ValueError):
    """A setting is unknown, of the wrong type or out of range; the message names it and says what is valid."""


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
    hidden: list[int] = field(default_factory=lambda: [256], metadata=_opt("hidden layer sizes, e.g. 256 or 256,128", "int_list", metavar="SIZES"))
    activation: str = field(default="relu", metadata=_opt("hidden-layer activation", "str", ACTIVATIONS))
    dropout: float = field(default=0.0, metadata=_opt(
        "dropout probability after each hidden layer (cnn: before the last layer; 0 keeps the cnn's 0.5)", "float"))
    batchnorm: bool = field(default=False, metadata=_opt("BatchNorm1d after each hidden Linear layer", "bool"))
    # optimizer
    optimizer: str = field(default="adam", metadata=_opt("optimizer", "str", OPTIMIZERS))
    lr: float | None = field(default=None, metadata=_opt(
        "learning rate (default: sgd 0.01, adam/adamw 1e-3, rmsprop/adagrad 1e-2)", "float"))
    momentum: float = field(default=0.0, metadata=_opt(
        "momentum (sgd, rmsprop; schedulefree-sgd and muon, where 0 means their defaults 0.9 and 0.95)", "float"))
    nesterov: bool = field(default=False, metadata=_opt("Nesterov momentum (sgd; needs --momentum > 0)", "bool"))
    betas: list[float] | None = field(default=None, metadata=_opt(
        "betas of the Adam family, lion and schedulefree-adamw, e.g. 0.9,0.999 (default; lion 0.9,0.99)", "float_pair",
        metavar="B1,B2"))
    weight_decay: float | None = field(default=None, metadata=_opt("weight decay (default 0; adamw 0.01)", "float"))
    eps: float | None = field(default=None, metadata=_opt("optimizer epsilon (default: torch.optim's)", "float"))
    sam_base: str = field(default="sgd", metadata=_opt("sam: the optimizer SAM steps with", "str", SAM_BASES))
    sam_rho: float = field(default=0.05, metadata=_opt("sam: radius of the neighbourhood SAM looks at", "float"))
    lookahead_k: int | None = field(default=None, metadata=_opt(
        "wrap the optimizer in Lookahead with this many fast steps per slow update (default: no Lookahead)", "int"))
    lookahead_alpha: float = field(default=0.5, metadata=_opt("Lookahead: step size towards the fast weights", "float"))
    # schedule
    schedule: str = field(default="none", metadata=_opt("learning-rate schedule", "str", SCHEDULES))
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
    epochs: int = field(default=30, metadata=_opt("number of epochs", "int"))
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

    # ---- building and checking ------------------------------------------------------
    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """A config from a mapping of keys (dashes or underscores) to values, each parsed and checked."""
        return cls().updated(values, source)

    def updated(self, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """A copy with `values` applied (parsed like config-file values); unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes = {}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key not in fields:
                raise ConfigError(f"{source}: unknown key {raw_key!r}; valid keys: {', '.join(fields)}")
            changes[key] = parse_value(fields[key], value, source)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in dataclasses.asdict(self).items()}

    def resolved(self) -> TrainConfig:
        """Fill every "chosen from the other settings" default, then check the whole config."""
        c = dataclasses.replace(self, hidden=list(self.hidden), betas=None if self.betas is None else list(self.betas),
                                milestones=None if self.milestones is None else list(self.milestones))
        self._check_choices(c)
        lr, weight_decay, eps = optimizer_defaults(c.sam_base if c.optimizer == "sam" else c.optimizer)
        if c.betas is None:
            c.betas = [0.9, 0.99] if c.optimizer == "lion" else [0.9, 0.999]
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
        check(c)
        return c

    @staticmethod
    def _check_choices(c: TrainConfig) -> None:
        for f in dataclasses.fields(c):
            choices = f.metadata.get("choices")
            if choices and getattr(c, f.name) not in choices:
                raise ConfigError(f"{_flag(f.name)}: invalid choice {getattr(c, f.name)!r} (choose from {', '.join(choices)})")


def optimizer_defaults(name: str) -> tuple[float, float, float | None]:
    """(lr, weight_decay, eps) of an unset config: the optimizer's own signature defaults, torch's."""
    from .. import optim  # noqa: PLC0415 - the library's signatures are the one place defaults live

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


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


# ---- parsing values -------------------------------------------------------------------

def _number(value: Any, integer: bool, what: str) -> int | float:
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise ConfigError(f"{what}: expected {kind}, got {value!r}") from None
    if integer:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        raise ConfigError(f"{what}: expected an integer, got {value!r}")
    if not isinstance(value, numbers.Real):
        raise ConfigError(f"{what}: expected a number, got {value!r}")
    if not math.isfinite(value):  # no setting means anything by nan or inf, selected or not
        raise ConfigError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


def _list(value: Any, what: str) -> list:
    if isinstance(value, str):
        parts = [p for p in value.replace(" ", ",").split(",") if p]
        if not parts:
            raise ConfigError(f"{what}: expected a comma-separated list, got {value!r}")
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
    raise ConfigError(f"{what}: expected true or false, got {value!r}")


def parse_value(f: dataclasses.Field, value: Any, source: str = "config") -> Any:
    """Convert a value from the command line (a string) or a config file to the field's type."""
    what = f"{source}: {f.name}" if source != "command line" else _flag(f.name)
    kind = f.metadata.get("kind", "str")
    if value is None:
        if f.default is None:
            return None
        raise ConfigError(f"{what}: a value is required (null/None is not allowed here)")
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
            raise ConfigError(f"{what}: expected two numbers such as 0.9,0.999, got {value!r}")
        return items
    if kind == "path":
        return os.fspath(value) if isinstance(value, (str, os.PathLike)) else _bad_type(what, value, "a path")
    if not isinstance(value, str):
        return _bad_type(what, value, "a string")
    value = value.strip()
    choices = f.metadata.get("choices")
    if choices:
        key = value.lower().replace("_", "-") if f.name != "monitor" else value.lower()
        if key not in choices:
            raise ConfigError(f"{what}: invalid choice {value!r} (choose from {', '.join(choices)})")
        return key
    return value


def _bad_type(what: str, value: Any, expected: str):
    raise ConfigError(f"{what}: expected {expected}, got {value!r} ({type(value).__name__})")


# ---- checking a resolved config -----------------------------------------------------

def _positive(c: TrainConfig, key: str, strict: bool = True, optional: bool = False) -> None:
    value = getattr(c, key)
    if value is None and optional:
        return
    bad = value is None or not math.isfinite(value) or (value <= 0 if strict else value < 0)
    if bad:
        bound = "> 0" if strict else ">= 0"
        raise ConfigError(f"{_flag(key)} must be {bound}, got {value!r}")


def check(c: TrainConfig) -> None:
    """Raise ConfigError for the first setting that is out of range (a resolved config)."""
    TrainConfig._check_choices(c)
    _positive(c, "lr")
    for key in ("batch_size", "epochs"):
        if getattr(c, key) < 1:
            raise ConfigError(f"{_flag(key)} must be a positive integer, got {getattr(c, key)!r}")
    for key in ("momentum", "weight_decay", "l1", "l2", "min_lr"):
        _positive(c, key, strict=False)
    _positive(c, "eps", optional=True)
    _positive(c, "clip_grad", optional=True)
    _positive(c, "max_lr", optional=True)
    if not 0.0 <= c.val_fraction < 1.0:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {c.val_fraction!r}")
    if not 0.0 <= c.dropout < 1.0:
        raise ConfigError(f"--dropout must be in [0, 1), got {c.dropout!r}")
    if not c.hidden or any(h < 1 for h in c.hidden):
        raise ConfigError(f"--hidden needs positive layer sizes such as 256 or 256,128, got {c.hidden!r}")
    if any(not 0.0 <= b < 1.0 for b in c.betas):
        raise ConfigError(f"--betas must both lie in [0, 1), got {c.betas!r}")
    if c.nesterov and (c.optimizer != "sgd" or c.momentum <= 0):
        raise ConfigError("--nesterov needs --optimizer sgd and --momentum > 0 (e.g. --momentum 0.9)")
    if c.momentum >= 1.0:
        raise ConfigError(f"--momentum must be in [0, 1), got {c.momentum!r}")
    if c.momentum and c.optimizer not in MOMENTUM_OPTIMIZERS:
        raise ConfigError(f"--momentum applies to {', '.join(MOMENTUM_OPTIMIZERS[:-1])} and {MOMENTUM_OPTIMIZERS[-1]}, not {c.optimizer}"
                          + (" (its momentum is --betas)" if c.optimizer in ("adam", "adamw") else ""))
    if c.seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {c.seed!r}")
    check_model_memory(c.hidden, c.dataset)
    _check_optimizer_extras(c)
    if c.log_every is not None and c.log_every < 1:
        raise ConfigError(f"--log-every must be a positive integer (steps between reads of the loss), got {c.log_every!r}")
    if c.patience is not None and c.patience < 1:
        raise ConfigError(f"--patience must be a positive integer (epochs), got {c.patience!r}")
    needs_val = [what for what, used in (("--patience", c.patience is not None), ("--schedule plateau", c.schedule == "plateau")) if used]
    if needs_val and c.val_fraction == 0:
        raise ConfigError(f"{' and '.join(needs_val)} watch the validation set: use --val-fraction > 0")
    _check_schedule(c)
    _check_pruning(c)


def _check_pruning(c: TrainConfig) -> None:
    if c.prune == "none":
        if c.sparsity is not None:
            raise ConfigError("--sparsity needs --prune (global-l1 or l1) to say how to prune")
        return
    if c.sparsity is None:
        raise ConfigError(f"--prune {c.prune} needs --sparsity, the final fraction of weights to prune (e.g. 0.9)")
    if not 0.0 <= c.sparsity <= 1.0:
        raise ConfigError(f"--sparsity must be a fraction in [0, 1], got {c.sparsity!r}")
    end = c.prune_end_epoch
    if c.prune_start_epoch < 0 or (end is not None and end < c.prune_start_epoch):
        raise ConfigError(f"pruning epochs: need 0 <= --prune-start-epoch ({c.prune_start_epoch}) <= "
                          f"--prune-end-epoch ({end})" if end is not None else
                          f"--prune-start-epoch must be >= 0, got {c.prune_start_epoch!r}")
    if end is not None and end > c.epochs:
        raise ConfigError(f"--prune-end-epoch {end:g} is past the last epoch ({c.epochs}); pruning would not finish")
    if c.prune_frequency is not None and c.prune_frequency < 1:
        raise ConfigError(f"--prune-frequency must be a positive number of optimizer steps, got {c.prune_frequency!r}")


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def check_model_memory(hidden: list[int], dataset: str, flag: str = "--hidden") -> None:
    """Refuse layer sizes whose weights, gradients and optimizer state could not fit in this machine's memory."""
    sizes = [DATASET_FEATURES.get(dataset, 784), *hidden, 10]
    parameters = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    needed = 4 * parameters * 4  # float32 weights, gradients and up to two optimizer states each
    memory = _physical_memory()
    if memory and needed > memory:
        raise ConfigError(f"{flag} {','.join(map(str, hidden))} makes a model of {parameters:.3g} parameters, which "
                          f"needs about {needed / 2**30:.3g} GiB to train, more than this machine's "
                          f"{memory / 2**30:.3g} GiB of memory; choose smaller layers")


def _check_optimizer_extras(c: TrainConfig) -> None:
    if c.weight_decay and c.optimizer in NO_WEIGHT_DECAY:
        raise ConfigError(f"--weight-decay: {c.optimizer} has no weight decay; use --l2 {c.weight_decay} for the "
                          "same penalty in the loss")
    if not (c.sam_rho > 0 and math.isfinite(c.sam_rho)):
        raise ConfigError(f"--sam-rho must be > 0, got {c.sam_rho!r}")
    if c.lookahead_k is not None and c.lookahead_k < 1:
        raise ConfigError(f"--lookahead-k must be a positive integer (fast steps per slow update), "
                          f"got {c.lookahead_k!r}")
    if not 0.0 <= c.lookahead_alpha <= 1.0:
        raise ConfigError(f"--lookahead-alpha must be in [0, 1], got {c.lookahead_alpha!r}")
    if c.optimizer == "sam" and c.sam_base in NO_WEIGHT_DECAY and c.weight_decay:
        raise ConfigError(f"--weight-decay: {c.sam_base} has no weight decay")


def _check_schedule(c: TrainConfig) -> None:
    if c.gamma is not None and not (c.gamma > 0 and math.isfinite(c.gamma)):
        raise ConfigError(f"--gamma must be > 0, got {c.gamma!r}")
    if c.schedule == "plateau" and not c.gamma < 1:
        raise ConfigError(f"--gamma (the plateau reduction factor) must be < 1, got {c.gamma!r}")
    if c.schedule in ("step", "warm-restarts", "cyclic") and c.step_size < 1:
        raise ConfigError(f"--step-size must be a positive integer, got {c.step_size!r}")
    if c.schedule == "multistep" and (not c.milestones or any(m < 1 for m in c.milestones)):
        raise ConfigError(f"--milestones must be positive epochs such as 10,20, got {c.milestones!r}")
    if c.schedule == "warmup-cosine" and not 1 <= c.warmup_epochs < c.epochs:
        raise ConfigError(f"--warmup-epochs must be between 1 and --epochs - 1 ({c.epochs - 1}), got {c.warmup_epochs!r}")
    if c.schedule == "onecycle" and not 0 < c.pct_start < 1:
        raise ConfigError(f"--pct-start must be in (0, 1), got {c.pct_start!r}")
    if c.schedule == "linear" and not 0 <= c.end_factor <= 1:
        raise ConfigError(f"--end-factor must be in [0, 1], got {c.end_factor!r}")
    if c.schedule == "cyclic" and c.max_lr < c.lr:
        raise ConfigError(f"--max-lr (the top of the cycle) must be >= --lr ({c.lr}), got {c.max_lr!r}")
    if not (c.power > 0 and math.isfinite(c.power)):
        raise ConfigError(f"--power must be > 0, got {c.power!r}")
    if c.plateau_patience < 0:
        raise ConfigError(f"--plateau-patience must be >= 0, got {c.plateau_patience!r}")


# ---- files --------------------------------------------------------------------------

def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _yaml():
    try:
        import yaml  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ConfigError("YAML config files need pyyaml: pip install 'tinygrad_opt[yaml]' (or use a .toml file)") from None
    return yaml


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The key -> value mapping of a TOML (or, with pyyaml, YAML) file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
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
    from ..train.serialization import atomic_write_text  # noqa: PLC0415 - the one atomic, umask-respecting write

    return atomic_write_text(path, text)
