"""Random shifts of training images, applied batch by batch around any loader."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..backend import array_module, host_rng


def random_shift(x, image_shape: tuple[int, int, int], max_shift: int, rng: np.random.Generator):
    """Each image of batch x moved by its own (dy, dx) in [-max_shift, max_shift], zeros filling in.

    x holds flat rows (B, C*H*W) or images (B, C, H, W) and keeps its shape. The shift is a
    crop of the zero-padded image at a random offset (what torchvision's RandomCrop with
    padding does). The offsets come from `rng` on the host, so tg.manual_seed fixes them
    on every device.
    """
    xp = array_module(x)
    c, h, w = image_shape
    b = x.shape[0]
    images = x.reshape(b, c, h, w)
    m = int(max_shift)
    padded = xp.zeros((b, c, h + 2 * m, w + 2 * m), dtype=x.dtype)
    padded[:, :, m:m + h, m:m + w] = images
    dy, dx = (xp.asarray(rng.integers(0, 2 * m + 1, b)) for _ in range(2))
    rows = dy[:, None] + xp.arange(h)[None, :]  # (B, H): the source row of each output row
    cols = dx[:, None] + xp.arange(w)[None, :]
    batch = xp.arange(b)[:, None, None]
    shifted = padded.transpose(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return xp.ascontiguousarray(shifted.transpose(0, 3, 1, 2)).reshape(x.shape)


class AugmentingLoader:
    """Wraps a loader of (x, y) batches and passes every x through `augment(x, rng)`.

    Length, `dataset` and the loader's other attributes are the wrapped loader's, so a Trainer
    sees the same loader, only with augmented inputs. The draws come from the engine's host
    generator (tg.manual_seed), which the Trainer's checkpoints save and restore, so a resumed
    run augments as the uninterrupted one does.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def augment(self, x, rng: np.random.Generator):
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for x, y in self.loader:
            yield self.augment(x, host_rng()), y

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)


class RandomShiftLoader(AugmentingLoader):
    """Every x comes out randomly shifted (see random_shift)."""

    def __init__(self, loader: Any, image_shape: tuple[int, int, int], max_shift: int = 2) -> None:
        if max_shift < 0:
            raise ValueError(f"RandomShiftLoader: max_shift must be >= 0, got {max_shift}")
        super().__init__(loader)
        self.image_shape, self.max_shift = tuple(image_shape), int(max_shift)

    def augment(self, x, rng: np.random.Generator):
        return random_shift(x, self.image_shape, self.max_shift, rng)
