"""The nn layers added for PyTorch parity next to torch 2.13: parameters, init, values, gradients, errors."""
import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from tinygrad_opt.errors import ShapeError

torch = pytest.importorskip("torch")
TF = torch.nn.functional

ACTIVATIONS = [
    ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {}), ("ELU", (0.5,), {}), ("SELU", (), {}),
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("SiLU", (), {}), ("Mish", (), {}),
    ("Softplus", (), {}), ("Softplus", (2.0, 1.0), {}), ("Hardtanh", (), {}), ("Hardtanh", (-2.0, 0.5), {}),
    ("ReLU6", (), {}), ("LogSigmoid", (), {}), ("Softmax", (1,), {}), ("LogSoftmax", (0,), {}),
    ("Softmax", (-1,), {}), ("Identity", (), {}),
]


def pair(array, requires_grad=True, dtype=np.float64):
    array = np.asarray(array, dtype=dtype)
    return tg.Tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad)


def backward_both(out, tout, seed=0):
    g = np.random.default_rng(seed).standard_normal(tuple(tout.shape)).astype(out.dtype)
    out.backward(g)
    tout.backward(torch.from_numpy(g))


def close(ours, theirs, **tol):
    tol = tol or dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **tol)


@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_modules_match_torch(name, args, kwargs, dtype):
    data = np.random.default_rng(1).standard_normal((3, 4, 2)) * 4
    data[0, 0, 0], data[0, 0, 1] = 0.0, 6.0  # kinks: torch's choice of gradient there
    data[0, 1, 0], data[0, 1, 1] = -1.0, 1.0
    x, tx = pair(data, dtype=dtype)
    layer, tlayer = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    out, tout = layer(x), tlayer(tx)
    tol = {} if dtype == np.float64 else dict(rtol=2e-6, atol=1e-6)
    close(out, tout, **tol)
    assert out.dtype == dtype
    backward_both(out, tout)
    close(x.grad, tx.grad, **tol)
    assert repr(layer) == repr(tlayer)


