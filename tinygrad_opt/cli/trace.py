"""Watch one training step of a tiny MLP or CNN: the forward pass, each backward step, gradients three ways, the update.

By default a 4-3-2 network with tanh, one random sample, cross-entropy and SGD with
lr 0.1, in float64; `--model cnn` watches a tiny convolutional net instead (one 6x6
image, Conv2d(1, 2, 3), ReLU, 2x2 max pooling, Linear(8, 3)), where the hand-derived
conv gradients are dL/dW = the correlation of the input with the output gradient and
dL/dx = the full convolution of the output gradient with the flipped kernel. It prints
  1. the forward pass op by op (tg.trace), next to the same values computed by hand;
  2. the backward pass step by step: the upstream gradient each op received and the
     gradient it sent to each input;
  3. the gradients derived by hand with the textbook formulas (delta2 = p - y,
     dW2 = delta2 h^T, delta1 = (W2^T delta2) * act'(z1), ...);
  4. each parameter's gradient by hand, by the engine (.grad) and by finite differences;
  5. the optimizer's update: each value before and after, and the update formula's result;
  6. the optimizer's state (momentum buffer, m, v, bias-corrected m_hat and v_hat) after each
     of --steps N steps on the same sample, checked against the recurrences in NumPy.
Exit code 0 when all of them agree, 1 when they do not.

examples:
  tinygrad-opt trace
  tinygrad-opt trace --model 4-5-3 --activation relu --optimizer adam --lr 0.01
  tinygrad-opt trace --steps 5 --optimizer adam --lr 0.01   (the optimizer's state over 5 steps)
  tinygrad-opt trace --model cnn --pool avg --html conv.html
  tinygrad-opt trace --dot graph.svg       (a picture with Graphviz installed, else graph.dot)
  tinygrad-opt trace --html backprop.html  (a page that steps through both passes in a browser)
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ..train.errors import ConfigError
from .options import finite_float, seed_value
from ..teach.conv_by_hand import MAX_IMAGE, POOLS
from ..teach.mlp_by_hand import ACTIVATIONS
from ..teach.optimizer_by_hand import FIRST_STEPS
from ..teach.optimizer_steps import MAX_STEPS
from ..trace import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="4-3-2", metavar="SIZES|cnn",
                        help="an MLP's layer sizes joined by '-': inputs, hidden layers, classes (default 4-3-2); "
                             "or cnn: Conv2d(1, C, 3), activation, 2x2 pooling, Linear(classes) on one image")
    parser.add_argument("--activation", choices=tuple(ACTIVATIONS),
                        help="hidden-layer activation (default tanh for an MLP, relu for the cnn)")
    parser.add_argument("--pool", choices=POOLS, default=None,
                        help="the cnn's 2x2 pooling: max sends each window's gradient to its arg-max, avg spreads "
                             "it evenly (default max)")
    parser.add_argument("--image", type=int, default=None, metavar="PIXELS",
                        help=f"the cnn's image size, 4 to {MAX_IMAGE} pixels per side (default 6)")
    parser.add_argument("--channels", type=int, default=None, metavar="C",
                        help="the cnn's convolution filters, 1 to 4 (default 2)")
    parser.add_argument("--optimizer", choices=tuple(FIRST_STEPS), default="sgd",
                        help="sgd, momentum (0.9), nesterov, rmsprop, adam or adamw, with torch's defaults (default sgd)")
    parser.add_argument("--lr", type=finite_float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--seed", type=seed_value, default=0, help="seeds the weights and the sample (default 0)")
    parser.add_argument("--target", type=int, metavar="CLASS", help="the sample's class (default: drawn from the seed)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="float64 (default) makes the three gradients agree to ~1e-10; float32 is checked "
                             "with relative tolerances set by its roundoff")
    parser.add_argument("--steps", type=int, default=1, metavar="N",
                        help="optimizer steps to take and show with the optimizer's state (default 1, at most 100)")
    parser.add_argument("--html", metavar="FILE",
                        help="also write one self-contained HTML page that steps through the forward and backward "
                             "pass on the drawn graph (open it in any browser)")
    parser.add_argument("--dot", metavar="FILE",
                        help="also write the graph: FILE.svg / .png / .pdf when Graphviz's dot program is "
                             "installed, otherwise (and for FILE.dot) the DOT text")


CNN_CLASSES = 3
# what --dot writes: DOT text (.dot/.gv) or a picture Graphviz makes; "" (no suffix) is trace.dot.render's svg
DOT_FORMATS = ("dot", "gv", "svg", "png", "pdf", "jpg", "jpeg", "gif", "")


# the cnn's options; their argparse default is None, so one given at its default value is still seen
CNN_DEFAULTS = {"pool": "max", "image": 6, "channels": 2}


def _cnn_flags_only_with_cnn(args: argparse.Namespace) -> None:
    given = [f"--{name}" for name in CNN_DEFAULTS if getattr(args, name) is not None]
    if given and args.model != "cnn":
        verb = "applies" if len(given) == 1 else "apply"
        raise ConfigError(f"{', '.join(given)} {verb} only to --model cnn (the MLP {args.model} has no convolution)")
    for name, default in CNN_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def run(args: argparse.Namespace) -> int:
    # imported when the command runs: they load nn and optim, which --help does not need
    from ..teach.conv_step import check_conv_options, run_conv_step  # noqa: PLC0415
    from ..teach.one_step import parse_sizes, run_one_step  # noqa: PLC0415

    _cnn_flags_only_with_cnn(args)
    if args.model == "cnn":
        try:
            check_conv_options(args.image, args.channels, CNN_CLASSES, args.pool)
        except ValueError as err:
            raise ConfigError(f"--{err}") from None
        n_classes = CNN_CLASSES
    else:
        try:
            n_classes = parse_sizes(args.model)[-1]
        except ValueError as err:
            raise ConfigError(f"--model: {err}") from None
    if not args.lr > 0:
        raise ConfigError(f"--lr must be positive, got {args.lr}")
    if args.html and not Path(args.html).resolve().parent.is_dir():
        raise ConfigError(f"--html {args.html}: cannot write the page there (no such folder {Path(args.html).parent})")
    if args.dot and Path(args.dot).suffix.lower().lstrip(".") not in DOT_FORMATS:
        raise ConfigError(f"--dot {args.dot}: unknown picture format {Path(args.dot).suffix!r}; end the name with "
                          f"{', '.join('.' + f for f in DOT_FORMATS if f)}")
    if not 1 <= args.steps <= MAX_STEPS:
        raise ConfigError(f"--steps must be between 1 and {MAX_STEPS}, got {args.steps}")
    if args.target is not None and not 0 <= args.target < n_classes:
        raise ConfigError(f"--target {args.target} is not a class of a {n_classes}-class model (0..{n_classes - 1})")
    options = dict(optimizer=args.optimizer, lr=args.lr, seed=args.seed, dtype=args.dtype, target=args.target,
                   steps=args.steps)
    if args.model == "cnn":
        step = run_conv_step(image=args.image, channels=args.channels, classes=CNN_CLASSES,
                             activation=args.activation or "relu", pool=args.pool, **options)
        side = f"{args.image}x{args.image}"
        title = f"tinygrad-opt trace: CNN ({step.activation}, {args.pool} pooling) on one {side} image"
    else:
        step = run_one_step(args.model, activation=args.activation or "tanh", **options)
        title = f"tinygrad-opt trace: {args.model} MLP ({step.activation})"
    print(step.text())
    if args.html:
        try:
            path = step.trace.to_html(args.html, title=title, tables=step.check_tables())
        except OSError as err:
            raise ConfigError(f"--html {args.html}: cannot write the page ({err.strerror})") from None
        print(f"\npage written to {path}: open it in a browser and press Next")
    if args.dot:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = render(step.dot, args.dot)
        if caught:
            print(f"\ngraph: Graphviz's `dot` program was not found, so the DOT text was written to {path}; "
                  "install Graphviz (apt/brew/conda install graphviz) for a picture, or paste it into an "
                  "online Graphviz viewer")
        else:
            print(f"\ngraph written to {path}")
    return 0 if step.agree else 1
