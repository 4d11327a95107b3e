"""What a case produces: figures, the baseline they are compared with, and the targets."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from dalcore.benchmarks._harness import Measured, Stat

OK = "ok"
SKIPPED = "skipped"
PENDING = "not available yet"
ERROR = "error"


@dataclasses.dataclass(frozen=True)
class Target:
    """A goal from the issues, checked against a finished result."""

    text: str
    check: Callable[[Result], bool]


@dataclasses.dataclass
class Result:
    group: str
    case: str
    status: str = OK
    note: str = ""
    unit: str = "s"  # "s": seconds per operation; otherwise what ``subject`` counts
    subject: Stat | None = None
    baseline: str | None = None  # name of the baseline the ratio is taken against
    baselines: dict[str, Stat] = dataclasses.field(default_factory=dict)
    ratio: Stat | None = None
    targets: list[Target] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.status != OK or not self.targets:
            return None
        return all(target.check(self) for target in self.targets)

    def target_results(self) -> list[tuple[str, bool | None]]:
        return [
            (target.text, target.check(self) if self.status == OK else None)
            for target in self.targets
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "case": self.case,
            "status": self.status,
            "note": self.note,
            "unit": self.unit,
            "subject": None if self.subject is None else self.subject.to_json(),
            "baseline": self.baseline,
            "baselines": {name: stat.to_json() for name, stat in self.baselines.items()},
            "ratio": None if self.ratio is None else self.ratio.to_json(),
            "targets": [{"target": text, "met": met} for text, met in self.target_results()],
            "met": self.met,
            "extra": self.extra,
        }


def timed(
    group: str,
    case: str,
    measured: Measured,
    targets: list[Target] | None = None,
    baseline: str | None = None,
    note: str = "",
    **extra: Any,
) -> Result:
    """A timing result; the ratio is taken against ``baseline`` or else the fastest baseline."""
    chosen = baseline
    if chosen is None and measured.baselines:
        chosen = min(measured.baselines, key=lambda name: measured.baselines[name].median)
    extra["ops_per_batch"] = measured.ops_per_batch
    return Result(
        group,
        case,
        note=note,
        subject=measured.subject,
        baseline=chosen,
        baselines=measured.baselines,
        ratio=None if chosen is None else measured.ratios[chosen],
        targets=targets or [],
        extra=extra,
    )


def skipped(group: str, case: str, reason: str) -> Result:
    return Result(group, case, status=SKIPPED, note=reason)


def pending(group: str, case: str, what: str, targets: list[Target] | None = None) -> Result:
    return Result(group, case, status=PENDING, note=f"needs {what}", targets=targets or [])


# -- targets --------------------------------------------------------------------------------


def ratio_at_most(limit: float, what: str) -> Target:
    return Target(
        f"<= {limit:g}x {what}", lambda r: r.ratio is not None and r.ratio.median <= limit
    )


def faster_than(factor: float, what: str) -> Target:
    """The subject at least ``factor`` times faster than the baseline (ratio <= 1/factor)."""
    return Target(
        f">= {factor:g}x faster than {what}",
        lambda r: r.ratio is not None and r.ratio.median <= 1 / factor,
    )


def at_most_seconds(limit: float, what: str) -> Target:
    return Target(
        f"<= {format_seconds(limit)} ({what})",
        lambda r: r.subject is not None and r.subject.median <= limit,
    )


def extra_equals(key: str, value: Any, text: str) -> Target:
    return Target(text, lambda r: r.extra.get(key) == value)


def format_seconds(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


# Open vStorage DAL figures on this machine kind (issues 3 and 4); dalcore aims 10x below them.
OVS_CACHED_LOAD = 72e-6
OVS_CACHED_DYNAMIC = 2.2e-6
OVS_REVERSE_LENGTH = 12e-6
OVS_ONE_FIELD_SAVE = 166e-6
OVS_CACHED_QUERY = 29e-6
# Issue 16: the original ported to Python 3.11 and run side by side with dalcore (its dummy
# stores, same machine, alternating runs): a loaded object's cached dynamic, and len() of a
# reverse list of one object, each read 5,000 times in a row.
OVS_SIDE_BY_SIDE_DYNAMIC = 2.6e-6
OVS_SIDE_BY_SIDE_LENGTH_OF_ONE = 13.6e-6


def ten_x_ovs(figure: float, what: str) -> Target:
    return at_most_seconds(figure / 10, f"10x faster than OVS {what} {format_seconds(figure)}")