@pytest.mark.parametrize("name", ["gelu", "silu", "mish", "softplus", "logsigmoid", "elu", "selu"])
def test_smooth_activations_are_finite_at_extremes(name):
    """No overflow: huge and tiny inputs give torch's finite values and gradients."""
    data = np.array([-1000.0, -80.0, -20.0, 20.0, 80.0, 1000.0])
    for dtype in (np.float64, np.float32):
        x, tx = pair(data, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NumPy overflow warnings either
            out = getattr(F, name)(x)
            out.sum().backward()
        tout = getattr(TF, name)(tx)
        tout.sum().backward()
        close(out, tout, rtol=1e-6, atol=1e-30)
        close(x.grad, tx.grad, rtol=1e-6, atol=1e-30)


def test_activation_errors():
    with pytest.raises(ValueError, match="approximate='exact'"):
        nn.GELU("exact")
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(tg.randn(2), approximate="fast")
    with pytest.raises(TypeError, match="gelu: input must be a floating-point tensor, got int64"):
        F.gelu(tg.Tensor([1, 2]))
    with pytest.raises(ValueError, match=r"max_val \(1.0\) must be greater than min_val \(2.0\)"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        F.leaky_relu(tg.randn(2), "0.1")
    np.testing.assert_array_equal(F.relu6(tg.Tensor([-3, 2, 9])).numpy(), [0, 2, 6])  # integers, as torch


def test_softmax_without_dim_follows_torch_legacy_rule():
    x = np.random.default_rng(0).standard_normal((2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = nn.Softmax()(tg.Tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.nn.Softmax()(torch.tensor(x))
    close(out, expected)


# ---- LayerNorm -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,normalized,affine,bias", [
    ((4, 5), 5, True, True), ((2, 3, 4), (3, 4), True, False), ((3, 4), [4], False, True), ((6,), 6, True, True),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm_matches_torch(shape, normalized, affine, bias, dtype):
    layer = nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias, dtype=dtype)
    tlayer = torch.nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias,
                                dtype=torch.float64 if dtype == np.float64 else torch.float32)
    theirs = [(k, tuple(v.shape)) for k, v in tlayer.state_dict().items()]
    assert [(k, v.shape) for k, v in layer.state_dict().items()] == theirs
    rng = np.random.default_rng(3)
    if affine:  # non-trivial affine parameters, loaded from torch
        with torch.no_grad():
            for p in tlayer.parameters():
                p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
        assert layer.load_state_dict(tlayer.state_dict()) == ([], [])
    x, tx = pair(rng.standard_normal(shape) * 3 + 1, dtype=dtype)
    out, tout = layer(x), tlayer(tx)
    tol = {} if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    close(out, tout, **tol)
    backward_both(out, tout)
    close(x.grad, tx.grad, **tol)
    for p, tp in zip(layer.parameters(), tlayer.parameters()):
        close(p.grad, tp.grad, **tol)
        assert p.grad.dtype == dtype
    assert repr(layer) == repr(tlayer)


def test_layer_norm_defaults_and_errors():
    layer = nn.LayerNorm(3)
    assert layer.weight.dtype == np.float32 and np.all(layer.weight.numpy() == 1) and np.all(layer.bias.numpy() == 0)
    assert layer.normalized_shape == (3,) and layer.eps == 1e-5
    with pytest.raises(ShapeError, match=r"normalized_shape=\[3\] expects an input of shape \(\*, 3\), got \(2, 4\)"):
        layer(tg.randn(2, 4))
    with pytest.raises(ValueError, match="normalized_shape must be a positive int"):
        nn.LayerNorm(0)
    with pytest.raises(TypeError, match="layer_norm: input must be a floating-point tensor"):
        F.layer_norm(tg.Tensor([[1, 2, 3]]), 3)


# ---- Embedding -------------------------------------------------------------------------
def test_embedding_init_and_parameters_like_torch():
    tg.manual_seed(0)
    emb = nn.Embedding(1000, 16, padding_idx=-1)
    temb = torch.nn.Embedding(1000, 16, padding_idx=-1)
    assert emb.padding_idx == temb.padding_idx == 999
    assert emb.weight.shape == tuple(temb.weight.shape) and list(emb.state_dict()) == list(temb.state_dict())
    w = emb.weight.numpy()
    assert np.all(w[999] == 0)
    assert abs(w[:999].mean()) < 0.02 and abs(w[:999].std() - 1.0) < 0.02  # N(0, 1) as torch
    assert repr(emb) == repr(temb)


@pytest.mark.parametrize("options", [
    {}, {"padding_idx": 2}, {"scale_grad_by_freq": True}, {"padding_idx": 0, "scale_grad_by_freq": True},
    {"max_norm": 1.0}, {"max_norm": 0.5, "norm_type": 1.0},
])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_embedding_matches_torch(options, index_dtype):
    rng = np.random.default_rng(4)
    weight = rng.standard_normal((7, 3))
    index = rng.integers(0, 7, (4, 5)).astype(index_dtype)
    index[0, :3] = 2
    index[1, 0] = 0
    w, tw = pair(weight)
    out = F.embedding(tg.Tensor(index), w, **options)
    tout = TF.embedding(torch.from_numpy(index), tw, **options)
    close(out, tout)
    assert out.shape == (4, 5, 3)
    backward_both(out, tout)
    close(w.grad, tw.grad)
    close(w, tw)  # max_norm renormalises the looked-up rows in place, as torch
    if "padding_idx" in options:
        assert np.all(w.grad.numpy()[options["padding_idx"]] == 0)


def test_embedding_module_trains_and_loads_torch_weights():
    temb = torch.nn.Embedding(5, 2, padding_idx=1)
    emb = nn.Embedding(5, 2, padding_idx=1)
    emb.load_state_dict(temb.state_dict())
    index = np.array([[1, 2], [4, 1]])
    out, tout = emb(tg.Tensor(index)), temb(torch.from_numpy(index))
    close(out, tout, rtol=1e-6, atol=0)
    frozen = nn.Embedding.from_pretrained(tg.Tensor(np.eye(3)))
    assert not frozen.weight.requires_grad and frozen(tg.Tensor([2])).numpy().tolist() == [[0, 0, 1]]
    assert nn.Embedding.from_pretrained(tg.Tensor(np.eye(3)), freeze=False).weight.requires_grad


def test_embedding_errors():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match=r"index 4 is out of range for 4 embeddings"):
        emb(tg.Tensor([0, 4]))
    with pytest.raises(IndexError, match=r"index -1 is out of range"):
        emb(tg.Tensor([-1]))
    with pytest.raises(TypeError, match="indices must be an integer tensor.*float32"):
        emb(tg.Tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx=4 must be within num_embeddings=4"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match="sparse=True is not supported"):
        nn.Embedding(4, 2, sparse=True)


# ---- one_hot ---------------------------------------------------------------------------
def test_one_hot_matches_torch():
    values = np.array([[0, 2], [1, 2]])
    for classes in (-1, 5):
        out = F.one_hot(tg.Tensor(values), classes)
        expected = TF.one_hot(torch.from_numpy(values), classes)
        assert out.dtype == np.int64 and out.shape == tuple(expected.shape)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert F.one_hot(tg.Tensor(np.zeros(0, dtype=np.int64)), 3).shape == (0, 3)


@pytest.mark.parametrize("values,classes,error,match", [
    (np.array([0, -1]), -1, ValueError, "non-negative, got -1"),
    (np.array([0, 3]), 3, ValueError, "smaller than num_classes=3, got 3"),
    (np.array([0, 1], dtype=np.int32), -1, TypeError, "int64 index tensors, got int32"),
    (np.zeros(0, dtype=np.int64), -1, ValueError, "empty tensor"),
])
def test_one_hot_errors(values, classes, error, match):
    with pytest.raises(error, match=match):
        F.one_hot(tg.Tensor(values), classes)


# ---- containers --------------------------------------------------------------------------
def test_module_list_like_torch():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    tlayers = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.ReLU()])
    layers.append(nn.Linear(2, 1))
    tlayers.append(torch.nn.Linear(2, 1))
    layers.insert(1, nn.Tanh())
    tlayers.insert(1, torch.nn.Tanh())
    assert [n for n, _ in layers.named_parameters()] == [n for n, _ in tlayers.named_parameters()]
    del layers[0]
    del tlayers[0]
    assert list(layers.state_dict()) == list(tlayers.state_dict())
    assert len(layers) == 3 and isinstance(layers[-1], nn.Linear) and isinstance(layers[1:], nn.ModuleList)
    layers.extend([nn.Sigmoid()])
    layers[0] = nn.ReLU()
    assert [type(m).__name__ for m in layers] == ["ReLU", "ReLU", "Linear", "Sigmoid"]
    with pytest.raises(IndexError, match="index 4 is out of range for 4 modules"):
        layers[4]
    with pytest.raises(TypeError, match="iterable of modules"):
        layers.extend(nn.ReLU())


def test_module_dict_like_torch():
    blocks = nn.ModuleDict({"enc": nn.Linear(3, 2), "act": nn.ReLU()})
    tblocks = torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 2), "act": torch.nn.ReLU()})
    blocks["dec"] = nn.Linear(2, 3)
    tblocks["dec"] = torch.nn.Linear(2, 3)
    assert list(blocks.state_dict()) == list(tblocks.state_dict())
    assert list(blocks) == list(tblocks) == ["enc", "act", "dec"] and "enc" in blocks
    assert isinstance(blocks.pop("act"), nn.ReLU) and list(blocks.keys()) == ["enc", "dec"]
    blocks.update([("out", nn.Identity())])
    assert len(blocks) == 3
    with pytest.raises(KeyError, match="no module named 'missing'"):
        blocks["missing"]


