"""`python -m tinygrad_opt COMMAND ...`: the same CLI as the `tinygrad-opt` console script."""
import sys

from .cli import main

sys.exit(main())
