"""kernels/parallel.py: map_chunks runs every chunk once, on the caller's and the pool's threads, in chunk order."""
import threading
import time

import pytest

from tinygrad_opt.kernels import blas_threads
from tinygrad_opt.kernels.parallel import map_chunks, map_split, split


@pytest.fixture(params=[1, 2, 3])
def threads(request):
    before = blas_threads.get_blas_threads()
    blas_threads.set_blas_threads(request.param)
    yield request.param
    blas_threads.set_blas_threads(before)


def test_every_chunk_runs_once_and_results_keep_chunk_order(threads):
    chunks = split(50, 13)
    seen = []
    lock = threading.Lock()

    def run(start, stop):
        with lock:
            seen.append(start)
        return list(range(start, stop))

    results = map_chunks(run, chunks)
    assert [x for part in results for x in part] == list(range(50))
    assert sorted(seen) == [start for start, _ in chunks]


def test_the_calling_thread_and_the_pool_share_the_chunks():
    before = blas_threads.get_blas_threads()
    blas_threads.set_blas_threads(2)
    try:
        where = map_chunks(lambda start, stop: (time.sleep(0.02), threading.get_ident())[1], split(8, 8))
    finally:
        blas_threads.set_blas_threads(before)
    assert threading.get_ident() in where
    assert len(set(where)) == 2


def test_an_error_is_raised_after_every_other_chunk_has_finished(threads):
    finished = []

    def run(start, stop):
        if start == 0:
            raise RuntimeError("chunk 0 failed")
        time.sleep(0.01)
        finished.append(start)

    with pytest.raises(RuntimeError, match="chunk 0 failed"):
        map_chunks(run, split(6, 6))
    done = list(finished)
    time.sleep(0.05)
    assert finished == done  # nothing still running after the raise
    # one thread stops at the error; with more, the others take the remaining chunks before it is raised
    assert sorted(done) == ([] if threads == 1 else [1, 2, 3, 4, 5])


def test_a_map_inside_a_chunk_runs_in_order_on_that_thread(threads):
    def outer(start, stop):
        me = threading.get_ident()
        inner = map_chunks(lambda a, b: (a, threading.get_ident()), split(4, 4))
        assert all(ident == me for _, ident in inner)
        return [a for a, _ in inner]

    assert map_chunks(outer, split(3, 3)) == [[0, 1, 2, 3]] * 3


def test_map_split_covers_the_range_in_pieces_no_shorter_than_the_grain(threads):
    pieces = map_split(lambda k0, k1: (k0, k1), 1000, grain=100)
    assert pieces[0][0] == 0 and pieces[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(k1 - k0 >= 100 for k0, k1 in pieces)
