"""clip_grads_by_total_norm: clip_grad_norm_'s clipping without the host read of the norm.

Bit for bit the same gradients and norm as clip_grad_norm_ and as the clip_grad_norm_ that
existed before the split (kept below as the oracle), over hypothesis-generated gradient sets
with zeros, subnormals, overflow, inf and NaN; the always-multiply device path equal to the
host path; and the Trainer clipping every step with no read of the norm (no float, no
clip_grad_norm_) while the loss is read only every log_every steps.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from tinygrad_opt import optim
from tinygrad_opt.backend import array_module, device_of, to_device
from tinygrad_opt.data import DataLoader, load_dataset
from tinygrad_opt.kernels import get as kernel
from tinygrad_opt.optim import clip_grad as clip_module
from tinygrad_opt.optim.clip_grad import clip_grads_by_total_norm
from tinygrad_opt.tensor import Tensor
from tinygrad_opt.train import Trainer, build_mlp
from tinygrad_opt.train import readback
from tinygrad_opt.train import trainer as trainer_module

INF, NAN = math.inf, math.nan
SPECIAL = [0.0, -0.0, 1.0, -2.5, 1e-40, 5e-324, 1e30, -1e200, INF, -INF, NAN]
SHAPES = [(), (1,), (3,), (2, 3), (0,), (4, 1)]
NORM_TYPES = [2.0, 1.0, INF, 3.5, 0.0, -INF, 2]
MAX_NORMS = [0, 0.0, 1e-3, 0.5, 1, 3.0, 1e6, INF]


def clip_grad_norm_before(parameters, max_norm, norm_type=2.0):
    """clip_grad_norm_ as it was before clip_grads_by_total_norm existed (commit c1ec07c), the oracle."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    by_device = {}
    for g in grads:
        by_device.setdefault(device_of(g), []).append(g)
    totals = [kernel("grad_norm", gs[0])(gs, float(norm_type)) for gs in by_device.values()]
    assert len(totals) == 1  # one device in these tests
    total = float(totals[0])
    coef = max_norm / (total + 1e-6)
    if coef < 1 or math.isnan(coef):
        for g in grads:
            g *= coef
    return total


@st.composite
def grad_sets(draw):
    """A list of (gradient array or None) for 1-4 parameters: random, all-zero, or with special values."""
    kind = draw(st.sampled_from(["random", "zero", "special"]))
    dtypes = [np.float32, np.float64]
    mixed = draw(st.booleans())
    dtype = draw(st.sampled_from(dtypes))
    grads = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 5)) == 0:
            grads.append(None)  # a parameter without a gradient
            continue
        shape = draw(st.sampled_from(SHAPES))
        size = int(np.prod(shape))
        dt = draw(st.sampled_from(dtypes)) if mixed else dtype
        if kind == "zero":
            values = [0.0] * size
        else:
            finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)
            element = st.one_of(finite, st.sampled_from(SPECIAL)) if kind == "special" else finite
            values = draw(st.lists(element, min_size=size, max_size=size))
        with np.errstate(over="ignore"):
            grads.append(np.asarray(values, dtype=np.float64).astype(dt).reshape(shape))
    return grads


def params_of(grads, device="cpu"):
    """Fresh parameters holding copies of `grads` (None: no gradient)."""
    params = []
    for g in grads:
        p = Tensor(np.zeros((1,)), requires_grad=True)
        if g is not None:
            p.grad = Tensor._make(to_device(g.copy(), device), False)
        params.append(p)
    return params


def host_grads(params):
    return [None if p.grad is None else to_device(p.grad.data, "cpu") for p in params]


def assert_bitwise(actual, expected):
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected):
        if b is None:
            assert a is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), (a, b)


def same_float(a, b):
    return np.float64(a).tobytes() == np.float64(b).tobytes()


# ---- the function ----------------------------------------------------------------------------------------------------
@settings(max_examples=150)  # cheap examples: many, to meet the rare special-value mixes
@given(grads=grad_sets(), max_norm=st.sampled_from(MAX_NORMS), norm_type=st.sampled_from(NORM_TYPES))
def test_internal_equals_public_and_the_previous_clip_grad_norm_bitwise(grads, max_norm, norm_type):
    with np.errstate(all="ignore"):  # inf * 0 and friends: the same arithmetic in all three
        old, public, internal = params_of(grads), params_of(grads), params_of(grads)
        total_old = clip_grad_norm_before(old, max_norm, norm_type)
        total_public = optim.clip_grad_norm_(public, max_norm, norm_type)
        total = clip_grads_by_total_norm(internal, max_norm, norm_type)
    assert isinstance(total_public, tg.Tensor) and total_public.shape == ()  # torch's 0-d tensor, not a float
    total_public = total_public.item()
    assert same_float(total_public, total_old)
    assert isinstance(total, np.ndarray) and total.shape == ()
    first = next((g for g in grads if g is not None), None)
    if first is not None:
        assert total.dtype == first.dtype  # the norm keeps the gradients' dtype
    assert same_float(float(total), total_public)
    assert_bitwise(host_grads(public), host_grads(old))
    assert_bitwise(host_grads(internal), host_grads(public))


