"""nn.Sequential fuses Linear+ReLU and BatchNorm2d+ReLU into one node only where nothing watches or replaces
the pair (nn/container.py's _fusable): each blocker makes the pair run as written, and the fusion comes back
once it is gone."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn

PAIRS = {
    "linear": (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU()), (2, 3)),
    "batchnorm": (lambda: nn.Sequential(nn.BatchNorm2d(2), nn.ReLU()), (2, 2, 3, 3)),
}


def _replace_forward(module):
    module.forward = type(module).forward.__get__(module)  # the same computation, set on the instance
    return lambda: delattr(module, "forward")


BLOCKERS = {
    "pre-hook on the layer": lambda m: m[0].register_forward_pre_hook(lambda mod, args: None).remove,
    "hook on the layer": lambda m: m[0].register_forward_hook(lambda mod, args, out: None).remove,
    "pre-hook on the ReLU": lambda m: m[1].register_forward_pre_hook(lambda mod, args: None).remove,
    "hook on the ReLU": lambda m: m[1].register_forward_hook(lambda mod, args, out: None).remove,
    "forward set on the layer": lambda m: _replace_forward(m[0]),
    "forward set on the ReLU": lambda m: _replace_forward(m[1]),
}


def _fused(model, shape) -> bool:
    x = tg.Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32), requires_grad=True)
    return type(model(x)._ctx).__name__ != "Relu"  # run as written, the ReLU is the last node


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("blocker", BLOCKERS)
def test_a_watched_or_replaced_pair_runs_as_written_until_that_is_undone(pair, blocker):
    make, shape = PAIRS[pair]
    model = make()
    assert _fused(model, shape)
    undo = BLOCKERS[blocker](model)
    assert not _fused(model, shape)
    undo()
    assert _fused(model, shape)


@pytest.mark.parametrize("pair", PAIRS)
def test_a_pair_with_a_module_missing_its_init_state_is_left_to_the_module_call(pair):
    make, shape = PAIRS[pair]
    model = make()
    del model[1].__dict__["_forward_hooks"]  # as a subclass that skipped Module.__init__ would lack it
    with pytest.raises(AttributeError, match="_forward_pre_hooks|_forward_hooks"):
        model(tg.Tensor(np.ones(shape, np.float32)))
