"""Flush subnormal floats to zero on the CPU threads that run the engine: torch.set_flush_denormal's switch.

Subnormal floats (nonzero magnitudes below 2**-126 in float32) take the x86 cores' slow
microcode path. They arise in training where a value decays geometrically without a
gradient to refresh it: Adam's moments of a dead ReLU unit, or of the weights of MNIST's
always-black border pixels, shrink by beta1 = 0.9 a step and reach float32's subnormal range
after about 800 steps; from then on every optimizer step pays the slow path for them. With
flushing on, such values become 0 instead (the FTZ and DAZ bits of MXCSR), which changes
results only below 1.2e-38, far under anything float32 training can resolve next to a weight.

The mode is a per-thread register. Where the engine's CPU work runs, and how each thread gets it:
  the calling thread     every NumPy operation, every Numba kernel (the optimizer updates among
                         them) and BLAS's share of a product: set here, directly;
  the engine's pool      parallel.py's worker threads (convolution, pooling, batch norm) take the
                         mode set last before each range they run (follow_flush_denormal);
  OpenBLAS's threads     their share of a multi-threaded product: NumPy's OpenBLAS does not pass
                         the caller's mode to them, so a change of mode restarts them from the
                         calling thread, whose register they inherit (blas_threads.restart_blas_threads;
                         needs threadpoolctl and OpenBLAS's pthreads build, else they keep theirs).
                         `flush_denormal(mode, defer_blas=True)` (what Trainer.fit uses) restarts them
                         only before the engine's next matrix product, from the thread that runs it,
                         and only if their mode is not already the one wanted: a fit restarts them
                         once, and the fit after it (same mode, no product between) not at all.
Numba's own threading layer (parallel=True) runs none of the engine's kernels.
Only x86 has these bits here: elsewhere set_flush_denormal changes nothing and returns False.
"""
from __future__ import annotations

import importlib.util
import platform
import threading

from .blas_threads import restart_blas_threads, run_before_next_product

_X86 = {"x86_64", "amd64", "i386", "i686", "x86"}

_mode: bool | None = None  # the last mode set by set_flush_denormal; None: never set, threads keep theirs
_blas_mode = False  # the mode BLAS's worker threads were started with (the process's default until a restart)
_thread = threading.local()  # .mode: the mode follow_flush_denormal last gave this thread


def supported() -> bool:
    """True on x86 CPUs, whose MXCSR has the flush-to-zero and denormals-are-zero bits (set through Numba)."""
    return platform.machine().lower() in _X86 and importlib.util.find_spec("numba") is not None


def set_flush_denormal(mode: bool) -> bool:
    """Flush subnormal floats to zero (mode=True) or keep them (False) in the engine's CPU arithmetic.

    As torch.set_flush_denormal: sets the calling thread's mode and returns True where the CPU
    supports it, False (changing nothing) elsewhere. Beyond torch, the engine's worker threads
    and NumPy's OpenBLAS threads follow (see the module docstring); call it while no other
    thread is inside a matrix product, as OpenBLAS's threads may be restarted.
    """
    return _set_mode(mode, "set_flush_denormal(mode)", defer_blas=False)


def _set_mode(mode: bool, where: str, defer_blas: bool) -> bool:
    """set_flush_denormal; with defer_blas, BLAS's threads are restarted before the engine's next product."""
    global _mode
    if not isinstance(mode, bool):
        raise TypeError(f"{where}: mode must be a bool (True or False), got {type(mode).__name__} {mode!r}")
    if not supported():
        return False
    from .mxcsr_cpu import set_flush_bits  # noqa: PLC0415 - Numba only once asked for (and only on x86)

    set_flush_bits(mode)
    _thread.mode = mode
    _mode = mode
    if defer_blas:
        run_before_next_product(_restart_blas_threads_if_behind)
    else:
        run_before_next_product(None)
        _restart_blas_threads_if_behind()
    return True


def _restart_blas_threads_if_behind() -> None:
    """Restart BLAS's threads from this thread if they run another mode than the one set last and this
    thread has that mode (else a thread that has it will, before its next product)."""
    global _blas_mode
    if _mode == _blas_mode:
        run_before_next_product(None)
    elif getattr(_thread, "mode", None) is _mode:
        if restart_blas_threads():
            _blas_mode = _mode
        run_before_next_product(None)  # done, or BLAS is out of reach: nothing to retry


def flushing() -> bool:
    """Whether the mode set last flushes subnormals (no MXCSR read: a hint for loops that choose a path by it)."""
    return _mode is True


def flush_denormal_enabled() -> bool:
    """Whether the calling thread flushes subnormals now (FTZ and DAZ both set); False where unsupported."""
    if not supported():
        return False
    from .mxcsr_cpu import DENORMALS_ARE_ZERO, FLUSH_TO_ZERO, read_mxcsr  # noqa: PLC0415

    bits = FLUSH_TO_ZERO | DENORMALS_ARE_ZERO
    return read_mxcsr() & bits == bits


def follow_flush_denormal() -> None:
    """On one of the engine's worker threads: take the mode set last (nothing to do until one is set)."""
    mode = _mode
    if mode is not None and getattr(_thread, "mode", None) is not mode:
        from .mxcsr_cpu import set_flush_bits  # noqa: PLC0415

        set_flush_bits(mode)
        _thread.mode = mode


class flush_denormal:
    """`with flush_denormal(mode):` the mode inside, the calling thread's previous mode restored after
    (nothing changes where unsupported). defer_blas=True: BLAS's threads take each mode before the
    engine's next matrix product instead of at once (a NumPy product of one's own in between runs
    their share in the mode they had)."""

    def __init__(self, mode: bool, *, defer_blas: bool = False) -> None:
        self.mode = mode
        self.defer_blas = defer_blas

    def __enter__(self) -> bool:
        self._previous = flush_denormal_enabled()
        return _set_mode(self.mode, "flush_denormal(mode)", self.defer_blas)

    def __exit__(self, *exc) -> bool:
        if supported() and self._previous != self.mode:
            _set_mode(self._previous, "flush_denormal(mode)", self.defer_blas)
        return False


def blas_threads_restarted() -> None:
    """BLAS's worker threads were just restarted from the calling thread (kernels/parallel.py): they run its
    mode now; if that is not the mode set last, restart them again before the engine's next product."""
    global _blas_mode
    _blas_mode = flush_denormal_enabled()
    if _mode is not None and _mode != _blas_mode:
        run_before_next_product(_restart_blas_threads_if_behind)
