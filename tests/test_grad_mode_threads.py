"""Grad mode is per thread, as torch's: no_grad in one thread never drops another thread's graph."""
import threading

import numpy as np
import pytest
import torch

import tinygrad_opt as tg


def test_no_grad_in_one_thread_leaves_the_other_recording():
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def quiet_thread():
        with tg.no_grad():
            inside.set()
            release.wait(5)
            seen["other"] = tg.is_grad_enabled()

    worker = threading.Thread(target=quiet_thread)
    worker.start()
    assert inside.wait(5)
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()  # recorded although the other thread is inside no_grad
    release.set()
    worker.join()
    assert tg.is_grad_enabled() and seen["other"] is False
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_many_threads_each_get_the_right_gradient():
    errors = []

    def work(seed: int, quiet: bool):
        rng = np.random.default_rng(seed)
        for _ in range(200):
            values = rng.standard_normal(3)
            x = tg.Tensor(values, requires_grad=True)
            if quiet:
                with tg.no_grad():
                    y = x * 2
                if y.requires_grad:
                    errors.append("no_grad leaked")
            else:
                (x * x).sum().backward()
                if not np.allclose(x.grad.numpy(), 2 * values):
                    errors.append("wrong gradient")

    threads = [threading.Thread(target=work, args=(i, i % 2 == 0)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_new_threads_start_with_grad_enabled_even_inside_no_grad():
    seen = []
    with tg.no_grad():
        t = threading.Thread(target=lambda: seen.append(tg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True] and torch.is_grad_enabled()


def test_set_grad_enabled_function_and_context_manager():
    tg.set_grad_enabled(False)
    try:
        assert not tg.is_grad_enabled()
        assert not (tg.Tensor([1.0], requires_grad=True) * 2).requires_grad
    finally:
        tg.set_grad_enabled(True)
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    with tg.no_grad():
        with tg.set_grad_enabled(True):
            assert (tg.Tensor([1.0], requires_grad=True) * 2).requires_grad
        assert not tg.is_grad_enabled()


def test_decorators_and_inference_mode():
    @tg.no_grad()
    def quiet(x):
        return x * 2

    @tg.inference_mode()
    def inferred(x):
        return x * 2

    x = tg.Tensor([1.0], requires_grad=True)
    assert not quiet(x).requires_grad and not inferred(x).requires_grad
    assert (x * 2).requires_grad
    with tg.inference_mode(False):
        assert tg.is_grad_enabled()


@pytest.mark.parametrize("mode", [tg.no_grad, tg.enable_grad])
def test_grad_mode_restored_after_an_exception(mode):
    with pytest.raises(KeyError):
        with mode():
            raise KeyError("x")
    assert tg.is_grad_enabled()
