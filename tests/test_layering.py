"""Dependencies point one way (DESIGN.md): checked on the source, imports inside functions included."""
import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tinygrad_opt"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute (tinygrad_opt.x.y), wherever the import statement sits."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_nothing_outside_the_cli_package_imports_the_cli():
    library = [path for path in PACKAGE.rglob("*.py") if (PACKAGE / "cli") not in path.parents]
    assert any(path.parent.name == "train" for path in library) and any(path.parent.name == "tune" for path in library)
    for path in library:
        cli = sorted(m for m in imported_modules(path) if m == "tinygrad_opt.cli" or m.startswith("tinygrad_opt.cli."))
        if path == PACKAGE / "__main__.py":  # `python -m tinygrad_opt` is the command line's other door
            continue
        assert not cli, f"{path.relative_to(PACKAGE)} imports {cli}"


def test_the_import_rule_test_sees_relative_imports():
    """The rule above would pass vacuously if imported_modules missed `from ..cli import x`."""
    found = imported_modules(PACKAGE / "cli" / "train.py")
    assert "tinygrad_opt.train.config" in found and "tinygrad_opt.cli.options" in found


def test_training_and_tuning_import_at_the_top_not_inside_functions():
    """The imports inside functions of train/ and tune/ were there to dodge the cli <-> train cycle; only
    optional dependencies (optuna, matplotlib, sqlalchemy, ...) and the pruning callback stay lazy."""
    for sub in ("train", "tune"):
        for path in (PACKAGE / sub).glob("*.py"):
            tree = ast.parse(path.read_text())
            top = set(tree.body)
            lazy = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node not in top
                    and node.level and node.module not in (None, "compress.callback", "runner")]
            assert not lazy, f"{path.relative_to(PACKAGE)} imports {[n.module for n in lazy]} inside a function"


def test_sparsity_does_not_reach_back_into_prune():
    """prune imports _sparsity; the other way round would be a cycle (hidden in a function or not)."""
    assert "tinygrad_opt.nn.utils.prune" not in imported_modules(PACKAGE / "nn" / "utils" / "_sparsity.py")


def _imports_of_package(sub: str) -> dict:
    return {path.relative_to(PACKAGE): imported_modules(path) for path in (PACKAGE / sub).rglob("*.py")}


def test_trace_sits_below_teach_and_the_layers():
    """teach builds lessons on trace (one_step records a step with tg.trace); trace must not reach back up.

    Import statements inside functions count: hiding one there would keep the cycle."""
    above = ("tinygrad_opt.teach", "tinygrad_opt.nn", "tinygrad_opt.optim", "tinygrad_opt.train", "tinygrad_opt.cli")
    for path, modules in _imports_of_package("trace").items():
        wrong = sorted(m for m in modules if m.startswith(above))
        assert not wrong, f"{path} imports {wrong}"


def test_the_core_never_imports_teach():
    for path in [*PACKAGE.glob("*.py"), *(PACKAGE / "ops").rglob("*.py"), *(PACKAGE / "methods").rglob("*.py")]:
        teach = sorted(m for m in imported_modules(path) if m.startswith("tinygrad_opt.teach"))
        assert not teach, f"{path.relative_to(PACKAGE)} imports {teach}"


def test_capture_sits_between_the_layers_and_the_training_loop():
    """capture records nn/optim calls and train uses it; nothing below capture may import it (step_effects is
    the one mark the layers carry, and it imports nothing)."""
    above = ("tinygrad_opt.train", "tinygrad_opt.cli", "tinygrad_opt.tune", "tinygrad_opt.compress",
             "tinygrad_opt.teach")
    for path, modules in _imports_of_package("capture").items():
        wrong = sorted(m for m in modules if m.startswith(above))
        assert not wrong, f"{path} imports {wrong}"
    for sub in ("nn", "optim", "ops", "methods", "trace"):
        for path, modules in _imports_of_package(sub).items():
            assert not any(m.startswith("tinygrad_opt.capture") for m in modules), f"{path} imports capture"
    assert not any(m.startswith("tinygrad_opt") for m in imported_modules(PACKAGE / "step_effects.py"))


def test_settings_errors_of_the_library_name_parameters_not_flags():
    """train/'s settings modules and tune/ raise errors naming their own parameters (lr, study=NAME); only the
    CLI spells them as flags (--lr, --study NAME)."""
    files = [PACKAGE / "train" / name for name in ("config.py", "config_file.py", "run.py", "models.py",
                                                    "factories.py", "trainer.py", "checkpoint.py")]
    files += sorted((PACKAGE / "tune").glob("*.py"))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise):
                texts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                flagged = [t for t in texts if re.search(r"--[a-z]", t)]
                assert not flagged, f"{path.relative_to(PACKAGE)}:{node.lineno} raises with flags: {flagged}"
