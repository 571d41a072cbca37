"""The command line's view of the training settings: each TrainConfig key is a flag.

The settings themselves (defaults, parsing, checks) live in tinygrad_opt/train/config.py and
config files in train/config_file.py; this module only spells a key as its flag and groups
the flags for `tinygrad-opt train --help`.
"""
from __future__ import annotations

from ..train.errors import ConfigError, NamesSettings

# how `tinygrad-opt train --help` groups the options (keys in no group are listed under "other")
GROUPS = {
    "data": ("dataset", "data_dir", "normalize", "val_fraction"),
    "model": ("model", "hidden", "activation", "dropout", "batchnorm", "conv_widths", "augment",
              "augment_rotation", "augment_scale"),
    "optimizer": ("optimizer", "lr", "momentum", "nesterov", "betas", "weight_decay", "eps", "sam_base", "sam_rho",
                  "lookahead_k", "lookahead_alpha"),
    "learning-rate schedule": ("schedule", "step_size", "gamma", "milestones", "warmup_epochs", "max_lr",
                               "pct_start", "min_lr", "end_factor", "plateau_patience", "power"),
    "pruning": ("prune", "sparsity", "prune_start_epoch", "prune_end_epoch", "prune_frequency"),
    "training loop": ("batch_size", "epochs", "l1", "l2", "clip_grad", "patience", "monitor", "seed", "device",
                      "out", "quiet", "log_every", "capture", "flush_denormal"),
}


def flag(key: str) -> str:
    """The option of a setting: batch_size -> --batch-size."""
    return "--" + key.replace("_", "-")


def with_flags(error: NamesSettings) -> str:
    """The error's message with every setting it names spelled as its flag."""
    return error.render(flag)