def test_unflatten_and_identity_like_torch():
    x, tx = pair(np.arange(24.0).reshape(2, 12))
    for dim, sizes in [(1, (3, 4)), (-1, (2, -1, 3)), (0, (1, 2))]:
        out, tout = nn.Unflatten(dim, sizes)(x), torch.nn.Unflatten(dim, sizes)(tx)
        assert out.shape == tuple(tout.shape)
        close(out, tout)
    assert repr(nn.Unflatten(1, (3, 4))) == repr(torch.nn.Unflatten(1, (3, 4)))
    with pytest.raises(ShapeError, match=r"sizes \(5, 2\) do not multiply to the size 12"):
        nn.Unflatten(1, (5, 2))(x)
    ident = nn.Identity(54, unused="argument")
    assert ident(x) is x and list(ident.parameters()) == []


# ---- the erf kernel behind GELU ------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_erf_kernel_matches_math_erf_and_torch(dtype):
    from tinygrad_opt.kernels import get, reference

    x = np.concatenate([np.linspace(-6, 6, 1001), [0.0, -0.0, 1e-300, 30.0, -30.0, np.inf, -np.inf, np.nan]])
    x = x.astype(dtype)
    fast = get("erf", x)(x)
    exact = reference.erf(x)
    assert fast.dtype == exact.dtype == dtype and fast.shape == x.shape
    rtol = 4e-7 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(fast, exact, rtol=rtol, atol=0)
    np.testing.assert_allclose(exact, torch.erf(torch.from_numpy(x)).numpy(), rtol=rtol)
    strided = x[::3]  # not contiguous: the registry runs the reference
    np.testing.assert_array_equal(get("erf", strided)(strided), reference.erf(strided))
    assert get("erf", np.ones((), dtype))(np.ones((), dtype)).shape == ()


def test_container_and_loss_reprs_match_torch():
    pairs = [
        (nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Sequential(nn.Tanh(), nn.Tanh())]),
         torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.ReLU(),
                              torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Tanh())])),
        (nn.ModuleList(), torch.nn.ModuleList()),
        (nn.ModuleDict({"a": nn.ReLU()}), torch.nn.ModuleDict({"a": torch.nn.ReLU()})),
        (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum")),
        (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean")),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
