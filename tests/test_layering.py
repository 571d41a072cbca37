"""Dependencies point one way (DESIGN.md): checked on the source, imports inside functions included."""
import ast
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


def test_the_library_below_the_training_layer_never_imports_the_cli():
    for sub in ("nn", "optim", "data", "ops", "methods", "compress"):
        for path in (PACKAGE / sub).rglob("*.py"):
            cli = sorted(m for m in imported_modules(path) if m.startswith("tinygrad_opt.cli"))
            assert not cli, f"{path.relative_to(PACKAGE)} imports {cli}"


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
