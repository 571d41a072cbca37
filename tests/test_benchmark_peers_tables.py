"""benchmarks/peers.py's tables: medians, ratios to the fastest other framework, and the ratios paired by round."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "peers.py"


def _peers():
    spec = importlib.util.spec_from_file_location("peers_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runs(rates, first=0.1):
    return [{"steps_per_s": r, "first_step_s": first, "to_first_step_s": 2 * first} for r in rates]


# the VM sped up in round 2: the engine's medians tie with jax's, but it was faster in every round
RESULTS = {("tinygrad_opt", 64): _runs([100, 200, 110]), ("tinygrad_opt-flush", 64): _runs([120, 240, 130]),
           ("jax", 64): _runs([90, 180, 110 * 2]), ("numpy", 64): _runs([50, 50, 50], first=0.01)}
FRAMEWORKS = ["tinygrad_opt", "tinygrad_opt-flush", "jax", "numpy"]


def test_table_gives_medians_and_the_ratio_to_the_fastest_other_family():
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in
            _peers().table(RESULTS, FRAMEWORKS, [64]).splitlines()[2:]}
    assert rows["tinygrad_opt"][0].strip() == "110.0 (0.61x)"  # jax's median 180; its own -flush variant not a peer
    assert rows["jax"][0].strip() == "180.0 (1.38x)"  # against tinygrad_opt-flush's 130
    assert float(rows["numpy"][1]) == 0.01  # first step: the median over every worker


def test_paired_table_divides_within_each_round():
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in
            _peers().paired_table(RESULTS, FRAMEWORKS, [64]).splitlines()[2:]}
    # rounds: 100/90, 200/180, 110/220 -> median 1.11, range 0.50-1.11, against jax (highest median)
    assert rows["tinygrad_opt"] == "1.11x (0.50-1.11) jax"
    assert rows["jax"].endswith("tinygrad_opt-flush")
