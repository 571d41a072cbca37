"""One switch of the engine off (A) and on (B) in one process: peers.py's plain step, in alternating blocks of steps.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/switch_ab.py fused-forward --blocks 60

step_ab.py compares two trees in fresh processes, the honest figure for any change; but a change of 1-2 % of
the step drowns there when the machine's speed swings from one worker to the next (a virtual machine whose host
is loaded by others). Where the change is a switch inside the engine,
both sides can run in one process, block after block (A B, then B A), the switch flipped between blocks: the
machine's drift over seconds falls on both sides alike, and the ratio of neighbouring blocks is the figure.

Each switch comes with a probe that counts calls of the code it turns on: the run stops where a block with
the switch on does not reach that code, or one with it off does (a switch that does not switch). Printed: the
median time per step of each side, the paired ratio B/A (on over off: below 1, the switch saves time) as
median, mean and quartiles over the pairs, and each side's fastest block.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402


class Switch:
    """A named switch: `turn(on)` sets it, `calls()` counts the calls of the code it turns on so far."""

    def __init__(self, name: str, about: str, install):
        self.name, self.about, self._install = name, about, install
        self.turn = self.calls = None

    def install(self) -> None:
        self.turn, self.calls = self._install()


def _counted(module, name: str, counts: list) -> None:
    """module.name wrapped to add 1 to counts[0] at each call."""
    original = getattr(module, name)

    def counting(*args, **kwargs):
        counts[0] += 1
        return original(*args, **kwargs)

    setattr(module, name, counting)


def _predicate(module_name: str, predicate: str, probe: str):
    """A switch that replaces module.predicate by one answering False (off), probed at module.probe."""
    def install():
        module = importlib.import_module(f"tinygrad_opt.kernels.{module_name}")
        real, counts = getattr(module, predicate), [0]
        _counted(module, probe, counts)

        def turn(on: bool) -> None:
            setattr(module, predicate, real if on else (lambda *args: False))

        return turn, lambda: counts[0]
    return install


def _flag(module_name: str, *probes: str):
    """A switch that sets module.enabled, probed at each of module.probes."""
    def install():
        module = importlib.import_module(f"tinygrad_opt.kernels.{module_name}")
        counts = [0]
        for probe in probes:
            _counted(module, probe, counts)

        def turn(on: bool) -> None:
            module.enabled = on

        return turn, lambda: counts[0]
    return install


def _two_ended():
    from tinygrad_opt.kernels import cpu  # noqa: PLC0415

    counts, run_job = [0], cpu._run_job

    def probed(job, args, *rest, **options):  # the job counts the threads that entered it from 0, or from 2 (off)
        run_job(job, args, *rest, **options)
        counts[0] += int(cpu.two_ended and args[cpu.ARGS_ARRIVED] <= 2)

    cpu._run_job = probed

    def turn(on: bool) -> None:
        cpu.two_ended = on

    return turn, lambda: counts[0]


SWITCHES = {s.name: s for s in (
    Switch("fused-forward", "LinearReLU's weight-first forward turns, biases and clamps its blocks in the tiles' "
           "job (off: the bias_relu_transposed pass after the product)",
           # _put_turned_natively: written only where the job fuses the bias and ReLU
           _predicate("tile_gemm", "takes_turned", "_put_turned_natively")),
    Switch("tiles", "the register tiles (kernels/tile_gemm.py) for the first layer's products (off: gemm_job "
           "and OpenBLAS)", _flag("tile_gemm", "_matmul", "matmul_live")),
    Switch("live-rows", "the weight gradient multiplies only the live units' rows in the tiles (off: every row)",
           _predicate("tile_gemm", "takes_live", "matmul_live")),
    Switch("live-tiles", "at a batch above 64, the weight gradient's live rows in fused tiles that read x as it "
           "is (kernels/live_gemm.py; off: the gathered rows through gemm_job and OpenBLAS)",
           _flag("live_gemm", "matmul_live")),
    Switch("head", "Linear, ReLU and a thin Linear's backward in one pass over the hidden activations "
           "(kernels/head_backward.py; off: the layers' own products and mask pass)", _flag("head_backward", "backward")),
    Switch("two-ended", "the optimizer's job: the first thread claims each array's blocks from its front, the second "
           "from its back (off: both from the front)", _two_ended),
)}


def measure(switch: Switch, batch: int, blocks: int, steps: int, threads: int = 2) -> tuple[list[float], list[float]]:
    """(off, on): the time per step (us) of each block, `blocks` pairs in A B / B A order, the engine's BLAS
    policy fixed at `threads` (under "auto" a load from elsewhere can take the engine to one thread, and with it
    the team's products and tiles, on either side)."""
    import tinygrad_opt as tg  # noqa: PLC0415

    policy = tg.kernels.get_blas_threads()
    tg.kernels.set_blas_threads(threads)
    try:
        return _alternate(switch, batch, blocks, steps)
    finally:
        tg.kernels.set_blas_threads(policy)


def _alternate(switch: Switch, batch: int, blocks: int, steps: int) -> tuple[list[float], list[float]]:
    from tinygrad_opt.kernels import tile_gemm  # noqa: PLC0415

    step, to_float, sync = peers.tinygrad_opt_case(batch)
    step()
    tile_gemm.wait_built()  # built now: its build sets the module's natives, which would replace a probe
    sync()  # the background thread's compiles done too
    switch.install()
    for on in (True, False):  # both sides warm
        switch.turn(on)
        for _ in range(peers.WARM_STEPS // 2):
            step()
        sync()
    times: dict[bool, list[float]] = {False: [], True: []}
    for b in range(blocks):
        for on in ((False, True) if b % 2 == 0 else (True, False)):
            switch.turn(on)
            step()  # the first step after the flip is not timed
            before = switch.calls()
            begin = time.perf_counter()
            for _ in range(steps):
                loss = step()
            to_float(loss)
            times[on].append((time.perf_counter() - begin) / steps * 1e6)
            reached = switch.calls() > before
            if reached != on:
                raise SystemExit(f"switch_ab.py: with {switch.name} {'on' if on else 'off'}, the code it turns on "
                                 f"was {'not ' if on else ''}reached: the switch does not switch")
    return times[False], times[True]


def summary(name: str, off: list[float], on: list[float]) -> str:
    ratios = sorted(b / a for a, b in zip(off, on))
    quartiles = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    return (f"{name}: off {statistics.median(off):.1f} us, on {statistics.median(on):.1f} us per step (medians of "
            f"{len(off)} blocks); on/off paired: median {statistics.median(ratios):.4f}, mean "
            f"{statistics.fmean(ratios):.4f}, quartiles {quartiles[0]:.4f}-{quartiles[2]:.4f}; fastest block off "
            f"{min(off):.1f}, on {min(on):.1f} us")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("switch", choices=sorted(SWITCHES), help="; ".join(
        f"{s.name}: {s.about}" for s in SWITCHES.values()))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=40, help="pairs of blocks (one off, one on)")
    parser.add_argument("--steps", type=int, default=150, help="timed steps per block")
    parser.add_argument("--threads", type=int, default=2, help="the engine's BLAS policy (the tiles need two)")
    args = parser.parse_args(argv)
    for option in ("batch", "blocks", "steps", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1, got {getattr(args, option)}")
    off, on = measure(SWITCHES[args.switch], args.batch, args.blocks, args.steps, args.threads)
    print(summary(args.switch, off, on))


if __name__ == "__main__":
    main()
