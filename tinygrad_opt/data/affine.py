"""Random small rotations, scalings and sub-pixel shifts of training images (bilinear resampling)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from .augment import AugmentingLoader


def random_affine(x, image_shape: tuple[int, int, int], max_rotation: float, max_scale: float,
                  max_shift: float, rng: np.random.Generator):
    """Each image of batch x turned, scaled and moved by its own random amounts about its centre.

    Per image: an angle in [-max_rotation, max_rotation] degrees, a scale s in [1 - max_scale,
    1 + max_scale] and a shift (dy, dx) in [-max_shift, max_shift] pixels, all uniform. Output pixel
    p takes the value at the source point q = c + R(angle) (p - c - shift) / s (c: the centre), read
    by bilinear interpolation, with zeros outside the image. x holds flat rows (B, C*H*W) or images
    (B, C, H, W) and keeps its shape and dtype; the draws come from `rng` on the host.
    """
    xp = array_module(x)
    c, h, w = image_shape
    b = x.shape[0]
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation, b))
    scale = rng.uniform(1.0 - max_scale, 1.0 + max_scale, b)
    shift_y, shift_x = rng.uniform(-max_shift, max_shift, (2, b))
    cos, sin = (xp.asarray(v / scale, dtype=np.float32)[:, None, None] for v in (np.cos(angle), np.sin(angle)))
    centre_y, centre_x = (h - 1) / 2.0, (w - 1) / 2.0
    rows = xp.arange(h, dtype=np.float32)[None, :, None] - centre_y - xp.asarray(shift_y, np.float32)[:, None, None]
    cols = xp.arange(w, dtype=np.float32)[None, None, :] - centre_x - xp.asarray(shift_x, np.float32)[:, None, None]
    # the rotation applied to (row, col) offsets; +1 for the zero frame of `padded` below
    src_y = cos * rows - sin * cols + (centre_y + 1.0)
    src_x = sin * rows + cos * cols + (centre_x + 1.0)
    padded = xp.zeros((b, c, h + 2, w + 2), dtype=x.dtype)
    padded[:, :, 1:h + 1, 1:w + 1] = x.reshape(b, c, h, w)
    y0, x0 = xp.floor(src_y), xp.floor(src_x)
    wy, wx = (src_y - y0).astype(x.dtype), (src_x - x0).astype(x.dtype)
    # points beyond the border read the zero frame: both neighbours clip onto it
    y0, y1 = (xp.clip(v, 0, h + 1).astype(np.intp) for v in (y0, y0 + 1))
    x0, x1 = (xp.clip(v, 0, w + 1).astype(np.intp) for v in (x0, x0 + 1))
    # flat indices into each (h+2, w+2) image of `padded`: four gathers per channel
    frame = (h + 2) * (w + 2)
    base = xp.arange(b)[:, None, None] * (c * frame)
    top_left, top_right = base + y0 * (w + 2) + x0, base + y0 * (w + 2) + x1
    bottom_left, bottom_right = base + y1 * (w + 2) + x0, base + y1 * (w + 2) + x1
    flat = padded.reshape(-1)
    out = xp.empty((b, c, h, w), dtype=x.dtype)
    for channel in range(c):
        at = channel * frame
        top = flat[top_left + at] * (1 - wx) + flat[top_right + at] * wx
        bottom = flat[bottom_left + at] * (1 - wx) + flat[bottom_right + at] * wx
        out[:, channel] = top * (1 - wy) + bottom * wy
    return out.reshape(x.shape)


class RandomAffineLoader(AugmentingLoader):
    """Every x comes out randomly turned, scaled and shifted (see random_affine)."""

    def __init__(self, loader: Any, image_shape: tuple[int, int, int], max_rotation: float,
                 max_scale: float, max_shift: float) -> None:
        if max_rotation < 0 or not 0 <= max_scale < 1 or max_shift < 0:
            raise ValueError(f"RandomAffineLoader: needs max_rotation >= 0, 0 <= max_scale < 1 and max_shift >= 0, "
                             f"got {max_rotation}, {max_scale}, {max_shift}")
        super().__init__(loader)
        self.image_shape = tuple(image_shape)
        self.max_rotation, self.max_scale, self.max_shift = float(max_rotation), float(max_scale), float(max_shift)

    def augment(self, x, rng: np.random.Generator):
        return random_affine(x, self.image_shape, self.max_rotation, self.max_scale, self.max_shift, rng)
