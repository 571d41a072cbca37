"""Library errors that give advice name settings by their Python names; the CLI names the same settings as flags."""
import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import nn, optim
from tinygrad_opt.cli.config import with_flags
from tinygrad_opt.train import Trainer
from tinygrad_opt.train.checkpoint import load_model_state
from tinygrad_opt.train.errors import ArchitectureMismatchError, CheckpointError, NonFiniteLossError


def diverging_trainer():
    model = nn.Sequential(nn.Linear(2, 1))
    return Trainer(model, optim.SGD(model.parameters(), lr=1e30), nn.MSELoss(), log_every=1)


def test_a_non_finite_loss_names_lr_and_clip_grad_in_python_and_their_flags_in_the_cli():
    x = np.ones((8, 2), np.float32) * 1e20
    y = np.ones((8, 1), np.float32)
    with pytest.raises(NonFiniteLossError) as caught:
        diverging_trainer().fit([(x, y)] * 4, epochs=3)
    message = str(caught.value)
    assert "(lr)" in message and "(clip_grad)" in message and "--" not in message
    cli = with_flags(caught.value)
    assert "(--lr)" in cli and "(--clip-grad)" in cli and "another --schedule" in cli
    assert cli.split(". Try")[0] == message.split(". Try")[0]  # the facts are the same


def test_an_architecture_mismatch_names_out_in_python_and_the_flag_in_the_cli():
    saved = nn.Linear(3, 2).state_dict()
    with pytest.raises(ArchitectureMismatchError) as caught:
        load_model_state(nn.Linear(4, 2), saved, "checkpoint c.ckpt")
    assert "output folder, out)" in str(caught.value) and "--" not in str(caught.value)
    assert "output folder, --out)" in with_flags(caught.value)


def test_a_checkpoint_without_a_schedule_names_the_schedule_setting():
    model = nn.Sequential(nn.Linear(2, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    with_schedule = Trainer(model, opt, nn.MSELoss(), scheduler=optim.lr_scheduler.StepLR(opt, 1))
    state = Trainer(model, opt, nn.MSELoss()).state_dict()
    with pytest.raises(CheckpointError) as caught:
        with_schedule.load_state_dict(state)
    assert str(caught.value).endswith("resume with the same schedule")
    assert with_flags(caught.value).endswith("resume with the same --schedule")
