"""benchmarks/dw1_forms_step.py runs: dW1's forms inside the whole step, each timed and either checked for the engine's
bits or marked as giving other bits on this CPU (smoke run)."""
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "dw1_forms_step.py"
sys.path.insert(0, str(SCRIPT.parent))
import dw1_forms_step  # noqa: E402

MARK = " (other bits on this CPU)"


def test_each_form_of_dw1_is_timed_in_the_plain_and_the_captured_step():
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "8", "--blocks", "1", "--steps", "24"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # it exits non-zero where the engine's own form differs
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| 8 |")]
    assert [cells[1].strip() for cells in rows] == ["plain", "captured"]
    assert len(rows[0]) == 2 + 4 + 3
    for cells in rows:
        engine, *forms = [cell.strip() for cell in cells[2:6]]
        assert float(engine) > 0 and MARK not in engine  # the reference is the engine's form itself
        assert all(float(cell.removesuffix(MARK)) > 0 for cell in forms)  # steps/s of each form, marked or not
        assert all(float(cell) > 0 for cell in cells[6:])  # three ratios
    assert [MARK in cell for cell in rows[0][3:6]] == [MARK in cell for cell in rows[1][3:6]]  # one verdict a batch


def test_a_form_with_other_bits_is_never_reported_as_the_engines_equal(monkeypatch):
    real = dw1_forms_step.dw1

    def blocks2_rounds_up(form, gz, x, out):
        result = real(form, gz, x, out)
        return np.nextafter(result, np.inf) if form == "blocks2" else result

    monkeypatch.setattr(dw1_forms_step, "dw1", blocks2_rounds_up)
    differ = dw1_forms_step.other_bits(8)
    assert "blocks2" in differ and "engine" not in differ
