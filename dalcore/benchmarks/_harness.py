"""Timing: alternate a subject with its baselines in the same process, repeat, take medians.

The machine is shared and noisy, so an absolute figure says little on its own. Every timed case
runs its subject and each baseline in turn (the order flips every repeat so that a drift in
machine load hits both alike) and the figure that matters is the median of the per-repeat
ratios subject / baseline.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
import timeit
from collections.abc import Callable, Sequence
from typing import Any

#: A timer runs ``n`` operations and returns the seconds they took (setup excluded).
Timer = Callable[[int], float]


@dataclasses.dataclass(frozen=True)
class Settings:
    """How hard to measure: quick mode trades precision for a run of under two minutes."""

    quick: bool
    repeats: int
    batch_seconds: float  # each timed batch runs about this long
    warmup_batches: int
    sizes: dict[str, Any]

    @classmethod
    def make(cls, quick: bool, smoke: bool = False) -> Settings:
        if smoke:  # the test suite's smoke run: every case once, tiny sizes
            return cls(True, 2, 0.002, 0, _SMOKE_SIZES)
        if quick:
            return cls(True, 5, 0.02, 1, _QUICK_SIZES)
        return cls(False, 11, 0.1, 2, _FULL_SIZES)


_FULL_SIZES: dict[str, Any] = {
    "reverse": (10, 100, 1000),
    "query": (1_000, 10_000, 100_000),
    "bulk": 1000,
    "memory_objects": 5000,
    "locked_processes": 16,
}
_QUICK_SIZES: dict[str, Any] = {
    "reverse": (10, 100, 1000),
    "query": (1_000, 5_000, 20_000),
    "bulk": 1000,
    "memory_objects": 2000,
    "locked_processes": 16,
}
_SMOKE_SIZES: dict[str, Any] = {
    "reverse": (10, 100),
    "query": (200, 1_000),
    "bulk": 50,
    "memory_objects": 100,
    "locked_processes": 4,
}


@dataclasses.dataclass
class Stat:
    """Per-operation figures over the repeats (seconds, or ``unit`` for non-timings)."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p25(self) -> float:
        return _quantile(self.samples, 0.25)

    @property
    def p75(self) -> float:
        return _quantile(self.samples, 0.75)

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (0.05: the middle half lies within 5%)."""
        median = self.median
        return (self.p75 - self.p25) / median if median else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "p25": self.p25,
            "p75": self.p75,
            "spread": self.spread,
            "samples": self.samples,
        }


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def loop(operation: Callable[[], object]) -> Timer:
    """A timer calling ``operation`` n times."""

    def run(n: int) -> float:
        clock = time.perf_counter
        started = clock()
        for _ in range(n):
            operation()
        return clock() - started

    return run


def unrolled(statement: str, namespace: dict[str, Any], copies: int = 20) -> Timer:
    """A timer for a statement of a few nanoseconds: unrolled, so loop overhead stays small."""
    timer = timeit.Timer("; ".join([statement] * copies), globals=namespace)

    def run(n: int) -> float:
        return timer.timeit(max(1, n // copies))

    return run


def with_setup(prepare: Callable[[], object], operation: Callable[[], object]) -> Timer:
    """A timer where ``prepare`` (untimed) runs before every ``operation`` (timed)."""

    def run(n: int) -> float:
        clock = time.perf_counter
        total = 0.0
        for _ in range(n):
            prepare()
            started = clock()
            operation()
            total += clock() - started
        return total

    return run


@dataclasses.dataclass
class Measured:
    subject: Stat
    baselines: dict[str, Stat]
    ratios: dict[str, Stat]  # per-repeat subject / baseline, per baseline
    ops_per_batch: int


def measure(
    settings: Settings,
    subject: Timer,
    baselines: dict[str, Timer],
    ops: int | None = None,
) -> Measured:
    """Time ``subject`` and each baseline alternately; per-op seconds and per-repeat ratios.

    ``ops`` fixes the batch size (for operations that are slow or consume state); otherwise
    it is calibrated on the subject so that one batch lasts about ``settings.batch_seconds``.
    """
    n = ops if ops is not None else _calibrate(subject, settings.batch_seconds)
    contenders = [("subject", subject), *baselines.items()]
    for _ in range(settings.warmup_batches):
        for _, timer in contenders:
            timer(n)
    per_op: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for repeat in range(settings.repeats):
        order = contenders if repeat % 2 == 0 else contenders[::-1]
        for name, timer in order:
            per_op[name].append(timer(n) / n)
    ratios = {
        name: Stat([s / b for s, b in zip(per_op["subject"], per_op[name], strict=True)])
        for name in baselines
    }
    return Measured(
        Stat(per_op["subject"]),
        {name: Stat(per_op[name]) for name in baselines},
        ratios,
        n,
    )


def _calibrate(timer: Timer, batch_seconds: float) -> int:
    timer(1)  # the first call pays for imports, connections and specialisation
    n = 1
    while True:
        took = timer(n)
        if took >= batch_seconds / 4 or n >= 10_000_000:
            break
        n *= 10 if took < batch_seconds / 100 else 2
    # One warm run happened at size n; scale to the wanted batch length.
    return max(1, int(n * batch_seconds / max(took, 1e-9)))
