"""``dalcore check [--repair]``: find (and fix) what a crash or a bug left wrong in the store.

The store is read area by area, in a fixed order: each hybrid's objects (documents that fail
validation or carry unknown fields, relations to missing objects, missing reverse, index and
unique entries), then its reverse-index, index, unique and link-marker areas (entries whose
object is gone or no longer agrees). Every finding carries the commit that fixes it and the
checks that make that commit safe: the fix is applied only if what was read is still there
(``RevisionIs``/``ValueIs``/``Absent``/``Exists``), so a save made meanwhile wins and the
finding is counted as "changed meanwhile" instead of being overwritten.

With ``repair`` the position is kept in the store (``ns/.check/cursor``) after each page, so an
interrupted repair continues where it stopped. Some findings need a person (a document that
fails validation, a mandatory relation to a missing object, a unique value two objects share):
they are reported, never guessed at.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson

from dalcore import _layout, _objcache
from dalcore._ops.findings import Area, Finding, _Scanner
from dalcore._ops.progress import Progress
from dalcore.api import AssertionFailedError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject
    from dalcore._runtime import Runtime


@dataclasses.dataclass
class CheckReport:
    scanned: int = 0
    found: Counter[str] = dataclasses.field(default_factory=Counter)
    repaired: Counter[str] = dataclasses.field(default_factory=Counter)
    changed: Counter[str] = dataclasses.field(default_factory=Counter)  # moved on meanwhile
    needs_person: Counter[str] = dataclasses.field(default_factory=Counter)
    examples: dict[str, list[dict[str, str]]] = dataclasses.field(default_factory=dict)
    resumed_after: dict[str, str] | None = None
    unchecked: int = 0  # keys of no imported hybrid (see _unchecked)
    unchecked_examples: list[str] = dataclasses.field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.found

    def as_json(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "clean": self.clean,
            "found": dict(sorted(self.found.items())),
            "repaired": dict(sorted(self.repaired.items())),
            "changed_meanwhile": dict(sorted(self.changed.items())),
            "needs_a_person": dict(sorted(self.needs_person.items())),
            "examples": dict(sorted(self.examples.items())),
            "resumed_after": self.resumed_after,
            "unchecked": {"count": self.unchecked, "examples": self.unchecked_examples},
        }


def _cursor_key(rt: Runtime) -> str:
    return _layout.internal_prefix(rt, ".check") + "cursor"


def check(
    rt: Runtime,
    hybrids: list[type[DataObject]],
    repair: bool = False,
    restart: bool = False,
    batch: int = 200,
    examples: int = 5,
) -> CheckReport:
    """Scan (and with ``repair``, fix) the store's objects and dalcore's entries about them."""
    report = CheckReport()
    areas = _Scanner(rt, hybrids).areas()
    start_area, start_key = 0, None
    cursor_key = _cursor_key(rt)
    if repair:
        if restart:
            rt.store.delete(cursor_key)
        saved = rt.store.get_many([cursor_key])[0]
        labels = [area.label for area in areas]
        if saved is not None:
            position = orjson.loads(saved.value)
            if position.get("area") in labels:
                start_area, start_key = labels.index(position["area"]), position.get("key")
                report.resumed_after = position
    if start_area == 0 and start_key is None:
        report.unchecked, report.unchecked_examples = _unchecked(rt, areas, examples)
    total = sum(sum(1 for _ in rt.store.keys(area.prefix)) for area in areas[start_area:])
    with Progress(total, "repair" if repair else "check") as progress:
        for number, area in enumerate(areas[start_area:], start_area):
            after = start_key if number == start_area else None
            while True:
                page = rt.store.scan_page(area.prefix, after, batch)
                if not page:
                    break
                for finding in area.handler(page):
                    _record(report, finding, examples)
                    if repair:
                        _repair(rt, report, finding)
                after = page[-1].key
                report.scanned += len(page)
                progress.update(len(page))
                if repair:
                    position = {"area": area.label, "key": after}
                    rt.store.set(cursor_key, orjson.dumps(position))
    if repair:
        rt.store.delete(cursor_key)
    return report


# dalcore's own bookkeeping, not about objects: nothing to check there.
_BOOKKEEPING = (".locks/", ".reindex/", ".check/", ".doctor/", ".sync")


def _unchecked(rt: Runtime, areas: list[Area], examples: int) -> tuple[int, list[str]]:
    """Keys in the namespace that no area covers: objects and entries of hybrids that were not
    imported (so cannot be judged), or keys another program wrote."""
    scope = f"{rt.namespace}/" if rt.namespace else ""
    prefixes = sorted(area.prefix for area in areas)
    count, shown = 0, list[str]()
    for key in rt.store.keys(scope):
        index = bisect.bisect_right(prefixes, key) - 1
        if index >= 0 and key.startswith(prefixes[index]):
            continue
        if key[len(scope) :].startswith(_BOOKKEEPING):
            continue
        if any(key.startswith(prefix) for prefix in prefixes):  # nested prefixes
            continue
        count += 1
        if len(shown) < examples:
            shown.append(key)
    return count, shown


def _record(report: CheckReport, finding: Finding, examples: int) -> None:
    report.found[finding.kind] += 1
    shown = report.examples.setdefault(finding.kind, [])
    if len(shown) < examples:
        shown.append({"key": finding.key, "detail": finding.detail})


def _repair(rt: Runtime, report: CheckReport, finding: Finding) -> None:
    if not finding.operations:
        report.needs_person[finding.kind] += 1
        return
    try:
        rt.commit(finding.operations, finding.checks)
    except AssertionFailedError:
        # What was read is no longer there: a save fixed or changed it. Run check again.
        report.changed[finding.kind] += 1
        return
    hybrids = [finding.hybrid] if finding.hybrid is not None else []
    _objcache.changed(rt, finding.touched, hybrids, finding.lists)
    report.repaired[finding.kind] += 1


def print_report(out: Any, report: CheckReport, repair: bool) -> None:
    from dalcore._ops import table

    out.write(f"{report.scanned} keys scanned")
    if report.resumed_after:
        out.write(f", resumed after {report.resumed_after['area']} {report.resumed_after['key']}")
    out.write("\n")
    if report.unchecked:
        out.write(
            f"{report.unchecked} keys belong to no imported hybrid and were not checked "
            f"(import their package with --hybrids), e.g. {report.unchecked_examples[0]}\n"
        )
    if report.clean:
        out.write("no problems found\n")
        return
    header = ["finding", "found", *(["repaired", "changed", "needs a person"] if repair else [])]
    rows = []
    for kind, count in sorted(report.found.items()):
        row: list[Any] = [kind, count]
        if repair:
            row += [report.repaired[kind], report.changed[kind], report.needs_person[kind]]
        rows.append(row)
    table(out, header, rows)
    out.write("\nexamples:\n")
    for kind, shown in sorted(report.examples.items()):
        for example in shown:
            out.write(f"  {kind}: {example['key']} ({example['detail']})\n")
