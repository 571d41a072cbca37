"""One training step of a tiny MLP, watched: the engine's trace, hand-derived and numerical gradients, the update.

    from tinygrad_opt.teach.one_step import run_one_step
    step = run_one_step((4, 3, 2), activation="tanh", optimizer="sgd", lr=0.1)
    print(step.text())      # what `tinygrad-opt trace` prints
    step.agree              # True when hand, engine and finite differences agree

Three independent routes to each gradient: the engine's backward (`.grad`), the
textbook formulas in NumPy (mlp_by_hand.py) and central finite differences of the
engine's forward pass (finite_diff.py). float64 by default, so they agree to ~1e-10.
OneStep, check_and_step and the option checks here serve conv_step.py's tiny CNN too.
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
    """One parameter (or the input x) through the step: its three gradients and its values around the update."""

    symbol: str  # the textbook name, "W1"
    name: str  # the module path, "0.weight"
    hand: np.ndarray
    engine: np.ndarray
    numeric: np.ndarray
    before: np.ndarray
    after: np.ndarray | None = None  # None for an input (x): the optimizer does not update it
    expected: np.ndarray | None = None  # the optimizer's formula applied to `before` and the engine's gradient
    by_hand: str = ""  # how the hand gradient was derived, in words, where a table shows it on its own


@dataclass
class OneStep:
    """One watched step: what run_one_step (an MLP) or run_conv_step (a CNN) found, and its text."""

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
    title: str = ""  # the first line of the text
    header: list = field(default_factory=list)  # "model ...", "formulas ...", "names ...", "sample ..." lines
    derivation_intro: str = "3. The same gradients derived by hand (NumPy, textbook formulas)"
    forward_by_hand: str = ""
    params: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # ParamStep of inputs checked three ways (the CNN's x)
    dot: str = ""
    later_steps: list = field(default_factory=list)  # OptimizerStep for every step, the first included
    sizes: tuple = ()  # the MLP's layer sizes
    activation: str = ""

    @property
    def tolerances(self) -> tuple:
        return TOLERANCES[self.dtype]

    @property
    def checked(self) -> list:
        """Everything whose gradient is checked three ways: the parameters, then the inputs."""
        return self.params + self.inputs

    def max_errors(self) -> tuple[float, float, float]:
        """max |hand - engine|, max |hand - finite diff|, max |engine after - formula after|."""
        return (*_gradient_errors(self.checked), _worst((p.after, p.expected) for p in self.params))

    def within_tolerance(self) -> tuple[bool, bool, bool]:
        """Whether (hand vs engine, hand vs finite differences, engine vs formula) agree element by element."""
        r3, a3 = self.tolerances[2]
        return (*_gradients_agree(self.checked, self.tolerances),
                all(_close(p.after, p.expected, r3, a3) for p in self.params))

    @property
    def agree(self) -> bool:
        rel, abs_ = self.tolerances[0]
        loss_ok = abs(self.loss_engine - self.loss_hand) <= abs_ + rel * abs(self.loss_hand)
        return loss_ok and all(self.within_tolerance()) and all(s.agree for s in self.later_steps)

    # ---- text ---------------------------------------------------------------
    def check_tables(self, max_rows: int = 12) -> list[tuple[str, list[str], list[list[str]]]]:
        """The gradient check as (caption, headers, rows) tables, one per checked tensor, for Trace.to_html."""
        return [(f"dL/d{p.symbol} ({p.name}, shape {p.hand.shape}) three ways"
                 + (f" (by hand: {p.by_hand})" if p.by_hand else "") + ": " + _gradient_verdict([p], self.tolerances),
                 GRADIENT_HEADERS, _gradient_rows([p], max_rows)) for p in self.checked]

    def text(self) -> str:
        first = FIRST_STEPS[self.optimizer]
        out = [self.title, "", *[f"  {line}" for line in self.header], "",
               "1. Forward pass, op by op (recorded by tg.trace; #k is the output of step k)",
               self.trace.forward_table(title=False, created_at=False),
               f"  by hand (NumPy): {self.forward_by_hand}",
               f"  loss: engine {self.loss_engine:.10g}, by hand {self.loss_hand:.10g}",
               "",
               "2. Backward pass, step by step (loss.backward(): each op's backward gets the upstream gradient",
               "   dL/d(its output) and sends dL/d(input) to each input)",
               self.trace.backward_table(title=False, created_at=False),
               "",
               self.derivation_intro]
        out += [f"  {line}" for line in self.derivation]
        tol_opt = _tolerance_text(self.tolerances[2])
        ok_opt = self.within_tolerance()[2]
        e_opt = self.max_errors()[2]
        what = "Each parameter's gradient" + (" and the input's" if self.inputs else "")
        out += ["", f"4. {what} three ways: by hand, by the engine (.grad), and by central "
                    f"finite differences (eps {FD_EPS[self.dtype]:g})"]
        out.append(format_table(GRADIENT_HEADERS, _gradient_rows(self.checked, MAX_ROWS)))
        out.append(f"  {_gradient_verdict(self.checked, self.tolerances)}")
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


GRADIENT_HEADERS = ["param", "hand", "engine", "finite diff", "|hand-engine|", "|hand-fd|"]


def _close(a, b, rel: float, abs_: float) -> bool:
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) <= abs_ + rel * np.abs(np.asarray(b))))


def _worst(pairs) -> float:
    return max((float(np.max(np.abs(a - b), initial=0.0)) for a, b in pairs), default=0.0)


def _tolerance_text(tolerance: tuple) -> str:
    rel, abs_ = tolerance
    return f"{abs_:g} + {rel:g} x |value|"


def _gradient_errors(checked: list) -> tuple[float, float]:
    """max |hand - engine| and max |hand - finite diff| over every element of `checked`."""
    return _worst((p.hand, p.engine) for p in checked), _worst((p.hand, p.numeric) for p in checked)


def _gradients_agree(checked: list, tolerances: tuple) -> tuple[bool, bool]:
    (r1, a1), (r2, a2) = tolerances[:2]
    return (all(_close(p.hand, p.engine, r1, a1) for p in checked),
            all(_close(p.numeric, p.hand, r2, a2) for p in checked))


def _gradient_verdict(checked: list, tolerances: tuple) -> str:
    e_engine, e_fd = _gradient_errors(checked)
    ok_engine, ok_fd = _gradients_agree(checked, tolerances)
    return (f"max |hand - engine| = {e_engine:.1e} (tolerance {_tolerance_text(tolerances[0])}), "
            f"max |hand - finite diff| = {e_fd:.1e} (tolerance {_tolerance_text(tolerances[1])}): "
            + ("the three agree" if ok_engine and ok_fd else "THEY DISAGREE"))


def _gradient_rows(checked: list, max_rows: int) -> list[list[str]]:
    """Each element's gradient by hand, by the engine and by finite differences (the first max_rows per tensor)."""
    rows = []
    for p in checked:
        for k, idx in enumerate(np.ndindex(p.hand.shape)):
            if k == max_rows:
                rows.append([f"{p.symbol}[...]", f"({p.hand.size - max_rows} more)", "", "", "", ""])
                break
            rows.append([_element(p.symbol, idx), _num(p.hand[idx]), _num(p.engine[idx]), _num(p.numeric[idx]),
                         f"{abs(p.hand[idx] - p.engine[idx]):.1e}", f"{abs(p.hand[idx] - p.numeric[idx]):.1e}"])
    return rows


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
            raise ValueError(f"sizes {text!r}: write the layer sizes as integers joined by '-', e.g. 4-3-2") from None
    else:
        sizes = tuple(int(s) for s in text)
    if len(sizes) < 2 or any(s < 1 for s in sizes) or sizes[-1] < 2:
        raise ValueError(f"sizes {text!r}: need an input size and at least 2 classes, all sizes >= 1 (e.g. 4-3-2)")
    if sum(a * b + b for a, b in zip(sizes, sizes[1:])) > 5000:
        raise ValueError(f"sizes {text!r}: over 5000 parameters is too many to print one by one; "
                         "this is for tiny models like 4-3-2")
    return sizes


