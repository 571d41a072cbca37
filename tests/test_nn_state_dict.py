"""A real PyTorch model's weights load strictly and give PyTorch's outputs; load errors are clear."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn

torch = pytest.importorskip("torch")


def build_pair(seed=0):
    torch.manual_seed(seed)
    tmodel = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():  # non-trivial BatchNorm parameters and running stats
        tmodel[1].weight.uniform_(0.5, 1.5)
        tmodel[1].bias.uniform_(-0.5, 0.5)
        tmodel[1].running_mean.uniform_(-1, 1)
        tmodel[1].running_var.uniform_(0.5, 2)
        tmodel[1].num_batches_tracked.fill_(5)
    return model, tmodel


def numpy_state(tmodel):
    return {k: v.detach().numpy() for k, v in tmodel.state_dict().items()}


def test_torch_state_dict_loads_strictly_and_matches_outputs():
    model, tmodel = build_pair()
    result = model.load_state_dict(numpy_state(tmodel))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert model[1].num_batches_tracked.dtype == np.int64 and model[1].num_batches_tracked.item() == 5
    assert model[0].weight.dtype == np.float32
    rng = np.random.default_rng(0)

    # train mode: batch statistics, and the running stats move identically
    for step in range(4):
        x = rng.standard_normal((16, 6)).astype(np.float32)
        out, tout = model(tg.Tensor(x)), tmodel(torch.tensor(x))
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    for key, value in tmodel.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    assert model[1].num_batches_tracked.item() == 9

    # eval mode: running statistics
    model.eval()
    tmodel.eval()
    x = rng.standard_normal((7, 6)).astype(np.float32)
    np.testing.assert_allclose(model(tg.Tensor(x)).numpy(), tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert model[1].num_batches_tracked.item() == 9  # eval does not count batches


def test_gradients_match_torch_after_loading():
    model, tmodel = build_pair(1)
    model.load_state_dict(numpy_state(tmodel))
    x = np.random.default_rng(1).standard_normal((10, 6)).astype(np.float32)
    y = np.arange(10) % 3
    nn.CrossEntropyLoss()(model(tg.Tensor(x)), y).backward()
    torch.nn.CrossEntropyLoss()(tmodel(torch.tensor(x)), torch.tensor(y)).backward()
    for (name, p), (tname, tp) in zip(model.named_parameters(), tmodel.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_loads_tensors_and_torch_tensors_and_round_trips():
    model, tmodel = build_pair(2)
    model.load_state_dict(tmodel.state_dict())  # torch tensors directly
    other = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    other.load_state_dict({k: tg.Tensor(v) for k, v in model.state_dict().items()})
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)
    tmodel2 = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    tmodel2.load_state_dict({k: torch.from_numpy(v) for k, v in other.state_dict().items()})  # and back to torch


def test_load_keeps_parameter_identity_dtype_and_copies():
    model, tmodel = build_pair()
    weight = model[0].weight
    state = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in numpy_state(tmodel).items()}
    model.load_state_dict(state)
    assert model[0].weight is weight and weight.dtype == np.float32  # copied in place, cast
    state["0.weight"][...] = 0
    assert np.any(weight.numpy() != 0)  # no aliasing of the caller's arrays


def test_missing_and_unexpected_keys_are_named():
    model, tmodel = build_pair()
    state = numpy_state(tmodel)
    del state["1.running_var"]
    state["4.weight"] = np.zeros((3, 3), np.float32)
    before = model.state_dict()
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert 'Missing key(s) in state_dict: "1.running_var"' in message
    assert 'Unexpected key(s) in state_dict: "4.weight"' in message
    for key, value in before.items():  # nothing was half-loaded
        np.testing.assert_array_equal(model.state_dict()[key], value)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["1.running_var"] and result.unexpected_keys == ["4.weight"]
    np.testing.assert_array_equal(model[0].weight.numpy(), state["0.weight"])


def test_shape_mismatch_names_key_and_both_shapes_even_when_not_strict():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    state = model.state_dict()
    state["2.weight"] = np.zeros((4, 8), np.float32)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for 2\.weight.*\(4, 8\).*\(3, 8\)"):
            model.load_state_dict(state, strict=strict)


def test_checkpoint_from_a_different_architecture_is_refused():
    small = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    big = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    with pytest.raises(RuntimeError) as info:
        big.load_state_dict(small.state_dict())
    message = str(info.value)
    assert "0.weight" in message and "(128, 784)" in message and "(256, 784)" in message
    assert "2.weight" in message and "0.bias" in message


def test_load_state_dict_rejects_non_mappings():
    with pytest.raises(TypeError, match="mapping"):
        nn.Linear(2, 2).load_state_dict([1, 2])


def test_bce_pos_weight_buffer_in_state_dict_like_torch():
    loss = nn.BCEWithLogitsLoss(pos_weight=tg.Tensor([2.0, 3.0]))
    tloss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0, 3.0]))
    assert list(loss.state_dict()) == list(tloss.state_dict()) == ["pos_weight"]
    assert list(nn.BCEWithLogitsLoss().state_dict()) == list(torch.nn.BCEWithLogitsLoss().state_dict())
