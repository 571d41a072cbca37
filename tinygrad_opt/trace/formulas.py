"""What each op computes and what its backward sends to each input, in short textbook notation.

g is the upstream gradient dL/d(out); a, b, ... are the inputs in argument order and
out the op's result. The trace tables and the HTML page show these next to the numbers.
An op without an entry here (a new one) is described by the first line of its docstring,
where every Function states its formula.
"""
from __future__ import annotations

# op name -> (forward formula, backward formula for each input)
FORMULAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Add": ("out = {a} + {b}", ("g (summed over broadcast axes)", "g (summed over broadcast axes)")),
    "Sub": ("out = {a} - {b}", ("g", "-g")),
    "Mul": ("out = {a} * {b}", ("g * {b}", "g * {a}")),
    "Div": ("out = {a} / {b}", ("g / {b}", "-g * {a} / {b}^2")),
    "Pow": ("out = {a} ** {b}", ("g * {b} * {a}^({b}-1)", "g * out * log({a})")),
    "Neg": ("out = -{a}", ("-g",)),
    "Exp": ("out = exp({a})", ("g * out",)),
    "Log": ("out = log({a})", ("g / {a}",)),
    "Sqrt": ("out = sqrt({a})", ("g / (2 * out)",)),
    "Abs": ("out = |{a}|", ("g * sign({a})",)),
    "Clip": ("out = clip({a}, lo, hi)", ("g where lo <= {a} <= hi, else 0",)),
    "Relu": ("out = max({a}, 0)", ("g * ({a} > 0)",)),
    "Sigmoid": ("out = 1 / (1 + exp(-{a}))", ("g * out * (1 - out)",)),
    "Tanh": ("out = tanh({a})", ("g * (1 - out^2)",)),
    "Softmax": ("out = exp({a}) / sum exp({a})", ("out * (g - sum(g * out))",)),
    "LogSoftmax": ("out = {a} - log(sum exp({a}))", ("g - softmax({a}) * sum(g)",)),
    "MatMul": ("out = {a} @ {b}", ("g @ {b}^T", "{a}^T @ g")),
    "Linear": ("out = {a} @ {b}^T + {c}", ("g @ {b}", "g^T @ {a}", "sum over batch of g")),
    "CrossEntropy": ("out = mean over batch of -log softmax({a})[{b}]", ("(softmax({a}) - onehot({b})) * g / N", "-")),
    "MSE": ("out = mean(({a} - {b})^2)", ("2 ({a} - {b}) * g / N", "-2 ({a} - {b}) * g / N")),
    "BCEWithLogits": ("out = mean of BCE(sigmoid({a}), {b})", ("(sigmoid({a}) - {b}) * g / N", "-{a} * g / N")),
    "Sum": ("out = sum({a})", ("g broadcast back to {a}'s shape",)),
    "Mean": ("out = mean({a})", ("g / N broadcast back to {a}'s shape",)),
    "Max": ("out = max({a})", ("g at the position of the max (shared by ties), 0 elsewhere",)),
    "Reshape": ("out = {a} reshaped", ("g reshaped back to {a}'s shape",)),
    "Transpose": ("out = {a} with axes permuted", ("g with the axes permuted back",)),
    "GetItem": ("out = {a}[index]", ("g written into zeros shaped like {a}, at index",)),
    "Dropout": ("out = {a} * mask / (1 - p)", ("g * mask / (1 - p)",)),
    "ApplyMask": ("out = {a} * mask", ("g * mask",)),
    "ToDevice": ("out = {a} on another device", ("g moved back",)),
    "Conv2d": ("out[n,c,i,j] = {c}[c] + sum over q,u,v of {b}[c,q,u,v] {a}[n,q,s*i+d*u,s*j+d*v]  "
               "(a cross-correlation; stride s, dilation d, {a} padded)",
               ("full convolution of g with {b} flipped (col2im of g @ {b})", "correlation of {a} with g",
                "g summed over batch and pixels")),
    "MaxPool2d": ("out = max of {a} over each window", ("g sent to each window's arg-max in {a}, 0 elsewhere",)),
    "AvgPool2d": ("out = mean of {a} over each window", ("g / (window size) spread over each window",)),
    "AdaptiveAvgPool2d": ("out = mean of {a} over each adaptive window",
                          ("g / (window size) spread over each window",)),
}


def _docstring_line(function_class) -> str:
    doc = (getattr(function_class, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _fill(template: str, names) -> str:
    letters = dict(zip("abcd", ("a", "b", "c", "d")))
    letters.update(zip("abcd", names or ()))
    return template.format(**letters)


def forward_formula(op: str, names=None, function_class=None) -> str:
    """The op's forward formula with the inputs' names, e.g. "out = x * w" (a, b, ... without names)."""
    if op in FORMULAS:
        return _fill(FORMULAS[op][0], names)
    return _docstring_line(function_class) or op


def backward_formula(op: str, position: int, names=None) -> str:
    """What the op's backward sends to input `position` (0-based), e.g. "g * w" for x in x * w."""
    if op in FORMULAS:
        grads = FORMULAS[op][1]
        return _fill(grads[position], names) if position < len(grads) else "-"
    return f"see {op}.backward's docstring"