def build_model(sizes: tuple, activation: str, dtype: str):
    act = getattr(nn, ACTIVATION_MODULES[mlp_by_hand.get_activation(activation).name])
    layers = []
    for l in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[l], sizes[l + 1], dtype=dtype))
        if l < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def check_options(optimizer: str, lr: float, dtype: str, steps: int) -> None:
    """The options every watched step shares, checked before any work (ValueError naming the parameter)."""
    if dtype not in TOLERANCES:
        raise ValueError(f"dtype {dtype!r}: choose float64 (the default, for exact agreement) or float32")
    if optimizer not in FIRST_STEPS:
        raise ValueError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(FIRST_STEPS)}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")


def pick_target(rng: np.random.Generator, target: int | None, n_classes: int) -> int:
    """The sample's class: `target`, or drawn from the seeded generator."""
    y = int(rng.integers(n_classes)) if target is None else int(target)
    if not 0 <= y < n_classes:
        raise ValueError(f"target {y} is not a class of a {n_classes}-class model (0..{n_classes - 1})")
    return y


def run_one_step(sizes: str | Sequence[int] = (4, 3, 2), activation: str = "tanh", optimizer: str = "sgd",
                 lr: float = 0.1, seed: int = 0, dtype: str = "float64", target: int | None = None,
                 steps: int = 1) -> OneStep:
    """Build the model, run forward + backward inside tg.trace(), check the gradients, take one step.

    With steps > 1 it goes on training on the same sample and records the optimizer's state
    after every step (OneStep.later_steps), checked against the recurrences in NumPy.
    """
    sizes = parse_sizes(sizes)
    check_options(optimizer, lr, dtype, steps)
    act = mlp_by_hand.get_activation(activation)
    manual_seed(seed)
    model = build_model(sizes, activation, dtype)
    rng = np.random.default_rng(seed)
    x_np = rng.normal(size=sizes[0]).astype(dtype)
    y = pick_target(rng, target, sizes[-1])
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
    n_layers = len(sizes) - 1
    layers = []
    for l in range(n_layers):
        layers.append(f"nn.Linear({sizes[l]}, {sizes[l + 1]})")
        if l < n_layers - 1:
            layers.append(f"nn.{ACTIVATION_MODULES[act.name]}()")
    hand = [q for l, layer in enumerate(linears, 1) for q in ((f"W{l}", layer.weight, bwd.dW[l]),
                                                               (f"b{l}", layer.bias, bwd.db[l]))]
    step = OneStep(sizes=sizes, activation=act.name, optimizer=optimizer, lr=lr, seed=seed, dtype=dtype,
                   x=x_np, y=y, trace=t, loss_engine=loss.item(), loss_hand=fwd.loss,
                   derivation=mlp_by_hand.derivation(weights, fwd, bwd, y, act, fmt), dot=dot,
                   forward_by_hand=mlp_by_hand.forward_values(fwd, fmt))
    step.title = (f"One training step of a {'-'.join(map(str, sizes))} MLP ({act.name}): cross-entropy on one "
                  f"sample, {FIRST_STEPS[optimizer].description.split('(')[0]} lr {lr:g}, {dtype}, seed {seed}")
    step.header = [f"model     nn.Sequential({', '.join(layers)})",
                   f"formulas  {mlp_by_hand.forward_formulas(n_layers, act)}",
                   "names     " + ", ".join(f"{s} = {_module_name(model, q)} {tuple(q.shape)}" for s, q, _ in hand),
                   f"sample    x = {format_array(x_np, 64)}, y = {y}"]
    step.derivation_intro = ("3. The same gradients derived by hand (NumPy, textbook formulas; vectors are columns,\n"
                             "   where the engine holds the one sample as a batch of one row)")
    check_and_step(step, model, lambda: F.cross_entropy(model(x), t_y), hand, [], steps)
    return step