@settings(max_examples=150)  # cheap examples: many, to meet the rare special-value mixes
@given(grads=grad_sets(), max_norm=st.sampled_from(MAX_NORMS), norm_type=st.sampled_from(NORM_TYPES))
def test_the_always_multiply_device_path_equals_the_host_path_bitwise(grads, max_norm, norm_type):
    """What a GPU runs (multiply by min(factor, 1) without looking), run here on NumPy arrays."""
    present = [g for g in grads if g is not None]
    if not present:
        return
    host, device = [g.copy() for g in present], [g.copy() for g in present]
    with np.errstate(all="ignore"):
        total = clip_module._total_norm(present, float(norm_type))
        clip_module._scale_host_(host, float(total), max_norm)
        clip_module._scale_device_(device, total, max_norm)
    assert_bitwise(device, host)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_device_path_rounds_the_factor_as_the_host_path_does(dtype):
    """The factor is formed in float64 and rounded once to the gradient's dtype: forming it in float32
    instead would differ in the last bit for about a quarter of float32 norms, so 300 draws must all agree."""
    rng = np.random.default_rng(7)
    for i in range(300):
        grads = [np.asarray(rng.standard_normal(s) * 10 ** rng.uniform(-3, 3), dtype=dtype) for s in [(4,), (2, 3)]]
        max_norm = [0.5, 1, 1e-2, 3.7][i % 4]
        host, device = [g.copy() for g in grads], [g.copy() for g in grads]
        total = clip_module._total_norm(grads, 2.0)
        clip_module._scale_host_(host, float(total), max_norm)
        clip_module._scale_device_(device, total, max_norm)
        assert_bitwise(device, host)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0, as torch computes it
def test_device_path_edge_cases(dtype):
    def scaled(values, max_norm=1.0):
        g = np.array(values, dtype=dtype)
        clip_module._scale_device_([g], clip_module._total_norm([g], 2.0), max_norm)
        return g

    # total = inf: the factor is 0, so inf becomes NaN and finite entries 0 (torch gives the same)
    np.testing.assert_array_equal(scaled([INF, 1.0, -3.0]), np.array([NAN, 0.0, -0.0], dtype))
    assert np.signbit(scaled([INF, 1.0, -3.0])[2])
    # total = NaN: every gradient becomes NaN
    assert np.isnan(scaled([NAN, 1.0, 0.0])).all()
    # zero gradients stay exactly zero, signs included; a small norm is left bit for bit alone
    assert scaled([0.0, -0.0]).tobytes() == np.array([0.0, -0.0], dtype).tobytes()
    small = np.array([1e-3, -2e-40, 5.0e-3], dtype)
    assert scaled(small, max_norm=1.0).tobytes() == small.tobytes()
    # max_norm = 0 zeroes everything; max_norm = inf leaves finite gradients alone
    np.testing.assert_array_equal(scaled([3.0, -4.0], max_norm=0.0), np.zeros(2, dtype))
    assert scaled([3.0, -4.0], max_norm=INF).tobytes() == np.array([3.0, -4.0], dtype).tobytes()
    # clipping: [3, 4] has norm 5, so the factor is 1 / (5 + 1e-6), rounded to the dtype once
    np.testing.assert_array_equal(scaled([3.0, 4.0]), np.array([3.0, 4.0], dtype) * dtype(1.0 / (5.0 + 1e-6)))


def test_internal_returns_an_array_and_checks_its_input():
    p = Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    p.grad = Tensor(np.array([3.0, 4.0], dtype=np.float32))
    total = clip_grads_by_total_norm(p, 1.0)  # a single tensor works too
    assert type(total) is np.ndarray and total.shape == () and total.dtype == np.float32 and float(total) == 5.0
    q = Tensor(np.zeros(2), requires_grad=True)
    none = clip_grads_by_total_norm([q], 1.0)
    assert none.shape == () and float(none) == 0.0 and q.grad is None
    with pytest.raises(ValueError, match="clip_grads_by_total_norm: max_norm must be >= 0, got -1"):
        clip_grads_by_total_norm([p], -1)
    with pytest.raises(TypeError, match="clip_grads_by_total_norm: norm_type must be a number, got '2'"):
        clip_grads_by_total_norm([p], 1.0, "2")
    with pytest.raises(TypeError, match="clip_grads_by_total_norm: parameters must be Tensors, but item 1 is a nd"):
        clip_grads_by_total_norm([p, np.zeros(2)], 1.0)
    # the public contract is unchanged: a float, and error_if_nonfinite raises before anything is scaled
    r = Tensor(np.zeros(2), requires_grad=True)
    r.grad = Tensor(np.array([NAN, 1.0]))
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):
        optim.clip_grad_norm_([r], 1.0, error_if_nonfinite=True)
    assert r.grad.numpy()[1] == 1.0


