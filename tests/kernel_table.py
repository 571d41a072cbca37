"""One table of the fused optimizer updates, driving the CPU, emulated-GPU and GPU kernel tests alike.

Each entry: how many state arrays the update takes (after param and grad), the hypothesis
strategy of its knobs, and the keyword options of step k for drawn knobs. A test file
only supplies how to put arrays on its device and how to compare them with the reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_opt.kernels import reference

DTYPES = st.sampled_from([np.float32, np.float64])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=6)
SEEDS = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class UpdateCase:
    n_state: int
    knobs: Any  # a hypothesis strategy of a dict
    options: Callable[[dict, int], dict]  # (knobs, step) -> the kernel's keyword arguments
    initial_state: Callable[[dict], float] = lambda knobs: 0.0


def _sgd(k: dict, step: int) -> dict:
    nesterov = k["nesterov"] and k["momentum"] > 0 and k["dampening"] == 0
    return dict(lr=k["lr"], momentum=k["momentum"], dampening=k["dampening"], weight_decay=k["weight_decay"],
                nesterov=nesterov, maximize=k["maximize"], first_step=step == 1)


UPDATES = {
    "sgd_update": UpdateCase(1, st.fixed_dictionaries(dict(
        momentum=st.sampled_from([0.0, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
        weight_decay=st.sampled_from([0.0, 0.05]), nesterov=st.booleans(), maximize=st.booleans(),
        lr=st.sampled_from([0.1, 1e-3]))), _sgd),
    "adam_update": UpdateCase(3, st.fixed_dictionaries(dict(
        weight_decay=st.sampled_from([0.0, 0.1]), decoupled=st.booleans(), amsgrad=st.booleans(),
        maximize=st.booleans(), betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9)]), eps=st.sampled_from([1e-8, 1e-3]))),
        lambda k, step: dict(step=step, lr=0.01, beta1=k["betas"][0], beta2=k["betas"][1], eps=k["eps"],
                             weight_decay=k["weight_decay"], amsgrad=k["amsgrad"], maximize=k["maximize"],
                             decoupled_weight_decay=k["decoupled"])),
    "rmsprop_update": UpdateCase(3, st.fixed_dictionaries(dict(
        weight_decay=st.sampled_from([0.0, 0.1]), momentum=st.sampled_from([0.0, 0.5]), centered=st.booleans(),
        maximize=st.booleans(), alpha=st.sampled_from([0.99, 0.9]))),
        lambda k, step: dict(lr=0.01, alpha=k["alpha"], eps=1e-8, weight_decay=k["weight_decay"],
                             momentum=k["momentum"], centered=k["centered"], maximize=k["maximize"])),
    "adagrad_update": UpdateCase(1, st.fixed_dictionaries(dict(
        weight_decay=st.sampled_from([0.0, 0.1]), lr_decay=st.sampled_from([0.0, 0.05]), maximize=st.booleans(),
        initial=st.sampled_from([0.0, 0.5]))),
        lambda k, step: dict(step=step, lr=0.1, lr_decay=k["lr_decay"], weight_decay=k["weight_decay"], eps=1e-10,
                             maximize=k["maximize"]),
        initial_state=lambda k: k["initial"]),
}


def _nadam(k: dict, step: int) -> dict:
    from tinygrad_opt.optim.nadam import momentum_schedule  # noqa: PLC0415

    beta1 = k["betas"][0]
    product = float(np.prod([momentum_schedule(s, beta1, 4e-3) for s in range(1, step + 1)]))
    return dict(step=step, lr=0.01, beta1=beta1, beta2=k["betas"][1], eps=1e-8, weight_decay=k["weight_decay"],
                mu=momentum_schedule(step, beta1, 4e-3), mu_next=momentum_schedule(step + 1, beta1, 4e-3),
                mu_product=product, decoupled_weight_decay=k["decoupled"], maximize=k["maximize"])


# the later optimizers' kernels; beta1 < 0.5 takes torch's other lerp branch, RAdam's beta2 = 0.5 rectifies
# from the first step (0.999 not within three), schedule-free's ckp1 = 1 / step takes both lerp branches
_ADAM_LIKE = dict(weight_decay=st.sampled_from([0.0, 0.1]), decoupled=st.booleans(), maximize=st.booleans(),
                  betas=st.sampled_from([(0.9, 0.999), (0.3, 0.5)]))
UPDATES.update({
    "adamax_update": UpdateCase(2, st.fixed_dictionaries(_ADAM_LIKE),
                                lambda k, step: dict(step=step, lr=0.01, beta1=k["betas"][0], beta2=k["betas"][1],
                                                     eps=1e-8, weight_decay=k["weight_decay"], maximize=k["maximize"])),
    "nadam_update": UpdateCase(2, st.fixed_dictionaries(_ADAM_LIKE), _nadam),
    "radam_update": UpdateCase(2, st.fixed_dictionaries(_ADAM_LIKE),
                               lambda k, step: dict(step=step, lr=0.01, beta1=k["betas"][0], beta2=k["betas"][1],
                                                    eps=1e-8, weight_decay=k["weight_decay"],
                                                    decoupled_weight_decay=k["decoupled"], maximize=k["maximize"])),
    "lion_update": UpdateCase(1, st.fixed_dictionaries(dict(
        weight_decay=st.sampled_from([0.0, 0.1]), maximize=st.booleans(), betas=st.sampled_from([(0.9, 0.99),
                                                                                                  (0.5, 0.9)]))),
        lambda k, step: dict(lr=1e-3, beta1=k["betas"][0], beta2=k["betas"][1], weight_decay=k["weight_decay"],
                             maximize=k["maximize"])),
    "adadelta_update": UpdateCase(2, st.fixed_dictionaries(dict(
        weight_decay=st.sampled_from([0.0, 0.1]), maximize=st.booleans(), rho=st.sampled_from([0.9, 0.3]),
        initial=st.sampled_from([0.0, 0.5]))),
        lambda k, step: dict(lr=1.0, rho=k["rho"], eps=1e-6, weight_decay=k["weight_decay"], maximize=k["maximize"]),
        initial_state=lambda k: k["initial"]),
    "schedule_free_adamw_update": UpdateCase(2, st.fixed_dictionaries(dict(
        weight_decay=st.sampled_from([0.0, 0.05]), beta1=st.sampled_from([0.9, 0.5]))),
        lambda k, step: dict(lr=0.01, beta1=k["beta1"], beta2=0.999, eps=1e-8, weight_decay=k["weight_decay"],
                             ckp1=1 / step, bias_correction2=1 - 0.999**step)),
})


def check_update(impl: Any, name: str, shape: tuple, dtype: Any, seed: int, knobs: dict,
                 to_device: Callable = np.asarray, compare: Callable = None, steps: int = 3) -> None:
    """Run `steps` updates of kernel `name` through `impl` and the reference from the same start.

    Both see the same gradients; after each step every array must agree (`compare(ours, theirs,
    what)`, bitwise by default), and the caller's gradient must come back unmodified.
    """
    compare = compare or _bitwise
    case = UPDATES[name]
    rng = np.random.default_rng(seed)
    param = np.array(rng.standard_normal(shape) * 2, dtype=dtype)  # a 0-d array too, as a Tensor's data is
    start = [param] + [np.full(shape, case.initial_state(knobs), dtype) for _ in range(case.n_state)]
    ours = [to_device(a.copy()) for a in start]
    theirs = [to_device(a.copy()) for a in start]
    for step in range(1, steps + 1):
        host_grad = rng.standard_normal(shape).astype(dtype)
        grad = to_device(host_grad.copy())
        options = case.options(knobs, step)
        getattr(impl, name)(ours[0], grad, *ours[1:], **options)
        getattr(reference, name)(theirs[0], to_device(host_grad.copy()), *theirs[1:], **options)
        compare(grad, to_device(host_grad), f"{name} changed the gradient")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            compare(a, b, f"{name} step {step}, array {i}")


def _bitwise(a, b, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    np.testing.assert_array_equal(a, b, err_msg=what)