def check_and_step(step: OneStep, model, loss_fn, hand: list, hand_inputs: list, steps: int) -> None:
    """Sections 4 to 6 of a watched step, after the traced forward and backward: fills step.params,
    step.inputs and step.later_steps.

    `hand` is [(symbol, parameter, hand-derived gradient)] in the model's order and `hand_inputs`
    the same for inputs whose gradient the engine computed (x with requires_grad). Each gets its
    finite-difference gradient; then the optimizer takes `steps` steps on the same sample, each
    checked against the update rules written out in NumPy.
    """
    dtype, optimizer, lr = step.dtype, step.optimizer, step.lr

    def loss_value() -> float:
        with no_grad():
            return float(loss_fn().item())

    def checked(symbol, tensor, gradient, name) -> ParamStep:
        return ParamStep(symbol=symbol, name=name, hand=gradient, engine=tensor.grad.numpy().astype(np.float64),
                         numeric=numerical_gradient(loss_value, tensor.data, FD_EPS[dtype]),
                         before=tensor.numpy().astype(np.float64))

    step.params = [checked(s, param, g, _module_name(model, param)) for s, param, g in hand]
    step.inputs = [checked(s, tensor, g, tensor.name or s) for s, tensor, g in hand_inputs]
    named = [(symbol, param) for symbol, param, _ in hand]
    opt = make_optimizer(optimizer, [param for _, param in named], lr)
    opt.step()
    first = FIRST_STEPS[optimizer]
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
        loss = loss_fn()
        loss.backward()
        opt.step()
        step.later_steps.append(observe_step(t, loss.item(), optimizer, opt, named, by_hand, befores, tolerance))


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
