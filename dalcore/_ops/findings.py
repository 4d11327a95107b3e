"""What ``dalcore check`` looks at and what it finds: the areas of the store, read a page at a
time, and for each finding the commit that fixes it with the checks that keep that commit safe
(see :mod:`dalcore._ops.check` for the rules)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from dalcore import _layout
from dalcore.api import (
    Absent,
    Check,
    Delete,
    Entry,
    Exists,
    Operation,
    Put,
    RevisionIs,
    ValueIs,
)
from dalcore.errors import CorruptDataError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject
    from dalcore._runtime import Runtime
    from dalcore._schema import HybridMeta

KINDS = {
    "invalid-document": "document that is not valid JSON or fails its hybrid's validation",
    "unknown-fields": "document with fields its hybrid does not declare",
    "relation-to-missing-object": "relation pointing at an object that does not exist",
    "reverse-entry-missing": "relation without its reverse-index entry",
    "reverse-entry-orphan": "reverse-index entry of a missing object or a changed relation",
    "one-to-one-conflict": "one-to-one reverse entry held by another object",
    "index-entry-missing": "indexed property without its index entry",
    "index-entry-orphan": "index entry of a missing object or an old value",
    "unique-entry-missing": "unique property value without its owner entry",
    "unique-entry-orphan": "unique owner entry of a missing object or an old value",
    "unique-value-shared": "unique value whose owner entry names another object",
    "link-marker-orphan": "link marker of a missing object",
    "unreadable-entry": "index or reverse entry whose key cannot be parsed",
    "plaintext-credential": "secret stored in plaintext (as Valence wrote it): register a "
    "credential provider and save the object to move it out",
}


@dataclasses.dataclass
class Finding:
    kind: str
    key: str
    detail: str
    operations: list[Operation] = dataclasses.field(default_factory=list)  # none: report only
    checks: list[Check] = dataclasses.field(default_factory=list)
    touched: list[str] = dataclasses.field(default_factory=list)  # object keys to hold
    lists: list[str] = dataclasses.field(default_factory=list)  # reverse lists to hold
    hybrid: HybridMeta | None = None


Handler = Callable[[list[Entry]], list[Finding]]


@dataclasses.dataclass
class Area:
    label: str
    prefix: str
    handler: Handler


def _doc(raw: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _decoded(meta: HybridMeta, entry: Entry | None) -> dict[str, Any] | None:
    """The object's document, or None when it is missing or fails validation (an invalid
    document is reported with the objects; the entries about it are left alone)."""
    if entry is None:
        return None
    guid = entry.key.rpartition("/")[2]
    try:
        return _layout.decode(meta, entry.key, guid, entry.value)[0]
    except CorruptDataError:
        return None


def _plaintext_credentials(meta: HybridMeta, key: str, doc: dict[str, Any]) -> list[Finding]:
    """Report-only findings for the credential fields of a Valence model still in plaintext."""
    fields = getattr(meta.cls, "_valence_fields", None)
    if not fields:
        return []
    from dalcore.compat._credentials import plaintext_paths

    return [
        Finding("plaintext-credential", key, f"{meta.name}.{name}{path}", hybrid=meta)
        for name, field in fields.items()
        if getattr(field, "credentials", False)
        for path in plaintext_paths(doc.get(name))
    ]


def _guarded_object(key: str, entry: Entry | None) -> Check:
    return Absent(key) if entry is None else RevisionIs(key, entry.revision)


class _Scanner:
    def __init__(self, rt: Runtime, hybrids: list[type[DataObject]]) -> None:
        self.rt = rt
        self.hybrids = hybrids

    def areas(self) -> list[Area]:
        rt = self.rt
        areas: list[Area] = []
        for cls in self.hybrids:
            meta = cls._meta
            name = meta.name
            areas.append(Area(f"{name} objects", _layout.prefix(rt, meta), self._objects(meta)))
        for cls in self.hybrids:
            meta = cls._meta
            ks = meta.keyspace
            for rname in meta.relations:
                base = f"{_layout.internal_prefix(rt, '.rel')}{ks}/{rname}/"
                areas.append(Area(f"{meta.name}.{rname} reverse", base, self._reverse(meta, rname)))
            for prop in meta.indexed:
                base = f"{_layout.internal_prefix(rt, '.idx')}{ks}/{prop.name}/"
                areas.append(
                    Area(f"{meta.name}.{prop.name} index", base, self._index(meta, prop.name))
                )
                if prop.unique:
                    base = f"{_layout.internal_prefix(rt, '.uniq')}{ks}/{prop.name}/"
                    areas.append(
                        Area(f"{meta.name}.{prop.name} unique", base, self._unique(meta, prop.name))
                    )
            base = f"{_layout.internal_prefix(rt, '.links')}{ks}/"
            areas.append(Area(f"{meta.name} link markers", base, self._markers(meta)))
        return areas

    # -- objects ---------------------------------------------------------------------------

    def _objects(self, meta: HybridMeta) -> Handler:
        rt = self.rt
        base = _layout.prefix(rt, meta)

        def handle(page: list[Entry]) -> list[Finding]:
            findings: list[Finding] = []
            wanted: list[str] = []
            decoded: list[tuple[Entry, str, dict[str, Any]]] = []
            for entry in page:
                guid = entry.key[len(base) :]
                if "/" in guid:
                    continue
                try:
                    doc, _ = _layout.decode(meta, entry.key, guid, entry.value)
                except CorruptDataError as exc:
                    findings.append(Finding("invalid-document", entry.key, str(exc), hybrid=meta))
                    continue
                data = _doc(entry.value) or {}
                unknown = sorted(n for n in data if n != "guid" and n not in meta.checks)
                if unknown:
                    findings.append(
                        Finding(
                            "unknown-fields", entry.key, f"{meta.name}: {', '.join(unknown)}",
                            [Put(entry.key, _layout.encode(doc))],
                            [RevisionIs(entry.key, entry.revision)], [entry.key], hybrid=meta,
                        )
                    )  # fmt: skip
                    continue  # the rest is checked on the rewritten document, next run
                decoded.append((entry, guid, doc))
                findings += _plaintext_credentials(meta, entry.key, doc)
                for name, rel in meta.relations.items():
                    target = doc[name + "_guid"]
                    if target is not None:
                        wanted.append(_layout.prefix(rt, meta.target(name)._meta) + target)
                        wanted.append(_layout.reverse_key(rt, meta, rel, target, guid))
                for prop in meta.indexed:
                    wanted.append(_layout.index_prefix(rt, meta, prop.name, doc[prop.name]) + guid)
                    if prop.unique and doc[prop.name] is not None:
                        wanted.append(_layout.unique_key(rt, meta, prop.name, doc[prop.name]))
            found = dict(zip(wanted, rt.store.get_many(wanted), strict=True))
            for entry, guid, doc in decoded:
                findings += self._object_links(meta, entry, guid, doc, found)
            return findings

        return handle

    def _object_links(
        self, meta: HybridMeta, entry: Entry, guid: str, doc: dict[str, Any],
        found: dict[str, Entry | None],
    ) -> list[Finding]:  # fmt: skip
        rt = self.rt
        key = entry.key
        guard = RevisionIs(key, entry.revision)
        findings: list[Finding] = []
        for name, rel in meta.relations.items():
            target = doc[name + "_guid"]
            if target is None:
                continue
            target_meta = meta.target(name)._meta
            target_key = _layout.prefix(rt, target_meta) + target
            reverse = _layout.reverse_key(rt, meta, rel, target, guid)
            lists = [_layout.reverse_prefix(rt, meta, rel, target)]
            if found[target_key] is None:
                detail = f"{meta.name}.{name} -> {target_meta.name} {target}"
                if rel.mandatory:
                    findings.append(
                        Finding("relation-to-missing-object", key,
                                detail + " (mandatory: needs a decision)", hybrid=meta)
                    )  # fmt: skip
                else:
                    fixed = dict(doc, **{name + "_guid": None})
                    findings.append(
                        Finding(
                            "relation-to-missing-object", key, detail + " (set to None)",
                            [Put(key, _layout.encode(fixed)), Delete(reverse)],
                            [guard, Absent(target_key)], [key], lists, meta,
                        )
                    )  # fmt: skip
                continue
            held = found[reverse]
            if held is None:
                findings.append(
                    Finding(
                        "reverse-entry-missing", reverse, f"{meta.name}.{name} of {guid}",
                        [Put(reverse, guid.encode() if rel.onetoone else b"")],
                        [guard, Absent(reverse), Exists(target_key)], [], lists, meta,
                    )
                )  # fmt: skip
            elif rel.onetoone and held.value.decode() != guid:
                findings.append(
                    Finding("one-to-one-conflict", reverse,
                            f"{meta.name}.{name}: {guid} and {held.value.decode()} both link "
                            f"to {target}", hybrid=meta)
                )  # fmt: skip
        for prop in meta.indexed:
            value = doc[prop.name]
            index = _layout.index_prefix(rt, meta, prop.name, value) + guid
            if found[index] is None:
                findings.append(
                    Finding("index-entry-missing", index, f"{meta.name}.{prop.name} = {value!r}",
                            [Put(index, b"")], [guard, Absent(index)], hybrid=meta)
                )  # fmt: skip
            if not prop.unique or value is None:
                continue
            owner = _layout.unique_key(rt, meta, prop.name, value)
            holder = found[owner]
            if holder is None:
                findings.append(
                    Finding("unique-entry-missing", owner, f"{meta.name}.{prop.name} of {guid}",
                            [Put(owner, guid.encode())], [guard, Absent(owner)], hybrid=meta)
                )  # fmt: skip
            elif holder.value.decode() != guid:
                findings.append(
                    Finding("unique-value-shared", key,
                            f"{meta.name}.{prop.name} = {value!r} is owned by "
                            f"{holder.value.decode()}", hybrid=meta)
                )  # fmt: skip
        return findings

    # -- entries pointing at objects -------------------------------------------------------

    def _sources(self, meta: HybridMeta, guids: list[str]) -> list[Entry | None]:
        base = _layout.prefix(self.rt, meta)
        return self.rt.store.get_many([base + guid for guid in guids])

    def _reverse(self, meta: HybridMeta, name: str) -> Handler:
        rt = self.rt
        rel = meta.relations[name]
        area = f"{_layout.internal_prefix(rt, '.rel')}{meta.keyspace}/{name}/"

        def handle(page: list[Entry]) -> list[Finding]:
            items = []
            findings = []
            for entry in page:
                rest = entry.key[len(area) :]
                if rel.onetoone:
                    target, guid = rest, entry.value.decode(errors="replace")
                else:
                    target, _, guid = rest.partition("/")
                if not target or not guid or "/" in guid:
                    findings.append(Finding("unreadable-entry", entry.key, "reverse entry"))
                    continue
                items.append((entry, target, guid))
            sources = self._sources(meta, [guid for _, _, guid in items])
            for (entry, target, guid), source in zip(items, sources, strict=True):
                doc = _decoded(meta, source)
                if source is not None and doc is None:
                    continue  # an unreadable document: reported with the objects
                if doc is not None and doc.get(name + "_guid") == target:
                    continue
                why = "missing" if source is None else f"links to {doc and doc.get(name + '_guid')}"
                object_key = _layout.prefix(rt, meta) + guid
                findings.append(
                    Finding(
                        "reverse-entry-orphan", entry.key, f"{meta.name} {guid} {why}",
                        [Delete(entry.key)],
                        [ValueIs(entry.key, entry.value), _guarded_object(object_key, source)],
                        [], [_layout.reverse_prefix(rt, meta, rel, target)], meta,
                    )
                )  # fmt: skip
            return findings

        return handle

    def _index(self, meta: HybridMeta, field: str) -> Handler:
        area = f"{_layout.internal_prefix(self.rt, '.idx')}{meta.keyspace}/{field}/"

        def parse(entry: Entry) -> tuple[Any, str]:
            encoded, _, guid = entry.key[len(area) :].rpartition("/")
            return orjson.loads(encoded), guid

        return self._value_entries(meta, field, "index", parse, lambda e: Exists(e.key))

    def _unique(self, meta: HybridMeta, field: str) -> Handler:
        area = f"{_layout.internal_prefix(self.rt, '.uniq')}{meta.keyspace}/{field}/"

        def parse(entry: Entry) -> tuple[Any, str]:
            return orjson.loads(entry.key[len(area) :]), entry.value.decode(errors="replace")

        def unchanged(entry: Entry) -> Check:
            return ValueIs(entry.key, entry.value)

        return self._value_entries(meta, field, "unique", parse, unchanged, "owner ")

    def _value_entries(
        self,
        meta: HybridMeta,
        field: str,
        kind: str,
        parse: Callable[[Entry], tuple[Any, str]],
        unchanged: Callable[[Entry], Check],
        role: str = "",
    ) -> Handler:
        """Index or unique entries (``kind``) of ``field``: each ``parse``s to (value, guid) and
        is an orphan unless that object holds that value; the repair deletes the entry while
        it is ``unchanged`` and the object is as read."""
        rt = self.rt

        def handle(page: list[Entry]) -> list[Finding]:
            items = []
            findings = []
            for entry in page:
                try:
                    value, guid = parse(entry)
                except orjson.JSONDecodeError:
                    findings.append(Finding("unreadable-entry", entry.key, f"{kind} entry"))
                    continue
                items.append((entry, value, guid))
            sources = self._sources(meta, [guid for _, _, guid in items])
            for (entry, value, guid), source in zip(items, sources, strict=True):
                doc = _decoded(meta, source)
                if source is not None and doc is None:
                    continue
                if doc is not None and doc.get(field) == value:
                    continue
                object_key = _layout.prefix(rt, meta) + guid
                why = "missing" if doc is None else f"now {doc.get(field)!r}"
                findings.append(
                    Finding(
                        f"{kind}-entry-orphan", entry.key, f"{role}{meta.name} {guid} {why}",
                        [Delete(entry.key)],
                        [unchanged(entry), _guarded_object(object_key, source)], hybrid=meta,
                    )
                )  # fmt: skip
            return findings

        return handle

    def _markers(self, meta: HybridMeta) -> Handler:
        rt = self.rt
        area = f"{_layout.internal_prefix(rt, '.links')}{meta.keyspace}/"

        def handle(page: list[Entry]) -> list[Finding]:
            guids = [entry.key[len(area) :] for entry in page]
            findings = []
            for entry, guid, source in zip(page, guids, self._sources(meta, guids), strict=True):
                if source is not None:
                    continue
                object_key = _layout.prefix(rt, meta) + guid
                findings.append(
                    Finding(
                        "link-marker-orphan", entry.key, f"{meta.name} {guid} missing",
                        [Delete(entry.key)],
                        [RevisionIs(entry.key, entry.revision), Absent(object_key)], hybrid=meta,
                    )
                )  # fmt: skip
            return findings

        return handle
