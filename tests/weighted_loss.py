"""A loss for comparing gradients with torch that cannot hide a wrong one.

(y * y).sum() backpropagates 2 * y * dy, which vanishes wherever y == 0, and y.sum() sends the same
upstream gradient to every element; a fixed random weight per element does neither."""
import numpy as np


def weights(shape: tuple) -> np.ndarray:
    """Fixed float64 weights of `shape`, away from 0, different per element, the same on every call."""
    rng = np.random.default_rng(12345)
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def weighted_sum(y, library):
    """sum(y * w) for a tinygrad_opt or torch tensor y (library is the module); w has y's shape and dtype."""
    return (y * library.tensor(weights(tuple(y.shape)), dtype=y.dtype)).sum()


def is_differentiable(y) -> bool:
    """Integer and bool outputs have no gradient to compare."""
    return y.detach().numpy().dtype.kind in "fc"
