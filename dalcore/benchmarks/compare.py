"""Two benchmark reports side by side: which cases moved by more than their noise.

    python -m dalcore.benchmarks.compare before.json after.json

A case's noise is the larger relative interquartile range of its two runs, and at least
``FLOOR``: on a shared 2-core machine, runs of the same code differ by a few percent. A case
is slower (or faster) when its median moved by more than that and, where it has a baseline
(the raw client, timed alternately with it in the same run), so did its ratio to that
baseline: a server or a machine that got slower between the runs moves both the case and
its baseline, and is not the code's doing. For a size (bytes per object) "slower" means
larger.
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
    ratio_before: float | None = None  # to the case's own baseline, in each run
    ratio_after: float | None = None

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else float("inf")

    @property
    def verdict(self) -> str:
        relative = (
            None
            if not (self.ratio_before and self.ratio_after)
            else self.ratio_after / self.ratio_before
        )
        if self.ratio > 1 + self.noise and (relative is None or relative > 1 + self.noise):
            return "slower"
        if self.ratio < 1 - self.noise and (relative is None or relative < 1 - self.noise):
            return "faster"
        return "within noise"


def _cases(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    cases = {}
    for row in report["results"]:
        if row["status"] == "ok" and row["subject"]:
            ratio = row.get("ratio")
            to_baseline = ratio["median"] if isinstance(ratio, dict) else ratio
            cases[(row["group"], row["case"])] = {
                **row["subject"],
                "unit": row["unit"],
                "to_baseline": to_baseline,
            }
    return cases


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """One Change per case measured in both reports, in the order of ``after``."""
    old, new = _cases(before), _cases(after)
    changes = []
    for key, now in new.items():
        then = old.get(key)
        if then is None:
            continue
        noise = max(FLOOR, then.get("spread", 0.0), now.get("spread", 0.0))
        change = Change(*key, now["unit"], then["median"], now["median"], noise)
        change.ratio_before, change.ratio_after = then["to_baseline"], now["to_baseline"]
        changes.append(change)
    return changes


def markdown(changes: Sequence[Change]) -> str:
    lines = [
        "| group | case | before | after | after/before | to baseline | noise | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in changes:
        lines.append(
            f"| {c.group} | {c.case} | {show(c.before, c.unit)} | {show(c.after, c.unit)} "
            f"| {c.ratio:.2f} | {_ratios(c)} | ±{c.noise:.0%} | {c.verdict} |"
        )
    slower = [c for c in changes if c.verdict == "slower"]
    lines += ["", f"{len(changes)} cases compared, {len(slower)} slower by more than their noise."]
    return "\n".join(lines)


def _ratios(change: Change) -> str:
    if not (change.ratio_before and change.ratio_after):
        return ""
    return f"{change.ratio_before:.2f}x -> {change.ratio_after:.2f}x"


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
