"""Module and Parameter behaviour: registration, naming, traversal, modes, devices, repr, errors."""
import copy
import pickle

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn

torch = pytest.importorskip("torch")


class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.norm = nn.BatchNorm1d(n)
        self.scale = nn.Parameter(tg.ones(n))

    def forward(self, x):
        return self.norm(self.fc(x)).relu() * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 3)
        self.block = Block(3)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(3, 2, bias=False))
        self.register_buffer("step", tg.Tensor(np.array(0, dtype=np.int64)))
        self.register_buffer("scratch", tg.zeros(2), persistent=False)

    def forward(self, x):
        return self.head(self.block(self.inp(x)))


class TorchBlock(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = torch.nn.Linear(n, n)
        self.norm = torch.nn.BatchNorm1d(n)
        self.scale = torch.nn.Parameter(torch.ones(n))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(4, 3)
        self.block = TorchBlock(3)
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(3, 2, bias=False))
        self.register_buffer("step", torch.tensor(0))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


def test_names_and_order_match_torch():
    net, tnet = Net(), TorchNet()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    assert [tuple(p.shape) for p in net.parameters()] == [tuple(p.shape) for p in tnet.parameters()]
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in tnet.named_buffers()]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in tnet.named_modules()]
    assert [n for n, _ in net.named_children()] == [n for n, _ in tnet.named_children()]
    assert list(net.state_dict()) == list(tnet.state_dict())
    assert "scratch" not in net.state_dict()  # non-persistent buffer


def test_state_dict_holds_numpy_copies_of_parameters_and_buffers():
    net = Net()
    sd = net.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert sd["block.norm.num_batches_tracked"].dtype == np.int64
    sd["inp.weight"][...] = 123.0  # a copy: the model is untouched
    assert not np.any(net.inp.weight.numpy() == 123.0)
    assert net.state_dict(keep_vars=True)["inp.weight"] is net.inp.weight


def test_parameter_is_leaf_tensor_requiring_grad():
    p = nn.Parameter(np.zeros((2, 3)))
    assert isinstance(p, tg.Tensor) and p.is_leaf and p.requires_grad and p.dtype == np.float64
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    t = tg.randn(3)
    assert nn.Parameter(t).data is t.data  # shares storage, as torch.nn.Parameter
    assert not nn.Parameter(tg.randn(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:")
    q = copy.deepcopy(p)
    assert type(q) is nn.Parameter and q.data is not p.data


def test_parameter_refuses_integer_data():
    with pytest.raises(TypeError, match="int64"):
        nn.Parameter(np.arange(3))


def test_attribute_assignment_rules():
    m = nn.Module()
    m.w = nn.Parameter(tg.ones(2))
    m.child = nn.Linear(2, 2)
    m.plain = tg.ones(2)  # a plain tensor is neither a parameter nor a buffer
    assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
    assert list(m.state_dict()) == ["w", "child.weight", "child.bias"]
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = tg.ones(2)
    m.w = None
    assert [n for n, _ in m.named_parameters()] == ["child.weight", "child.bias"]
    m.register_buffer("buf", tg.zeros(1))
    m.buf = tg.ones(1)
    assert m.state_dict()["buf"][0] == 1
    with pytest.raises(TypeError, match="buffer 'buf'"):
        m.buf = 3
    del m.child
    assert "child.weight" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = m.missing
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("plain", tg.zeros(1))
    with pytest.raises(TypeError, match="nn.Parameter"):
        m.register_parameter("q", tg.ones(1))


def test_missing_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as torch


def test_train_eval_propagate():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.head.train(False)
    assert net.training and not net.head[0].training
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad_sets_none():
    net = Net()
    net(tg.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net(tg.randn(5, 4)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())


def test_to_dtype_moves_in_place_and_keeps_identity():
    net = Net()
    weight = net.inp.weight
    net.double()
    assert net.inp.weight is weight and weight.dtype == np.float64
    assert net.block.norm.running_mean.dtype == np.float64
    assert net.block.norm.num_batches_tracked.dtype == np.int64  # integer buffers stay integer
    net.to("float32")
    assert weight.dtype == np.float32
    assert net.to("cpu") is net


def test_to_device_moves_parameters_and_buffers(device):
    net = Net().to(device)
    assert all(p.device == device for p in net.parameters())
    assert all(b.device == device for b in net.buffers())
    out = net(tg.randn(5, 4).to(device))
    assert out.device == device
    sd = net.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())  # host copies, ready to save
    net.to("cpu")
    assert net.inp.weight.device == "cpu"


def test_sequential_indexing_and_iteration():
    layers = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    x = tg.randn(5, 3)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())


def test_repr_matches_torch():
    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.BatchNorm1d(256),
                        nn.Linear(256, 10, bias=False), nn.Flatten(), nn.Sigmoid(), nn.Tanh())
    tnet = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.BatchNorm1d(256), torch.nn.Linear(256, 10, bias=False),
                               torch.nn.Flatten(), torch.nn.Sigmoid(), torch.nn.Tanh())
    assert repr(net) == repr(tnet)
    assert repr(Net()).count("\n") == repr(TorchNet()).count("\n")
    assert repr(nn.CrossEntropyLoss()) == repr(torch.nn.CrossEntropyLoss())


def test_forward_hooks():
    layer = nn.Linear(2, 2)
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, args: calls.append("pre") or (args[0] * 0,))
    post = layer.register_forward_hook(lambda m, args, out: calls.append("post"))
    out = layer(tg.ones(1, 2))
    np.testing.assert_allclose(out.numpy()[0], layer.bias.numpy())  # the pre-hook zeroed the input
    assert calls == ["pre", "post"]
    pre.remove()
    post.remove()
    layer(tg.ones(1, 2))
    assert calls == ["pre", "post"]


def test_module_pickles_and_deep_copies():
    net = Net()
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        for key, value in net.state_dict().items():
            np.testing.assert_array_equal(clone.state_dict()[key], value)
        assert isinstance(clone.inp.weight, nn.Parameter)


def test_forward_not_implemented():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(tg.ones(1))


def test_nn_import_does_not_import_optim_and_utils_reexports_clipping():
    import subprocess
    import sys

    code = "import sys, tinygrad_opt.nn; print('tinygrad_opt.optim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    optim = pytest.importorskip("tinygrad_opt.optim")
    if not hasattr(optim, "clip_grad_norm_"):
        pytest.skip("optim.clip_grad_norm_ not there yet")
    assert nn.utils.clip_grad_norm_ is optim.clip_grad_norm_
    from tinygrad_opt.nn.utils import clip_grad_norm_  # noqa: F401
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nn.utils.nope
