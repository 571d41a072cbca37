"""Learning-rate schedules next to torch.optim.lr_scheduler: the same rates, step by step."""
import math
import pickle

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import optim
from tinygrad_opt.optim import lr_scheduler

torch = pytest.importorskip("torch")
tsched = torch.optim.lr_scheduler
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`",
                                        "ignore:lr_scheduler.step\\(\\) was called before")

LRS = (0.1, 0.02)  # two param groups with different rates


def make_pair(opt_name="SGD", **options):
    """Our optimizer and torch's over two param groups with learning rates LRS."""
    ours = [tg.Tensor(np.zeros(2), requires_grad=True) for _ in LRS]
    theirs = [torch.zeros(2, requires_grad=True) for _ in LRS]
    opt = getattr(optim, opt_name)([{"params": [p], "lr": lr} for p, lr in zip(ours, LRS)], **options)
    topt = getattr(torch.optim, opt_name)([{"params": [p], "lr": lr} for p, lr in zip(theirs, LRS)], **options)
    return opt, topt


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def assert_same_sequence(build, steps=60, opt_name="SGD", check_momentum=False, **options):
    """`build(module, optimizer)` makes the scheduler; compare every rate after each step, exactly."""
    opt, topt = make_pair(opt_name, **options)
    ours, theirs = build(lr_scheduler, opt), build(tsched, topt)
    history = []
    for step in range(steps + 1):
        if step:
            opt.step()
            topt.step()
            ours.step()
            theirs.step()
        assert ours.get_last_lr() == theirs.get_last_lr(), f"step {step}"
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups], f"step {step}"
        if check_momentum:
            assert momenta(opt) == momenta(topt), f"step {step}"
        history.append(ours.get_last_lr())
    return history


SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[5, 12, 12, 40], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.93),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=20),
    "CosineAnnealingLR-eta_min": lambda m, o: m.CosineAnnealingLR(o, T_max=13, eta_min=0.001),
    "LinearLR": lambda m, o: m.LinearLR(o),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=30),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=8),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (1 + 0.1 * e)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, lr_lambda=[lambda e: 0.95**e, lambda e: min(1.0, (e + 1) / 10)]),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=60),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], epochs=6, steps_per_epoch=10,
                                                         anneal_strategy="linear", three_phase=True, pct_start=0.25),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=30)], milestones=[5]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=10), m.ExponentialLR(o, gamma=0.9), m.StepLR(o, 4, gamma=0.5)],
        milestones=[3, 20]),
    "SequentialLR-lambda-warmup": lambda m, o: m.SequentialLR(
        o, [m.LambdaLR(o, lambda e: (e + 1) / 8), m.MultiStepLR(o, [10, 25])], milestones=[8]),
}

SCHEDULES.update({
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.97 if e % 3 else 1.01),
    "MultiplicativeLR-per-group": lambda m, o: m.MultiplicativeLR(o, lr_lambda=[lambda e: 0.9, lambda e: 0.99]),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=40, power=2.0),
    "PolynomialLR-linear": lambda m, o: m.PolynomialLR(o, total_iters=10),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=4),
                                                         m.ExponentialLR(o, gamma=0.9)]),
    "ChainedScheduler-three": lambda m, o: m.ChainedScheduler([m.LinearLR(o, start_factor=0.2, total_iters=6),
                                                               m.StepLR(o, step_size=9, gamma=0.5),
                                                               m.MultiplicativeLR(o, lambda e: 0.995)], o),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7),
    "CosineAnnealingWarmRestarts-T_mult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                                     eta_min=0.001),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.001], max_lr=[0.1, 0.05], step_size_up=4,
                                                    step_size_down=7, mode="triangular2"),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=6, mode="exp_range",
                                                  gamma=0.97),
    "CyclicLR-scale_fn-iterations": lambda m, o: m.CyclicLR(o, 0.01, 0.2, step_size_up=3, scale_fn=lambda x: 0.99**x,
                                                            scale_mode="iterations", cycle_momentum=False),
    "CyclicLR-scale_fn-cycle": lambda m, o: m.CyclicLR(o, 0.01, 0.2, step_size_up=3, scale_fn=lambda c: 1 / c),
})
CYCLIC = [name for name in SCHEDULES if name.startswith("CyclicLR")]


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_same_rates_as_torch(name):
    history = assert_same_sequence(SCHEDULES[name])
    assert len({tuple(h) for h in history}) > 1  # the schedule did change the rate


def test_cosine_annealing_rises_again_past_T_max():
    history = assert_same_sequence(lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001), steps=45)
    lr = [h[0] for h in history]
    assert lr[10] == pytest.approx(0.001) and lr[20] == pytest.approx(0.1) and lr[30] == pytest.approx(0.001)
    assert lr[15] > lr[10]


@pytest.mark.parametrize("opt_name,options", [("SGD", dict(momentum=0.9)), ("Adam", {}), ("AdamW", {}),
                                              ("RMSprop", dict(momentum=0.5))])
@pytest.mark.parametrize("name", ["OneCycleLR", "OneCycleLR-linear-3phase"])
def test_one_cycle_cycles_momentum_or_beta1_like_torch(name, opt_name, options):
    assert_same_sequence(SCHEDULES[name], opt_name=opt_name, check_momentum=True, **options)


@pytest.mark.parametrize("opt_name,options", [("SGD", dict(momentum=0.9)), ("Adam", {}), ("NAdam", {}),
                                              ("RMSprop", dict(momentum=0.5))])
@pytest.mark.parametrize("name", [n for n in CYCLIC if "iterations" not in n])
def test_cyclic_lr_cycles_momentum_or_beta1_like_torch(name, opt_name, options):
    assert_same_sequence(SCHEDULES[name], opt_name=opt_name, check_momentum=True, **options)


def test_cosine_warm_restarts_with_a_fractional_epoch_like_torch():
    opt, topt = make_pair()
    ours = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2)
    theirs = tsched.CosineAnnealingWarmRestarts(topt, T_0=4, T_mult=2)
    for epoch in [0.5, 1.25, 3.9, 4.0, 7.5, 13.2, 2.0]:
        ours.step(epoch)
        theirs.step(epoch)
        assert ours.get_last_lr() == theirs.get_last_lr() and ours.last_epoch == theirs.last_epoch
    with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
        ours.step(-1)


def test_one_cycle_sets_momentum_on_sgd_without_momentum_and_trains_like_torch():
    opt, topt = make_pair("SGD")
    ours = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=20, base_momentum=0.8, max_momentum=0.9)
    theirs = tsched.OneCycleLR(topt, max_lr=0.5, total_steps=20, base_momentum=0.8, max_momentum=0.9)
    assert momenta(opt) == momenta(topt) == [0.9, 0.9]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.02, 0.02]
    assert [g["min_lr"] for g in opt.param_groups] == [g["min_lr"] for g in topt.param_groups]
    ours.step(), theirs.step()
    assert momenta(opt) == momenta(topt)


def test_one_cycle_without_cycle_momentum_leaves_momentum_alone():
    history = assert_same_sequence(lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=60, cycle_momentum=False),
                                   opt_name="Adagrad")
    assert history[-1][0] < history[0][0]


def test_one_cycle_errors_when_stepped_past_total_steps():
    opt, topt = make_pair()
    ours = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    theirs = tsched.OneCycleLR(topt, max_lr=1.0, total_steps=10)
    for _ in range(10):
        ours.step()
        theirs.step()
    with pytest.raises(ValueError):
        theirs.step()
    with pytest.raises(ValueError, match="stepped 11 times, but total_steps is 10"):
        ours.step()


def _plateau_metrics():
    """Falls, then plateaus with relative gains below 1e-4 (not improvements), then one real drop."""
    values = [1.0 / (1 + t) for t in range(8)]
    base = values[-1]
    values += [base * (1 - 5e-5 * k) for k in range(1, 25)]  # tiny relative gains: bad epochs
    values += [base * 0.5] + [base * 0.6] * 26
    return values


@pytest.mark.parametrize("options", [
    dict(patience=2, factor=0.5, cooldown=3, min_lr=[0.01, 0.005]),
    dict(patience=0, factor=0.1, min_lr=0.003),
    dict(patience=3, threshold=1e-6, cooldown=1),
    dict(patience=2, threshold_mode="abs", threshold=0.01, factor=0.7),
    dict(mode="max", patience=1, factor=0.5, cooldown=2, min_lr=1e-3),
    dict(mode="max", threshold_mode="abs", threshold=0.001, patience=4, eps=1e-2),
])
def test_reduce_on_plateau_matches_torch(options):
    opt, topt = make_pair()
    ours = lr_scheduler.ReduceLROnPlateau(opt, **options)
    theirs = tsched.ReduceLROnPlateau(topt, **options)
    metrics = _plateau_metrics()
    if options.get("mode") == "max":
        metrics = [-m for m in metrics]
    changes = 0
    for step, metric in enumerate(metrics):
        before = ours.get_last_lr()
        ours.step(metric)
        theirs.step(metric)
        changes += ours.get_last_lr() != before
        assert ours.get_last_lr() == theirs.get_last_lr(), f"step {step}"
        assert (ours.num_bad_epochs, ours.cooldown_counter, ours.best) == (
            theirs.num_bad_epochs, theirs.cooldown_counter, theirs.best), f"step {step}"
    assert changes > 0


def test_reduce_on_plateau_relative_threshold_edge():
    """A gain of 5e-5 relative is not an improvement at threshold 1e-4; 2e-4 is."""
    opt, _ = make_pair()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    sched.step(1.0)
    sched.step(1.0 - 5e-5)
    assert sched.num_bad_epochs == 0 and sched.get_last_lr() == [0.1 * 0.1, 0.02 * 0.1]  # reduced at once
    sched.step(1.0 - 5e-5 - 2e-4)
    assert sched.best == 1.0 - 5e-5 - 2e-4


def test_reduce_on_plateau_accepts_a_tensor_metric():
    opt, _ = make_pair()
    sched = lr_scheduler.ReduceLROnPlateau(opt)
    sched.step(tg.Tensor(0.5))
    assert sched.best == 0.5
    with pytest.raises(ValueError, match="metric as a number"):  # torch's class: float("loss") raises ValueError
        sched.step("loss")


# ---- state_dict ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR-warmup-cosine",
                                  "LambdaLR", "LinearLR-decay", "MultiplicativeLR", "PolynomialLR",
                                  "ChainedScheduler-three", "CosineAnnealingWarmRestarts-T_mult",
                                  "CyclicLR-triangular2", "CyclicLR-exp_range"])
def test_state_dict_round_trip_continues_the_sequence(name):
    build = SCHEDULES[name]
    opt, _ = make_pair("Adam")
    sched = build(lr_scheduler, opt)
    for _ in range(15):
        opt.step()
        sched.step()
    saved_opt = pickle.loads(pickle.dumps(opt.state_dict()))
    saved_sched = pickle.loads(pickle.dumps(sched.state_dict()))
    assert "optimizer" not in saved_sched
    expected = []
    for _ in range(20):
        sched.step()
        expected.append((sched.get_last_lr(), momenta(opt)))

    opt2, _ = make_pair("Adam")
    sched2 = build(lr_scheduler, opt2)  # build first, then load: construction resets the rates
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.get_last_lr() == saved_sched["_last_lr"]
    got = []
    for _ in range(20):
        sched2.step()
        got.append((sched2.get_last_lr(), momenta(opt2)))
    assert got == expected


def test_reduce_on_plateau_state_dict_round_trip():
    opt, _ = make_pair()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=2)
    metrics = _plateau_metrics()
    for m in metrics[:12]:
        sched.step(m)
    saved = pickle.loads(pickle.dumps(sched.state_dict()))
    saved_opt = opt.state_dict()
    opt2, _ = make_pair()
    opt2.load_state_dict(saved_opt)
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(saved)
    for m in metrics[12:]:
        sched.step(m)
        sched2.step(m)
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert (sched2.num_bad_epochs, sched2.cooldown_counter) == (sched.num_bad_epochs, sched.cooldown_counter)


def test_construction_sets_initial_lr_and_base_lrs():
    opt, _ = make_pair()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert sched.base_lrs == list(LRS) and sched.last_epoch == 0
    sched.get_last_lr().append(1.0)  # a copy: does not corrupt the scheduler
    assert sched.get_last_lr() == list(LRS)


def test_deprecated_step_with_epoch_uses_the_closed_form_like_torch():
    opt, topt = make_pair()
    ours, theirs = lr_scheduler.CosineAnnealingLR(opt, T_max=10), tsched.CosineAnnealingLR(topt, T_max=10)
    with pytest.warns(UserWarning):
        ours.step(7)
    with pytest.warns(UserWarning):
        theirs.step(7)
    assert ours.get_last_lr() == theirs.get_last_lr()


# ---- bad input ----------------------------------------------------------------------

@pytest.mark.parametrize("make,error,pattern", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size must be an integer >= 1, got 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be an integer >= 1"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError, r"start_factor must be in \(0.0, 1.0\]"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=1.5), ValueError, "factor must be in"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), ValueError, "give total_steps, or both epochs"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError, "total_steps must be an integer"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=5), ValueError, "max_lr has 1 values but"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be 'cos' or 'linear'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, r"factor must be in \[0.0, 1.0\)"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="lowest"), ValueError, "mode must be 'min' or 'max'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold_mode"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], milestones=[3]), ValueError,
     "1 schedulers need 0 milestones"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ReduceLROnPlateau(o), lr_scheduler.StepLR(o, 2)], [3]),
     ValueError, "ReduceLROnPlateau"),
    (lambda o: lr_scheduler.StepLR("adam", 2), TypeError, "must be an optimizer"),
    (lambda o: lr_scheduler.StepLR(o, 2, last_epoch=4), KeyError, "no 'initial_lr'"),
    (lambda o: lr_scheduler.PolynomialLR(o, total_iters=0), ValueError, "PolynomialLR: total_iters must be an integer"),
    (lambda o: lr_scheduler.MultiplicativeLR(o, lr_lambda=0.9), TypeError, "MultiplicativeLR: lr_lambda must be a"),
    (lambda o: lr_scheduler.MultiplicativeLR(o, lr_lambda=[abs]), ValueError, "lr_lambda has 1 values but"),
    (lambda o: lr_scheduler.ChainedScheduler([]), ValueError, "ChainedScheduler: needs at least one scheduler"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(o)]), ValueError, "ReduceLROnPlateau"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(o, 2), lr_scheduler.StepLR(make_pair()[0], 2)]),
     ValueError, "scheduler 1 \\(StepLR\\) belongs to another optimizer"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0 must be an integer >= 1, got 0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=1.5), ValueError, "T_mult must be an int"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="sawtooth"), ValueError, "CyclicLR: mode must be one of"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError, "step_size_up must be an integer"),
    (lambda o: lr_scheduler.CyclicLR(o, [0.01], 0.1), ValueError, "base_lr has 1 values but"),
])
def test_bad_arguments_raise_clear_errors(make, error, pattern):
    opt, _ = make_pair()
    with pytest.raises(error, match=pattern):
        make(opt)


def test_cyclic_momentum_needs_an_optimizer_with_momentum():
    opt, _ = make_pair("Adagrad")
    with pytest.raises(ValueError, match="CyclicLR: cycle_momentum=True needs.*Adagrad has neither"):
        lr_scheduler.CyclicLR(opt, 0.01, 0.1)


def test_one_cycle_momentum_needs_an_optimizer_with_momentum():
    opt, _ = make_pair("Adagrad")
    with pytest.raises(ValueError, match="Adagrad has neither; pass cycle_momentum=False"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5)


def test_sequential_rejects_a_scheduler_of_another_optimizer():
    opt, _ = make_pair()
    other, _ = make_pair()
    with pytest.raises(ValueError, match="belongs to another optimizer"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2), lr_scheduler.StepLR(other, 2)], [3])


def test_exports():
    for name in ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
                 "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "LambdaLR", "ConstantLR", "MultiplicativeLR",
                 "PolynomialLR", "ChainedScheduler", "CosineAnnealingWarmRestarts", "CyclicLR"]:
        assert hasattr(optim.lr_scheduler, name)
    assert math.isclose(lr_scheduler.LinearLR(make_pair()[0]).get_last_lr()[0], 0.1 / 3)


def test_warns_when_stepped_before_the_optimizer_like_torch():
    import warnings
    opt, _ = make_pair()
    sched = lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        sched.step()
    opt, _ = make_pair()
    sched = lr_scheduler.StepLR(opt, 2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
