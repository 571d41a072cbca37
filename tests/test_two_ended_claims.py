"""The optimizer jobs' claims from both ends of an array (kernels/cpu.py, two_ended): every block goes to exactly
one thread, the first thread in works from the front and the second from the back, and the blocks, hence the
bits, do not depend on who took them."""
import threading

import numpy as np
import pytest

pytest.importorskip("numba")

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
from tinygrad_opt.kernels import cpu  # noqa: E402


def test_claims_from_the_two_ends_meet_once_every_block_is_taken():
    counters = np.zeros(2, np.int64)
    taken = [cpu._claim_block(counters, 0, from_back, 5) for from_back in (False, True) * 4]
    assert taken == [0, 4, 1, 3, 2, -1, -1, -1]


def test_two_threads_from_both_ends_take_every_block_once():
    counters, blocks = np.zeros(2, np.int64), 20_000
    got = {False: [], True: []}
    start = threading.Barrier(2)

    def claim(from_back: bool) -> None:
        start.wait()
        while (block := cpu._claim_block(counters, 0, from_back, blocks)) >= 0:
            got[from_back].append(block)

    threads = [threading.Thread(target=claim, args=(side,)) for side in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got[False] + got[True]) == list(range(blocks))
    assert got[False] == sorted(got[False]) and got[True] == sorted(got[True], reverse=True)


@pytest.mark.parametrize("from_back", [False, True])
def test_adams_loop_from_either_end_gives_the_same_bits(from_back):
    rng = np.random.default_rng(3)
    size, block = 10_000, 1024  # ten blocks, the last one short
    arrays = [rng.standard_normal(size).astype(np.float32) for _ in range(3)] + [
        np.abs(rng.standard_normal(size)).astype(np.float32)]
    arrays[2][::7] = 1e-40  # subnormal moments: the float64 spans too
    k = np.array([0.1, 0.001, 0.999, 0.0, 1.0, 1e-3 / (1 - 0.9**7), (1 - 0.999**7) ** 0.5, 1e-8], np.float32)
    loop = cpu._loop_for(cpu._ADAM_LOOPS, cpu._adam_loop, (0, False))
    front = [a.copy() for a in arrays]
    loop(*front, front[3], k, cpu._widened(k), np.zeros(2, np.int64), 0, block)
    either = [a.copy() for a in arrays]
    counters = np.zeros(2, np.int64)
    loop(*either, either[3], k, cpu._widened(k), counters, 0, block, from_back)
    for a, b in zip(front, either):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    assert counters[-1] == size  # every element counted finished once


def test_the_seed_models_steps_give_the_same_parameters_with_the_claims_from_one_end_or_two(monkeypatch):
    def train(two_ended: bool) -> list:
        monkeypatch.setattr(cpu, "two_ended", two_ended)
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = optim.Adam(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(1)
        for _ in range(5):
            x = tg.Tensor(rng.random((64, 784), dtype=np.float32))
            y = tg.Tensor(rng.integers(0, 10, 64))
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        return [p.data.copy() for p in model.parameters()]

    for a, b in zip(train(True), train(False)):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
