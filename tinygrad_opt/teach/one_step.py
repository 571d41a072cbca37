"""One training step of a tiny MLP, watched: the engine's trace, hand-derived and numerical gradients, the update.

    from tinygrad_opt.teach.one_step import run_one_step
    step = run_one_step((4, 3, 2), activation="tanh", optimizer="sgd", lr=0.1)
    print(step.text())      # what `tinygrad-opt trace` prints
    step.agree              # True when hand, engine and finite differences agree

Three independent routes to each gradient: the engine's backward (`.grad`), the
textbook formulas in NumPy (mlp_by_hand.py) and central finite differences of the
engine's forward pass (finite_diff.py). float64 by default, so they agree to ~1e-10.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .. import nn, optim
from ..autograd import no_grad
from ..backend import manual_seed
from ..nn import functional as F
from ..tensor import Tensor
from ..trace import format_array, format_table, trace
from . import mlp_by_hand
from .finite_diff import numerical_gradient
from .optimizer_by_hand import ALPHA, BETAS, EPS, FIRST_STEPS, MOMENTUM, WEIGHT_DECAY_ADAMW
from .optimizer_steps import MAX_STEPS, StateByHand, observe_step, optimizer_steps_text

# (relative, absolute) tolerances of (hand vs engine, finite differences vs hand, optimizer formula vs engine):
# a pair passes where |a - b| <= abs + rel * |b|, element by element. float32's are set by its unit
# roundoff (6e-8) times the sizes involved; its finite differences (eps 1e-3) carry ~1e-4 of roundoff.
TOLERANCES = {"float64": ((1e-9, 1e-12), (1e-5, 1e-8), (1e-12, 1e-15)),
              "float32": ((1e-4, 1e-6), (1e-2, 2e-4), (1e-5, 1e-7))}
FD_EPS = {"float64": 1e-6, "float32": 1e-3}
ACTIVATION_MODULES = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid"}  # nn class of each activation
MAX_ROWS = 32  # element rows printed per parameter; the maxima below a table cover every element


@dataclass
class ParamStep:
    """One parameter through the step: its three gradients and its values around the update."""

    symbol: str  # the textbook name, "W1"
    name: str  # the module path, "0.weight"
    hand: np.ndarray
    engine: np.ndarray
    numeric: np.ndarray
    before: np.ndarray
    after: np.ndarray
    expected: np.ndarray  # the optimizer's formula applied to `before` and the engine's gradient


@dataclass
class OneStep:
    sizes: tuple
    activation: str
    optimizer: str
    lr: float
    seed: int
    dtype: str
    x: np.ndarray
    y: int
    trace: object
    loss_engine: float
    loss_hand: float
    derivation: list
    forward_by_hand: str = ""
    params: list = field(default_factory=list)
    dot: str = ""
    later_steps: list = field(default_factory=list)  # OptimizerStep for every step, the first included

    @property
    def tolerances(self) -> tuple:
        return TOLERANCES[self.dtype]

    def max_errors(self) -> tuple[float, float, float]:
        """max |hand - engine|, max |hand - finite diff|, max |engine after - formula after|."""
        def worst(pairs):
            return max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in pairs)

        return (worst((p.hand, p.engine) for p in self.params),
                worst((p.hand, p.numeric) for p in self.params),
                worst((p.after, p.expected) for p in self.params))

    def within_tolerance(self) -> tuple[bool, bool, bool]:
        """Whether (hand vs engine, hand vs finite differences, engine vs formula) agree element by element."""
        (r1, a1), (r2, a2), (r3, a3) = self.tolerances
        return (all(_close(p.hand, p.engine, r1, a1) for p in self.params),
                all(_close(p.numeric, p.hand, r2, a2) for p in self.params),
                all(_close(p.after, p.expected, r3, a3) for p in self.params))

    @property
    def agree(self) -> bool:
        rel, abs_ = self.tolerances[0]
        loss_ok = abs(self.loss_engine - self.loss_hand) <= abs_ + rel * abs(self.loss_hand)
        return loss_ok and all(self.within_tolerance()) and all(s.agree for s in self.later_steps)

    # ---- text ---------------------------------------------------------------
    def text(self) -> str:
        n_layers = len(self.sizes) - 1
        act = mlp_by_hand.get_activation(self.activation)
        first = FIRST_STEPS[self.optimizer]
        arch = "-".join(map(str, self.sizes))
        layers = []
        for l in range(n_layers):
            layers.append(f"nn.Linear({self.sizes[l]}, {self.sizes[l + 1]})")
            if l < n_layers - 1:
                layers.append(f"nn.{ACTIVATION_MODULES[self.activation]}()")
        names = ", ".join(f"{p.symbol} = {p.name} {p.before.shape}" for p in self.params)
        out = [
            f"One training step of a {arch} MLP ({self.activation}): cross-entropy on one sample, "
            f"{first.description.split('(')[0]} lr {self.lr:g}, {self.dtype}, seed {self.seed}",
            "",
            f"  model     nn.Sequential({', '.join(layers)})",
            f"  formulas  {mlp_by_hand.forward_formulas(n_layers, act)}",
            f"  names     {names}",
            f"  sample    x = {format_array(self.x, 64)}, y = {self.y}",
            "",
            "1. Forward pass, op by op (recorded by tg.trace; #k is the output of step k)",
            self.trace.forward_table(title=False, created_at=False),
            f"  by hand (NumPy): {self.forward_by_hand}",
            f"  loss: engine {self.loss_engine:.10g}, by hand {self.loss_hand:.10g}",
            "",
            "2. Backward pass, step by step (loss.backward(): each op's backward gets the upstream gradient",
            "   dL/d(its output) and sends dL/d(input) to each input)",
            self.trace.backward_table(title=False, created_at=False),
            "",
            "3. The same gradients derived by hand (NumPy, textbook formulas; vectors are columns,",
            "   where the engine holds the one sample as a batch of one row)",
        ]
        out += [f"  {line}" for line in self.derivation]
        tol_engine, tol_fd, tol_opt = (f"{a:g} + {r:g} x |value|" for r, a in self.tolerances)
        ok_engine, ok_fd, ok_opt = self.within_tolerance()
        e_engine, e_fd, e_opt = self.max_errors()
        out += ["", f"4. Each parameter's gradient three ways: by hand, by the engine (.grad), and by central "
                    f"finite differences (eps {FD_EPS[self.dtype]:g})"]
        rows = []
        for p in self.params:
            for k, idx in enumerate(np.ndindex(p.hand.shape)):
                if k == MAX_ROWS:
                    rows.append([f"{p.symbol}[...]", f"({p.hand.size - MAX_ROWS} more)", "", "", "", ""])
                    break
                rows.append([_element(p.symbol, idx), _num(p.hand[idx]), _num(p.engine[idx]), _num(p.numeric[idx]),
                             f"{abs(p.hand[idx] - p.engine[idx]):.1e}", f"{abs(p.hand[idx] - p.numeric[idx]):.1e}"])
        out.append(format_table(["param", "hand", "engine", "finite diff", "|hand-engine|", "|hand-fd|"], rows))
        verdict = "the three agree" if ok_engine and ok_fd else "THEY DISAGREE"
        out.append(f"  max |hand - engine| = {e_engine:.1e} (tolerance {tol_engine}), "
                   f"max |hand - finite diff| = {e_fd:.1e} (tolerance {tol_fd}): {verdict}")
        out += ["", f"5. Optimizer step: {first.description} with lr = {self.lr:g}",
                f"   first update from a fresh state: {first.formula}"]
        rows = []
        for p in self.params:
            for k, idx in enumerate(np.ndindex(p.before.shape)):
                if k == MAX_ROWS:
                    rows.append([f"{p.symbol}[...]", f"({p.before.size - MAX_ROWS} more)", "", "", ""])
                    break
                rows.append([_element(p.symbol, idx), _num(p.before[idx]), _num(p.engine[idx]),
                             _num(p.after[idx]), _num(p.expected[idx])])
        out.append(format_table(["param", "before", "grad", "after (engine)", "after (formula)"], rows))
        out.append(f"  max |engine - formula| = {e_opt:.1e} (tolerance {tol_opt}): "
                   + ("the update matches the formula" if ok_opt else "MISMATCH"))
        if self.later_steps:
            out += ["", *optimizer_steps_text(self.optimizer, self.lr, self.later_steps, self.tolerances[2])]
        return "\n".join(out)


def _close(a, b, rel: float, abs_: float) -> bool:
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) <= abs_ + rel * np.abs(np.asarray(b))))


def _element(symbol: str, idx: tuple) -> str:
    return f"{symbol}[{','.join(map(str, idx))}]"


def _num(v) -> str:
    return f"{float(v): .6g}"


def parse_sizes(text: str | Sequence[int]) -> tuple:
    """"4-3-2" -> (4, 3, 2): input size, hidden sizes, number of classes."""
    if isinstance(text, str):
        try:
            sizes = tuple(int(s) for s in text.replace(",", "-").replace("x", "-").split("-"))
        except ValueError:
            raise ValueError(f"--model {text!r}: write the layer sizes as integers joined by '-', e.g. 4-3-2") from None
    else:
        sizes = tuple(int(s) for s in text)
    if len(sizes) < 2 or any(s < 1 for s in sizes) or sizes[-1] < 2:
        raise ValueError(f"--model {text!r}: need an input size and at least 2 classes, all sizes >= 1 (e.g. 4-3-2)")
    if sum(a * b + b for a, b in zip(sizes, sizes[1:])) > 5000:
        raise ValueError(f"--model {text!r}: over 5000 parameters is too many to print one by one; "
                         "this command is for tiny models like 4-3-2")
    return sizes


def build_model(sizes: tuple, activation: str, dtype: str):
    act = getattr(nn, ACTIVATION_MODULES[mlp_by_hand.get_activation(activation).name])
    layers = []
    for l in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[l], sizes[l + 1], dtype=dtype))
        if l < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def run_one_step(sizes: str | Sequence[int] = (4, 3, 2), activation: str = "tanh", optimizer: str = "sgd",
                 lr: float = 0.1, seed: int = 0, dtype: str = "float64", target: int | None = None,
                 steps: int = 1) -> OneStep:
    """Build the model, run forward + backward inside tg.trace(), check the gradients, take one step.

    With steps > 1 it goes on training on the same sample and records the optimizer's state
    after every step (OneStep.later_steps), checked against the recurrences in NumPy.
    """
    sizes = parse_sizes(sizes)
    if dtype not in TOLERANCES:
        raise ValueError(f"dtype {dtype!r}: choose float64 (the default, for exact agreement) or float32")
    if optimizer not in FIRST_STEPS:
        raise ValueError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(FIRST_STEPS)}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    act = mlp_by_hand.get_activation(activation)
    n_classes = sizes[-1]
    manual_seed(seed)
    model = build_model(sizes, activation, dtype)
    rng = np.random.default_rng(seed)
    x_np = rng.normal(size=sizes[0]).astype(dtype)
    y = int(rng.integers(n_classes)) if target is None else int(target)
    if not 0 <= y < n_classes:
        raise ValueError(f"--target {y} is not a class of a {n_classes}-class model (0..{n_classes - 1})")
    x = Tensor(x_np[None, :])
    x.name = "x"
    t_y = Tensor(np.array([y]))
    t_y.name = "y"
    linears = [m for m in model if isinstance(m, nn.Linear)]
    weights = [m.weight.numpy().astype(np.float64) for m in linears]
    biases = [m.bias.numpy().astype(np.float64) for m in linears]

    with trace(model=model) as t:
        loss = F.cross_entropy(model(x), t_y)
        loss.backward()
    dot = t.to_dot(title=f"{'-'.join(map(str, sizes))} MLP ({activation}), one sample")

    fwd = mlp_by_hand.forward(weights, biases, x_np, y, act)
    bwd = mlp_by_hand.backward(weights, fwd, y, act)
    fmt = lambda a: format_array(a, 64)  # noqa: E731
    step = OneStep(sizes=sizes, activation=act.name, optimizer=optimizer, lr=lr, seed=seed, dtype=dtype,
                   x=x_np, y=y, trace=t, loss_engine=loss.item(), loss_hand=fwd.loss,
                   derivation=mlp_by_hand.derivation(weights, fwd, bwd, y, act, fmt), dot=dot,
                   forward_by_hand=mlp_by_hand.forward_values(fwd, fmt))

    def loss_value() -> float:
        with no_grad():
            return float(F.cross_entropy(model(x), t_y).item())

    opt = make_optimizer(optimizer, model.parameters(), lr)
    befores = {}
    for l, layer in enumerate(linears, 1):
        for symbol, param, hand in ((f"W{l}", layer.weight, bwd.dW[l]), (f"b{l}", layer.bias, bwd.db[l])):
            befores[symbol] = param.numpy().copy()
            step.params.append(ParamStep(
                symbol=symbol, name=_module_name(model, param), hand=hand,
                engine=param.grad.numpy().astype(np.float64),
                numeric=numerical_gradient(loss_value, param.data, FD_EPS[dtype]),
                before=befores[symbol].astype(np.float64), after=None, expected=None))
    opt.step()
    first = FIRST_STEPS[optimizer]
    named = [(p.symbol, q) for p, q in zip(step.params, [q for layer in linears for q in (layer.weight, layer.bias)])]
    for p, (_, param) in zip(step.params, named):
        p.after = param.numpy().astype(np.float64)
        p.expected = first.update(p.before, p.engine, lr)
    by_hand = {symbol: StateByHand(optimizer, lr) for symbol, _ in named}
    befores = {p.symbol: p.before for p in step.params}
    tolerance = TOLERANCES[dtype][2]
    step.later_steps.append(observe_step(1, step.loss_engine, optimizer, opt, named, by_hand, befores, tolerance))
    for t in range(2, steps + 1):
        befores = {symbol: param.numpy().astype(np.float64) for symbol, param in named}
        opt.zero_grad()
        loss = F.cross_entropy(model(x), t_y)
        loss.backward()
        opt.step()
        step.later_steps.append(observe_step(t, loss.item(), optimizer, opt, named, by_hand, befores, tolerance))
    return step


def make_optimizer(name: str, params, lr: float):
    """The engine's optimizer matching FIRST_STEPS[name]."""
    if name not in FIRST_STEPS:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(FIRST_STEPS)}")
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=MOMENTUM)
    if name == "nesterov":
        return optim.SGD(params, lr=lr, momentum=MOMENTUM, nesterov=True)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, alpha=ALPHA, eps=EPS)
    if name == "adam":
        return optim.Adam(params, lr=lr, betas=BETAS, eps=EPS)
    return optim.AdamW(params, lr=lr, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY_ADAMW)


def _module_name(model, param) -> str:
    return next(name for name, p in model.named_parameters() if p is param)
