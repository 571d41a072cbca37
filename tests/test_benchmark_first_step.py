"""benchmarks/first_step.py's table over optimizers: medians per optimizer and the slowest compile on the step's
thread (background compiles, imports and the build phase left out), and its refusal of unknown optimizers."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _first_step():
    sys.path.insert(0, str(BENCHMARKS))  # first_step.py imports peers.py beside it
    try:
        spec = importlib.util.spec_from_file_location("first_step_script", BENCHMARKS / "first_step.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def _run(first: float, optimizer_phase: float, events: list) -> dict:
    return {"first_step_s": first, "second_step_s": 0.001, "phases": {"optimizer step": optimizer_phase},
            "events": [dict(e, depth=0, cpu_s=e["s"]) for e in events]}


def test_the_optimizer_table_shows_medians_and_the_slowest_compile_on_the_steps_thread():
    compile_ = {"phase": "optimizer step", "what": "_rmsprop_loop", "kind": "compile"}
    loss = {"phase": "forward", "what": "_softmax_cross_entropy", "kind": "compile"}
    background = {"phase": "background", "what": "_adam_loop", "kind": "compile", "s": 0.9}
    cold = [_run(0.8, 0.45, [dict(compile_, s=0.44), dict(loss, s=0.15), background]),
            _run(0.9, 0.5, [dict(compile_, s=0.5), dict(loss, s=0.14), background]),
            _run(0.7, 0.4, [dict(compile_, s=0.4), dict(loss, s=0.16), background])]
    warm = [_run(0.25, 0.003, []) for _ in range(3)]
    lines = _first_step().optimizer_table({"rmsprop": (cold, warm)}, 64, 2, "on").splitlines()
    assert "medians of 3 runs" in lines[0]
    row = lines[2].split()
    assert row[:6] == ["rmsprop", "0.800", "0.450", "0.250", "0.003", "0.001"]
    assert row[6:] == ["_rmsprop_loop", "0.440"]  # not the background thread's 0.9 s


def test_an_unknown_optimizer_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        _first_step().main(["--optimizer", "adamm"])
    assert exit_.value.code == 2
    assert "--optimizer 'adamm': choose all or one of sgd, adam" in capsys.readouterr().err
