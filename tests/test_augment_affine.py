"""Random rotations and scalings of training images: the resampling against a per-pixel loop."""
import math

import numpy as np
import pytest

from tinygrad_opt.data.affine import RandomAffineLoader, random_affine


def loop_affine(image, angle_deg, scale, shift_y, shift_x):
    """Output pixel (i, j) reads the source point c + R(angle) ((i, j) - c - shift) / scale bilinearly."""
    h, w = image.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    cos, sin = math.cos(math.radians(angle_deg)) / scale, math.sin(math.radians(angle_deg)) / scale

    def pixel(r, c):
        return float(image[r, c]) if 0 <= r < h and 0 <= c < w else 0.0

    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            dy, dx = i - cy - shift_y, j - cx - shift_x
            sy, sx = cy + cos * dy - sin * dx, cx + sin * dy + cos * dx
            y0, x0 = math.floor(sy), math.floor(sx)
            fy, fx = sy - y0, sx - x0
            out[i, j] = ((1 - fy) * ((1 - fx) * pixel(y0, x0) + fx * pixel(y0, x0 + 1))
                         + fy * ((1 - fx) * pixel(y0 + 1, x0) + fx * pixel(y0 + 1, x0 + 1)))
    return out


@pytest.mark.parametrize("channels,shape", [(1, (7, 7)), (2, (6, 9))])
def test_random_affine_matches_the_per_pixel_loop(channels, shape):
    h, w = shape
    x = np.random.default_rng(0).random((4, channels, h, w)).astype(np.float32)
    draws = np.random.default_rng(5)
    angle = draws.uniform(-30, 30, 4)
    scale = draws.uniform(0.8, 1.2, 4)
    shift_y, shift_x = draws.uniform(-2, 2, (2, 4))
    out = random_affine(x, (channels, h, w), 30, 0.2, 2, np.random.default_rng(5))
    assert out.shape == x.shape and out.dtype == x.dtype
    for n in range(4):
        for c in range(channels):
            expected = loop_affine(x[n, c], angle[n], scale[n], shift_y[n], shift_x[n])
            np.testing.assert_allclose(out[n, c], expected, atol=2e-6)


def test_random_affine_without_motion_is_the_identity_and_keeps_flat_rows():
    x = np.random.default_rng(1).random((3, 64)).astype(np.float32)
    out = random_affine(x, (1, 8, 8), 0, 0, 0, np.random.default_rng(0))
    assert out.shape == (3, 64) and np.array_equal(out, x)


def test_a_quarter_turn_moves_pixels_to_their_rotated_places():
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    out = random_affine(x, (1, 5, 5), 90, 0, 0, _FixedDraws(angle=90.0))
    # the source of output (i, j) is (4 - j, i) for a +90 degree angle about the centre (2, 2)
    expected = np.array([[x[0, 0, 4 - j, i] for j in range(5)] for i in range(5)])
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-12)


class _FixedDraws:
    """A stand-in generator whose angle draw is fixed and whose other draws are their range's midpoint."""

    def __init__(self, angle):
        self.angle = angle

    def uniform(self, low, high, size):
        if np.shape(size) == () and low == -high and high >= 1 and self.angle is not None:
            value, self.angle = self.angle, None
            return np.full(size, value)
        return np.full(size, (low + high) / 2)


def test_loader_draws_from_the_engine_generator_and_keeps_length():
    import tinygrad_opt as tg
    x = np.random.default_rng(2).random((2, 64)).astype(np.float32)
    loader = RandomAffineLoader([(x, np.array([0, 1]))], (1, 8, 8), 10, 0.1, 2)
    tg.manual_seed(3)
    first = next(iter(loader))[0]
    tg.manual_seed(3)
    again = next(iter(loader))[0]
    assert len(loader) == 1 and first.shape == (2, 64) and np.array_equal(first, again)
    assert not np.array_equal(first, x)
    with pytest.raises(ValueError, match="max_scale"):
        RandomAffineLoader([], (1, 8, 8), 10, 1.5, 2)


def run_cli(capsys, *argv):
    from tinygrad_opt import cli
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr()


@pytest.mark.parametrize("argv,message", [
    (["--augment", "--augment-rotation", "-5"], "--augment-rotation must be in [0, 180] degrees, got -5.0"),
    (["--augment", "--augment-scale", "1"], "--augment-scale must be in [0, 1), got 1.0"),
    (["--augment-rotation", "10"], "add --augment"),
])
def test_bad_augment_settings_are_exit_2_with_one_line(capsys, tmp_path, argv, message):
    code, captured = run_cli(capsys, "train", "--model", "cnn", *argv, "--epochs", "1", "--out", tmp_path / "x")
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], captured.err


def test_cli_trains_with_rotations_and_scalings(capsys, tmp_path):
    code, captured = run_cli(capsys, "train", "--model", "cnn", "--augment", "--augment-rotation", "10",
                             "--augment-scale", "0.1", "--epochs", "1", "--batch-size", "128", "--quiet",
                             "--out", tmp_path / "aug")
    assert code == 0, captured.err
    import tinygrad_opt.train as train
    saved = train.load_checkpoint(tmp_path / "aug" / "last.ckpt")["config"]
    assert saved["augment_rotation"] == 10.0 and saved["augment_scale"] == 0.1


def test_augment_picks_the_cnns_augmentation_recipe_and_what_is_given_wins():
    from tinygrad_opt.train.config import TrainConfig
    plain = TrainConfig(model="cnn").resolved()
    assert (plain.optimizer, plain.dropout, plain.weight_decay) == ("adam", 0.5, 0.0)
    augmented = TrainConfig(model="cnn", augment=True).resolved()
    assert (augmented.optimizer, augmented.dropout, augmented.weight_decay, augmented.momentum) == ("muon", 0.1, 0.1, 0.95)
    assert (augmented.epochs, augmented.schedule, augmented.lr) == (10, "cosine", 1e-3)
    chosen = TrainConfig(model="cnn", augment=True, optimizer="adam", dropout=0.25).resolved()
    assert (chosen.optimizer, chosen.dropout) == ("adam", 0.25)
    mlp = TrainConfig(model="mlp", augment=True).resolved()  # only the CNN's recipe changes
    assert (mlp.optimizer, mlp.dropout) == ("adam", 0.0)
