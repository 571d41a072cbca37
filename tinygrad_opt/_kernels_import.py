"""Make `tinygrad_opt.kernels` importable from a source checkout too.

pyproject maps the top-level kernels/ folder to tinygrad_opt.kernels for installs;
when the package runs straight from the checkout (PYTHONPATH, or a test run before
installing) that mapping does not exist, so load the folder under that name here.
"""
import importlib
import importlib.util
import sys
from pathlib import Path


def load_kernels():
    try:
        return importlib.import_module("tinygrad_opt.kernels")
    except ModuleNotFoundError as err:
        if err.name != "tinygrad_opt.kernels":
            raise
        folder = Path(__file__).resolve().parent.parent / "kernels"
        spec = importlib.util.spec_from_file_location(
            "tinygrad_opt.kernels", folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            raise
        module = importlib.util.module_from_spec(spec)
        sys.modules["tinygrad_opt.kernels"] = module
        spec.loader.exec_module(module)
        return module
