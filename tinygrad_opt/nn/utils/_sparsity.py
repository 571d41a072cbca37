"""prune.sparsity: how many entries of each parameter are exactly zero."""
from __future__ import annotations

from typing import NamedTuple

from ..module import Module


class ParamSparsity(NamedTuple):
    zeros: int
    total: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.total if self.total else 0.0


class SparsityReport(dict):
    """{parameter name: ParamSparsity(zeros, total)}, plus `.zeros`, `.total`, `.overall` and a table.

    Names are the effective parameter names ("0.weight", not "0.weight_orig"); a pruned
    parameter is counted as orig * mask, i.e. what the forward pass uses.
    `str(report)` (or `report.table()`) is a readable table with an "overall" row.
    """

    @property
    def zeros(self) -> int:
        return sum(v.zeros for v in self.values())

    @property
    def total(self) -> int:
        return sum(v.total for v in self.values())

    @property
    def overall(self) -> float:
        return self.zeros / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, float]:
        """{name: sparsity fraction, ..., "overall": fraction}: the plain numbers, e.g. for JSON."""
        out = {name: v.sparsity for name, v in self.items()}
        out["overall"] = self.overall
        return out

    def table(self) -> str:
        rows = [(name, v.zeros, v.total, v.sparsity) for name, v in self.items()]
        rows.append(("overall", self.zeros, self.total, self.overall))
        width = max([len("parameter")] + [len(r[0]) for r in rows])
        lines = [f"{'parameter':<{width}}  {'zeros':>10}  {'total':>10}  {'sparsity':>8}"]
        lines.append("-" * len(lines[0]))
        for i, (name, zeros, total, frac) in enumerate(rows):
            if i == len(rows) - 1:
                lines.append("-" * len(lines[0]))
            lines.append(f"{name:<{width}}  {zeros:>10d}  {total:>10d}  {100 * frac:>7.2f}%")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def sparsity(module: Module, include: str = "all") -> SparsityReport:
    """Zero counts per parameter and overall for `module` and its descendants.

    include="all" counts every parameter; "pruned" only the pruned ones;
    "weights" only parameters whose name ends in "weight" (what global pruning usually targets).
    """
    if include not in ("all", "pruned", "weights"):
        raise ValueError(f"prune.sparsity: include must be 'all', 'pruned' or 'weights', got {include!r}")
    report = SparsityReport()
    for prefix, m in module.named_modules():
        for pname, param in m._parameters.items():
            if param is None:
                continue
            name, data = pname, param.data
            if pname.endswith("_orig"):
                base = pname[: -len("_orig")]
                mask = m._buffers.get(base + "_mask")  # pruned: `<name>_orig` with its `<name>_mask` beside it
                if mask is not None:
                    name, data = base, param.data * mask.data
            pruned = name != pname
            if include == "pruned" and not pruned:
                continue
            if include == "weights" and not name.endswith("weight"):
                continue
            full = f"{prefix}.{name}" if prefix else name
            zeros = int((data == 0).sum())
            report[full] = ParamSparsity(zeros, int(data.size))
    return report
