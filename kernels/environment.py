"""The package's environment variables: one table of them, each read and checked the same way.

A variable is read where it is first needed and the value kept there, not at import: `import
tinygrad_opt` never fails on one, so the command line can report a bad value as one line (it calls
check_environment() before a command runs), and Python callers get the error at the first use of the
setting. A bad value raises EnvironmentSettingError naming the variable, the value, the values it
accepts and what to do. An empty value counts as unset. A switch is 0 or 1: any other spelling
("off", "false") is an error, never silently "on".
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Union

from ..errors import EnvironmentSettingError

Value = Union[str, int, bool]


@dataclass(frozen=True)
class Variable:
    name: str
    sets: str  # what the variable sets, for the error message
    default: str
    words: tuple[str, ...] = ()  # the accepted words, lower case (case does not matter in the value)
    switch: bool = False  # 0 or 1, read as False or True
    count_from: int | None = None  # a whole number from this up is accepted too (read as an int)
    count_is: str = "a number"  # what such a number counts, for the error message

    def accepted(self) -> str:
        options = ["0", "1"] if self.switch else [repr(word) for word in self.words]
        if self.count_from is not None:
            options.append(f"{self.count_is} >= {self.count_from}")
        return ", ".join(options[:-1]) + " or " + options[-1]

    def parse(self, raw: str) -> Value:
        text = raw.strip().lower() or self.default
        if self.switch and text in ("0", "1"):
            return text == "1"
        if text in self.words:
            return text
        if self.count_from is not None and text.lstrip("+").isdecimal() and int(text) >= self.count_from:
            return int(text)
        raise EnvironmentSettingError(
            f"environment variable {self.name} must be {self.accepted()}, got {raw!r} ({self.sets}); "
            f"unset it for the default ({self.default}) or set it to one of those values",
            variable=self.name, value=raw)


VARIABLES: dict[str, Variable] = {v.name: v for v in (
    Variable("TINYGRAD_OPT_KERNELS", "which kernels run", "auto", words=("auto", "numba", "reference")),
    Variable("TINYGRAD_OPT_BLAS_THREADS", "the BLAS thread policy of the matrix products", "auto",
             words=("auto", "off"), count_from=1, count_is="a thread count"),
    Variable("TINYGRAD_OPT_BACKGROUND_COMPILE", "whether kernels compile on a background thread", "1", switch=True),
    Variable("TINYGRAD_OPT_TEAM_PRODUCTS", "whether two threads share the large matrix products as fixed blocks",
             "1", switch=True),
    Variable("TINYGRAD_OPT_SHARED_UPDATES", "whether a second thread shares the optimizer updates", "1", switch=True),
    Variable("TINYGRAD_OPT_CAPTURE_BUFFERS", "whether a captured step writes into buffers allocated once", "1",
             switch=True),
    Variable("TINYGRAD_OPT_CAPTURE_FUSION", "whether a captured step fuses element-wise runs", "1", switch=True),
    Variable("TINYGRAD_OPT_MALLOC", "whether malloc keeps freed memory for the next step", "keep",
             words=("keep", "system")),
    Variable("TINYGRAD_OPT_QUIET", "whether the kernels' warnings are silenced", "0", switch=True),
    Variable("TINYGRAD_OPT_DEBUG", "whether the command line shows tracebacks", "0", switch=True),
)}


def read(name: str) -> Value:
    """The value of the package's environment variable `name`, checked (its default when unset or empty).
    Callers keep it: this reads the environment on every call."""
    return VARIABLES[name].parse(os.environ.get(name, ""))


def check_environment() -> None:
    """Read every variable of the table: EnvironmentSettingError for the first bad one."""
    for name in VARIABLES:
        read(name)
