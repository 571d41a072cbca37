"""Watch one training step of a tiny MLP: the forward pass, each backward step, gradients three ways, the update.

By default a 4-3-2 network with tanh, one random sample, cross-entropy and SGD with
lr 0.1, in float64. It prints
  1. the forward pass op by op (tg.trace), next to the same values computed by hand;
  2. the backward pass step by step: the upstream gradient each op received and the
     gradient it sent to each input;
  3. the gradients derived by hand with the textbook formulas (delta2 = p - y,
     dW2 = delta2 h^T, delta1 = (W2^T delta2) * act'(z1), ...);
  4. each parameter's gradient by hand, by the engine (.grad) and by finite differences;
  5. the optimizer's update: each value before and after, and the update formula's result.
Exit code 0 when all of them agree, 1 when they do not.

examples:
  tinygrad-opt trace
  tinygrad-opt trace --model 4-5-3 --activation relu --optimizer adam --lr 0.01
  tinygrad-opt trace --dot graph.svg       (a picture with Graphviz installed, else graph.dot)
"""
from __future__ import annotations

import argparse
import warnings

from .config import ConfigError
from ..teach.mlp_by_hand import ACTIVATIONS
from ..teach.optimizer_by_hand import FIRST_STEPS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="4-3-2", metavar="SIZES",
                        help="layer sizes joined by '-': inputs, hidden layers, classes (default 4-3-2)")
    parser.add_argument("--activation", choices=tuple(ACTIVATIONS), default="tanh",
                        help="hidden-layer activation (default tanh)")
    parser.add_argument("--optimizer", choices=tuple(FIRST_STEPS), default="sgd",
                        help="sgd, momentum (0.9), nesterov, rmsprop, adam or adamw, with torch's defaults (default sgd)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the sample (default 0)")
    parser.add_argument("--target", type=int, metavar="CLASS", help="the sample's class (default: drawn from the seed)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="float64 (default) makes the three gradients agree to ~1e-10; float32 to ~1e-3")
    parser.add_argument("--dot", metavar="FILE",
                        help="also write the graph: FILE.svg / .png / .pdf when Graphviz's dot program is "
                             "installed, otherwise (and for FILE.dot) the DOT text")


def run(args: argparse.Namespace) -> int:
    from ..teach.dot import render  # noqa: PLC0415 - imported when the command runs, not for --help
    from ..teach.one_step import parse_sizes, run_one_step  # noqa: PLC0415

    try:
        sizes = parse_sizes(args.model)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not args.lr > 0:
        raise ConfigError(f"--lr must be positive, got {args.lr}")
    if args.target is not None and not 0 <= args.target < sizes[-1]:
        raise ConfigError(f"--target {args.target} is not a class of a {sizes[-1]}-class model (0..{sizes[-1] - 1})")
    step = run_one_step(sizes, activation=args.activation, optimizer=args.optimizer, lr=args.lr,
                        seed=args.seed, dtype=args.dtype, target=args.target)
    print(step.text())
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
