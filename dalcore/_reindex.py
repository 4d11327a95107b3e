"""Build the index entries of properties that became ``indexed`` or ``unique`` after data existed.

Safe while the service runs: each batch is committed with a revision check on every object in
it, so an object saved meanwhile (which wrote its own, current index entries) makes that batch
retry from the store instead of writing entries for an old value. Resumable: the last guid done
is kept in the store, and a new run continues after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from dalcore import _layout, _objcache
from dalcore._runtime import Runtime, runtime
from dalcore.api import (
    Absent,
    AssertionFailedError,
    Check,
    Delete,
    Entry,
    Operation,
    Put,
    RevisionIs,
)
from dalcore.errors import CorruptDataError, RaceConditionError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject

Progress = Callable[[int, int], None]  # (objects done, objects in all)


@dataclasses.dataclass
class ReindexReport:
    objects: int = 0  # objects checked
    added: int = 0  # index entries written
    removed: int = 0  # stale index entries removed
    duplicates: list[tuple[str, object, str, str]] = dataclasses.field(default_factory=list)
    resumed_after: str | None = None  # guid a previous, interrupted run had reached


def _checkpoint(rt: Runtime, hybrid: type[DataObject]) -> str:
    return _layout.internal_prefix(rt, ".reindex") + hybrid._meta.keyspace


def reindex(
    hybrid: type[DataObject],
    progress: Progress | None = None,
    batch: int = 200,
    restart: bool = False,
) -> ReindexReport:
    """Make the index entries of ``hybrid`` match its stored objects.

    ``duplicates`` lists ``(field, value, guid, holder)`` for unique values that two objects
    share: those objects keep working, but the value is not claimed for the second one until
    the data is fixed and reindex runs again.
    """
    rt = runtime()
    meta = hybrid._meta
    report = ReindexReport()
    checkpoint = _checkpoint(rt, hybrid)
    base = _layout.prefix(rt, meta)
    if restart:
        rt.store.delete(checkpoint)
    saved = rt.store.get_many([checkpoint])[0]
    after = saved.value.decode() if saved is not None else None
    report.resumed_after = after
    cursor = None if after is None else base + after
    # One pass over the keys for both counts the progress reports.
    total = done = 0
    for key in rt.store.keys(base):
        total += 1
        if cursor is not None and key <= cursor:
            done += 1
    while True:
        page = rt.store.scan_page(base, cursor, batch)
        if not page:
            break
        _index_page(rt, hybrid, page, report)
        cursor = page[-1].key
        rt.store.set(checkpoint, cursor[len(base) :].encode())
        done += len(page)
        report.objects += len(page)
        if progress is not None:
            progress(done, total)
    _remove_stale(rt, hybrid, report)
    rt.store.delete(checkpoint)
    _objcache.changed(rt, [], [meta])
    return report


def _index_page(
    rt: Runtime, hybrid: type[DataObject], page: list[Entry], report: ReindexReport
) -> None:
    for _ in range(5):
        operations, checks, duplicates = _plan(rt, hybrid, page)
        if operations:
            try:
                rt.commit(operations, checks)
            except AssertionFailedError:
                # Something in the page changed meanwhile: re-read it and plan again.
                fresh = rt.store.get_many([entry.key for entry in page])
                page = [entry for entry in fresh if entry is not None]
                continue
        report.added += sum(1 for op in operations if isinstance(op, Put))
        report.duplicates += duplicates
        return
    if len(page) > 1:  # heavy contention on this page: one object per commit instead
        for entry in page:
            _index_page(rt, hybrid, [entry], report)
        return
    raise RaceConditionError(hybrid._meta.name, page[0].key, 5)


def _plan(
    rt: Runtime, hybrid: type[DataObject], page: list[Entry]
) -> tuple[list[Operation], list[Check], list[tuple[str, object, str, str]]]:
    meta = hybrid._meta
    base = _layout.prefix(rt, meta)
    wanted: list[tuple[Entry, str, str, object, bool]] = []  # entry, key, field, value, unique
    for entry in page:
        guid = entry.key[len(base) :]
        if "/" in guid:
            continue  # not an object of this hybrid (a deeper key sharing the prefix)
        doc, _ = _layout.decode(meta, entry.key, guid, entry.value)
        for prop in meta.indexed:
            value = doc[prop.name]
            index = _layout.index_prefix(rt, meta, prop.name, value) + guid
            wanted.append((entry, index, prop.name, value, False))
            if prop.unique and value is not None:
                owner = _layout.unique_key(rt, meta, prop.name, value)
                wanted.append((entry, owner, prop.name, value, True))
    existing = rt.store.get_many([item[1] for item in wanted])
    operations: list[Operation] = []
    checks: list[Check] = []
    duplicates: list[tuple[str, object, str, str]] = []
    guarded: set[str] = set()
    claimed: dict[str, str] = {}  # unique key -> guid claiming it in this page
    for (entry, key, field, value, unique), found in zip(wanted, existing, strict=True):
        guid = entry.key[len(base) :]
        if unique:
            holder = found.value.decode() if found is not None else claimed.get(key)
            if holder is not None:
                if holder != guid:
                    duplicates.append((field, value, guid, holder))
                continue
            claimed[key] = guid
            operations.append(Put(key, guid.encode()))
            checks.append(Absent(key))
        elif found is None:
            operations.append(Put(key, b""))
        else:
            continue
        if entry.key not in guarded:
            guarded.add(entry.key)
            checks.append(RevisionIs(entry.key, entry.revision))
    return operations, checks, duplicates


def _remove_stale(rt: Runtime, hybrid: type[DataObject], report: ReindexReport) -> None:
    """Drop index entries whose object is gone or now has another value."""
    meta = hybrid._meta
    base = _layout.prefix(rt, meta)
    for prop in meta.indexed:
        area = _layout.index_prefix(rt, meta, prop.name, None)
        area = area[: area.rindex("/", 0, len(area) - 1) + 1]  # .../<field>/
        for key in rt.store.keys(area):
            encoded, _, guid = key[len(area) :].rpartition("/")
            try:
                value = orjson.loads(encoded)
            except orjson.JSONDecodeError:
                raise CorruptDataError(key, "index entry with an unreadable value") from None
            entry = rt.store.get_many([base + guid])[0]
            if entry is not None:
                doc, _ = _layout.decode(meta, entry.key, guid, entry.value)
                if doc[prop.name] == value:
                    continue
            check: Check = (
                Absent(base + guid) if entry is None else RevisionIs(entry.key, entry.revision)
            )
            operations: list[Operation] = [Delete(key)]
            if prop.unique and value is not None:
                owner = _layout.unique_key(rt, meta, prop.name, value)
                holder = rt.store.get_many([owner])[0]
                if holder is not None and holder.value.decode() == guid:
                    operations.append(Delete(owner))
            try:
                rt.commit(operations, [check])
            except AssertionFailedError:
                continue  # the object changed meanwhile; its own save keeps its entries right
            report.removed += len(operations)