def _float32_grads(scale):
    rng = np.random.default_rng(1)
    return [np.asarray(rng.standard_normal(s) * scale, dtype=np.float32) for s in [(3, 4), (5,), (), (2, 1, 3)]]


@pytest.mark.parametrize("case", ["clips", "leaves", "inf", "nan"])
def test_internal_on_each_device_matches_clip_grad_norm_(device, case):
    grads = _float32_grads(10.0 if case == "clips" else 0.01)
    if case == "inf":
        grads[0][1, 2] = INF
    if case == "nan":
        grads[1][3] = NAN
    public, internal = params_of(grads, device), params_of(grads, device)
    with np.errstate(all="ignore"):
        expected_total = optim.clip_grad_norm_(public, 1.0).item()
        total = clip_grads_by_total_norm(internal, 1.0)
    assert device_of(total) == device  # the norm stayed where the gradients are
    assert same_float(float(total), expected_total)
    for p, q in zip(internal, public):
        assert p.grad.device == device and p.grad.dtype == np.float32
        a, b = to_device(p.grad.data, "cpu"), to_device(q.grad.data, "cpu")
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        assert a[~np.isnan(a)].tobytes() == b[~np.isnan(b)].tobytes()  # bitwise apart from NaN payloads


# ---- the Trainer -----------------------------------------------------------------------------------------------------
def _fit(log_every, device="cpu", epochs=2, clip_grad=0.05):
    tg.manual_seed(0)
    data = load_dataset("digits")
    x, y = data.x_train[:256], data.y_train[:256]
    if device != "cpu":
        x, y = to_device(x, device), to_device(y, device)
    model = build_mlp(64, 10, hidden=[16]).to(device)
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-2), progress=False, verbose=False,
                      log_every=log_every, clip_grad=clip_grad)
    history = trainer.fit(DataLoader((x, y), batch_size=32, shuffle=True), None, epochs=epochs)
    return trainer, [{k: v for k, v in r.items() if k != "time"} for r in history]


def _spy_clipping(monkeypatch):
    """Record each clip the trainer makes: (the norm as returned, whether it exceeded max_norm)."""
    calls = []
    real = clip_module.clip_grads_by_total_norm

    def spy(parameters, max_norm, norm_type=2.0):
        total = real(parameters, max_norm, norm_type)
        calls.append(total)
        return total

    monkeypatch.setattr(trainer_module, "clip_grads_by_total_norm", spy)
    return calls


def test_trainer_clipping_is_bitwise_the_previous_per_step_clip_grad_norm(monkeypatch):
    calls = _spy_clipping(monkeypatch)
    new, history = _fit(1)
    assert len(calls) == 16 and sum(float(t) > 0.05 for t in calls) > 8  # it really clipped, most steps
    monkeypatch.setattr(trainer_module, "clip_grads_by_total_norm",
                        lambda parameters, max_norm: clip_grad_norm_before(list(parameters), max_norm))
    old, history_old = _fit(1)
    assert history == history_old  # losses and accuracies bit for bit
    for a, b in zip(new.model.parameters(), old.model.parameters()):
        assert a.numpy().tobytes() == b.numpy().tobytes()
    _, unclipped = _fit(1, clip_grad=None)
    assert unclipped != history  # the clipping changed the run


def test_trainer_clips_every_step_without_reading_the_norm(device, monkeypatch):
    sizes = []
    real_read = readback.read_to_host
    monkeypatch.setattr(trainer_module, "read_to_host", lambda rs: sizes.append(len(rs)) or real_read(rs))

    def forbidden(*args, **kwargs):
        raise AssertionError("the training step read the gradient norm back to the host")

    monkeypatch.setattr(clip_module, "clip_grad_norm_", forbidden)  # its float() is a host read
    monkeypatch.setattr(optim, "clip_grad_norm_", forbidden)
    monkeypatch.setattr(Tensor, "item", forbidden)
    if device != "cpu":  # on a GPU neither the host-side scaling nor a copy of the norm may run
        monkeypatch.setattr(clip_module, "_scale_host_", forbidden)
        monkeypatch.setattr(clip_module, "to_device", forbidden)
    calls = _spy_clipping(monkeypatch)
    trainer, history = _fit(4, device=device)
    assert sizes == [4, 4] * 2  # 8 batches per epoch, read every 4: the clipping added no reads
    assert len(calls) == 16  # one clip per step
    for total in calls:
        assert total.shape == () and device_of(total) == device
        assert (array_module(total) is np) == (device == "cpu")
    assert all(math.isfinite(r["train_loss"]) for r in history) and trainer.step == 16
    if device != "cpu":  # the same run as on the CPU, up to float32 reduction order
        monkeypatch.undo()
        _, cpu = _fit(4)
        for a, b in zip(history, cpu):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
