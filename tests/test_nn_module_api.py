"""Module's traversal, freezing, hooks and state_dict loading next to torch.nn.Module's."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn

torch = pytest.importorskip("torch")


def build(lib):
    """The same small model in either library: nested containers, buffers, embeddings, norms."""
    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.embed = lib.Embedding(10, 4, padding_idx=0)
            self.blocks = lib.ModuleList([lib.Sequential(lib.Linear(4, 4), lib.GELU()) for _ in range(2)])
            self.heads = lib.ModuleDict({"norm": lib.LayerNorm(4), "bn": lib.BatchNorm1d(4)})
            self.out = lib.Linear(4, 3)

        def forward(self, index):
            h = self.embed(index).mean(axis=1) if lib is nn else self.embed(index).mean(dim=1)
            for block in self.blocks:
                h = block(h)
            return self.out(self.heads["bn"](self.heads["norm"](h)))

    return Net()


def test_traversal_names_and_order_match_torch():
    model, tmodel = build(nn), build(torch.nn)
    assert [n for n, _ in model.named_modules()] == [n for n, _ in tmodel.named_modules()]
    assert [type(m).__name__ for m in model.modules()] == [type(m).__name__ for m in tmodel.modules()]
    assert [type(m).__name__ for m in model.children()] == [type(m).__name__ for m in tmodel.children()]
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert [n for n, _ in model.named_buffers()] == [n for n, _ in tmodel.named_buffers()]
    assert len(list(model.buffers())) == len(list(tmodel.buffers())) == 3
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert model.get_submodule("blocks.1.0") is model.blocks[1][0]
    assert model.get_parameter("heads.norm.weight") is model.heads["norm"].weight
    assert model.get_buffer("heads.bn.running_mean") is model.heads["bn"].running_mean
    with pytest.raises(AttributeError, match="no submodule `missing`"):
        model.get_submodule("blocks.missing")


def test_torch_state_dict_loads_and_outputs_match():
    model, tmodel = build(nn), build(torch.nn)
    result = model.load_state_dict(tmodel.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    model.eval()
    tmodel.eval()
    index = np.array([[1, 2, 0], [5, 9, 9]])
    out, tout = model(tg.Tensor(index)), tmodel(torch.from_numpy(index))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_apply_visits_children_first_like_torch():
    seen, tseen = [], []
    build(nn).apply(lambda m: seen.append(type(m).__name__))
    build(torch.nn).apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen


def test_apply_initialises_weights():
    model = build(nn)

    def init(module):
        if isinstance(module, nn.Linear):
            nn.init.constant_(module.weight, 0.5)

    assert model.apply(init) is model
    assert all(np.all(m.weight.numpy() == 0.5) for m in model.modules() if isinstance(m, nn.Linear))


def test_requires_grad_freezes_and_zero_grad_sets_none():
    model = build(nn)
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    model.blocks.requires_grad_()
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "blocks.0.0.weight", "blocks.0.0.bias", "blocks.1.0.weight", "blocks.1.0.bias"]
    model.train()
    model(tg.Tensor(np.array([[1, 2], [3, 4]]))).sum().backward()
    assert model.blocks[0][0].weight.grad is not None and model.out.weight.grad is None
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(TypeError, match="must be a bool"):
        model.requires_grad_("yes")


def test_non_strict_load_reports_the_same_keys_as_torch():
    source = {"0.weight": np.ones((2, 3), dtype=np.float32), "extra.bias": np.zeros(2, dtype=np.float32)}
    model = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    result = model.load_state_dict(source, strict=False)
    tresult = tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in source.items()}, strict=False)
    assert result == (tresult.missing_keys, tresult.unexpected_keys)
    assert result.missing_keys == ["0.bias", "1.weight", "1.bias"] and result.unexpected_keys == ["extra.bias"]
    assert np.all(model[0].weight.numpy() == 1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0.bias", "1.weight", "1.bias"'
                                           r'.*\n.*Unexpected key\(s\) in state_dict: "extra.bias"'):
        model.load_state_dict(source)


def test_forward_hooks_with_kwargs_prepend_and_removal():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    layer, calls = Scale(), []
    layer.register_forward_pre_hook(lambda m, args: calls.append("pre"))
    first = layer.register_forward_pre_hook(lambda m, args, kwargs: (args, {"factor": 3.0}), prepend=True,
                                            with_kwargs=True)
    layer.register_forward_hook(lambda m, args, kwargs, out: out + kwargs.get("factor", 0.0), with_kwargs=True)
    handle = layer.register_forward_hook(lambda m, args, out: calls.append("post"))
    assert list(layer._forward_pre_hooks) == [first.id, first.id - 1]
    out = layer(tg.Tensor([1.0]), factor=2.0)
    assert out.item() == 6.0 and calls == ["pre", "post"]  # 1 * 3 (pre-hook's kwargs) + 3
    handle.remove()
    first.remove()
    assert layer(tg.Tensor([1.0]), factor=2.0).item() == 4.0 and calls == ["pre", "post", "pre"]
    with layer.register_forward_hook(lambda m, args, out: out * 0.0):
        assert layer(tg.Tensor([1.0])).item() == 0.0
    assert layer(tg.Tensor([1.0])).item() == 1.0  # the with-block removed its hook


def test_load_state_dict_assign_takes_the_arrays_themselves():
    layer = nn.Linear(2, 2)
    weight = np.arange(4.0).reshape(2, 2)  # float64, unlike the float32 layer
    layer.load_state_dict({"weight": weight, "bias": np.zeros(2)}, assign=True)
    assert layer.weight.data is weight and layer.weight.dtype == np.float64 and layer.weight.requires_grad
    copy = nn.Linear(2, 2)
    copy.load_state_dict({"weight": weight, "bias": np.zeros(2)})
    assert copy.weight.data is not weight and copy.weight.dtype == np.float32
