"""Group ``queries``: indexed equality at growing store sizes, full scans, cached results.

The same store grows from the smallest size to the largest; at each size the indexed query
(100 matches whatever the size) and a one-field save are timed. Scaling rows compare a size
with the smallest: those two figures are taken one after the other, not alternately.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import dalcore
from dalcore import _layout
from dalcore._backends.tiered import NullCache
from dalcore.benchmarks._common import configured
from dalcore.benchmarks._env import Environment
from dalcore.benchmarks._harness import Measured, Stat, loop, measure
from dalcore.benchmarks._model import QUERY_MATCHES, BenchItem, make_item
from dalcore.benchmarks._results import (
    OVS_CACHED_QUERY,
    Result,
    pending,
    ratio_at_most,
    ten_x_ovs,
    timed,
)

_STATUSES = ("RUNNING", "STOPPED")


def queries(env: Environment) -> Iterator[Result]:
    group = "queries"
    sizes: tuple[int, ...] = env.settings.sizes["query"]
    data_list = getattr(dalcore, "DataList", None)
    if data_list is None:
        for size in sizes:
            yield pending(
                group, f"indexed equality query, {QUERY_MATCHES} of {size:,}", "DataList (issue 4)"
            )
        yield pending(group, "full-scan query", "DataList (issue 4)")
        yield pending(
            group,
            "cached query result",
            "DataList (issue 4)",
            [ten_x_ovs(OVS_CACHED_QUERY, "cached query")],
        )
        return
    operator, where = dalcore.Operator, dalcore.WhereOperator
    hit: dict[str, Any] = {"type": where.AND, "items": [("bucket", operator.EQUALS, "hit")]}

    def indexed() -> list[str]:
        return list(data_list(BenchItem, hit).guids)

    first_query: Stat | None = None
    first_save: Stat | None = None
    # Caches off: every query runs against the store (a cached result would hide the index).
    with configured("memory://", NullCache()) as rt:
        stored = 0
        index = _layout.index_prefix(rt, BenchItem._meta, "bucket", "hit")
        store = rt.store
        probe = make_item(10**9)
        for size in sizes:
            _grow(stored, size)
            stored = size
            measured = measure(
                env.settings,
                loop(indexed),
                {"store key scan of the index entries": loop(lambda: list(store.keys(index)))},
            )
            assert len(indexed()) == QUERY_MATCHES
            result = timed(
                group, f"indexed equality query, {QUERY_MATCHES} of {size:,} objects", measured
            )
            yield result
            if first_query is None:
                first_query = measured.subject
            else:
                yield _scaling(
                    group,
                    f"indexed query: {size:,} vs {sizes[0]:,} objects",
                    measured.subject,
                    first_query,
                    sizes[0],
                )
            save = _save_timer(probe)
            saved = measure(env.settings, save, {})
            if first_save is None:
                first_save = saved.subject
                yield _single(
                    group, f"one-field save, {size:,} objects stored (memory store)", saved
                )
            else:
                yield _scaling(
                    group,
                    f"one-field save: {size:,} vs {sizes[0]:,} objects stored",
                    saved.subject,
                    first_save,
                    sizes[0],
                )
            if size == sizes[0] or (size <= 10_000 and not env.settings.quick):
                scan: dict[str, Any] = {
                    "type": where.AND,
                    "items": [("size", operator.EQUALS, 5 * 1024)],
                }
                measured = measure(
                    env.settings,
                    loop(partial(_guids, data_list, scan)),
                    {"the indexed query at the same size": loop(indexed)},
                )
                yield timed(
                    group,
                    f"full-scan query (unindexed field), {size:,} objects",
                    measured,
                    note="for contrast: every object is read",
                )

    with configured("memory://", "memory://") as rt:
        _grow(0, sizes[0])
        cache = rt.cache
        len(data_list(BenchItem, hit))  # fills the result cache
        cached_list = data_list(BenchItem, hit)
        len(cached_list)
        assert cached_list.explain()["cached"], "the query result was not cached"
        measured = measure(
            env.settings,
            loop(lambda: len(data_list(BenchItem, hit))),
            {"in-process cache get of one key": loop(lambda: cache.get("none"))},
        )
        yield timed(
            group,
            f"cached query result ({QUERY_MATCHES} guids, in-process cache)",
            measured,
            [ten_x_ovs(OVS_CACHED_QUERY, "cached query")],
        )


def _guids(data_list: Any, query: dict[str, Any]) -> list[str]:
    return list(data_list(BenchItem, query).guids)


def _grow(start: int, end: int) -> None:
    """Store objects ``start`` .. ``end - 1`` (in transactions of 500 when dalcore has them)."""
    transaction = getattr(dalcore, "transaction", None)
    for low in range(start, end, 500):
        high = min(low + 500, end)
        if transaction is None:
            for index in range(low, high):
                make_item(index)
            continue
        with transaction():
            for index in range(low, high):
                make_item(index)


def _save_timer(item: BenchItem) -> Callable[[int], float]:
    flips = [0]

    def save() -> None:
        flips[0] += 1
        item.status = _STATUSES[flips[0] % 2]
        item.save()

    return loop(save)


def _single(group: str, case: str, measured: Measured) -> Result:
    return Result(
        group, case, subject=measured.subject, extra={"ops_per_batch": measured.ops_per_batch}
    )


def _scaling(group: str, case: str, now: Stat, first: Stat, first_size: int) -> Result:
    ratios = [now.median / first.median]
    label = f"the same at {first_size:,} objects"
    return Result(
        group,
        case,
        subject=now,
        baseline=label,
        baselines={label: first},
        ratio=Stat(ratios),
        targets=[ratio_at_most(1.5, label)],
        note="measured one after the other as the store grew, not alternately",
    )
