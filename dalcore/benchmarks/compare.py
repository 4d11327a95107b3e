"""Two benchmark reports side by side: which cases moved by more than their noise.

    python -m dalcore.benchmarks.compare before.json after.json

A case's noise is the larger relative interquartile range of its two runs, and at least
``FLOOR``: on a shared 2-core machine, runs of the same code differ by a few percent. A case
is slower (or faster) when its median moved by more than that. Only time cases are compared;
counts (round trips) and sizes are exact and shown when they differ at all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dalcore.benchmarks._report import show

#: The smallest change called a change, relative to the median.
FLOOR = 0.05


@dataclass
class Change:
    group: str
    case: str
    unit: str
    before: float
    after: float
    noise: float

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else float("inf")

    @property
    def verdict(self) -> str:
        if self.unit != "s":
            return "same" if self.after == self.before else "changed"
        if self.ratio > 1 + self.noise:
            return "slower"
        if self.ratio < 1 - self.noise:
            return "faster"
        return "within noise"


def _cases(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (row["group"], row["case"]): row["subject"] | {"unit": row["unit"]}
        for row in report["results"]
        if row["status"] == "ok" and row["subject"]
    }


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """One Change per case measured in both reports, in the order of ``after``."""
    old, new = _cases(before), _cases(after)
    changes = []
    for key, now in new.items():
        then = old.get(key)
        if then is None:
            continue
        noise = max(FLOOR, then.get("spread", 0.0), now.get("spread", 0.0))
        changes.append(Change(*key, now["unit"], then["median"], now["median"], noise))
    return changes


def markdown(changes: Sequence[Change]) -> str:
    lines = [
        "| group | case | before | after | after/before | noise | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in changes:
        lines.append(
            f"| {c.group} | {c.case} | {show(c.before, c.unit)} | {show(c.after, c.unit)} "
            f"| {c.ratio:.2f} | ±{c.noise:.0%} | {c.verdict} |"
        )
    slower = [c for c in changes if c.verdict == "slower"]
    lines += ["", f"{len(changes)} cases compared, {len(slower)} slower by more than their noise."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    reports = []
    for path in args:
        with open(path) as handle:
            reports.append(json.load(handle))
    print(markdown(compare(*reports)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
