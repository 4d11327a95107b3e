"""What a save or a delete writes: the operations and checks of one commit, and how a save
that lost a race to another writer is merged with what that writer stored.

Functions here take the object (a DataObject) and the runtime; the object model's ``save()``
and ``delete()`` run them in their retry loops or hand their plans to a transaction.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from dalcore import _layout, _objcache
from dalcore._attributes import family
from dalcore._runtime import Runtime
from dalcore._schema import replacement
from dalcore._structures import Relation
from dalcore._transaction import SavePlan
from dalcore.api import Absent, Check, Delete, Exists, Operation, Put, RevisionIs
from dalcore.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    LinkedObjectsError,
    ObjectNotFoundError,
    UniqueConstraintError,
    ValidationError,
)

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject
    from dalcore._schema import HybridMeta

_UNSET = object()

#: Shortest first and longest pause between two attempts of a save or delete that lost a race.
BACKOFF_FIRST = 0.005
BACKOFF_LONGEST = 0.5


def backoff(attempt: int, took: float) -> None:
    """Pause before attempt ``attempt + 2``, at random up to a bound that doubles per attempt
    and starts at what the lost attempt took.

    Writers that collided and retried at once would collide again; spreading them at random
    ("full jitter") over a few commit times lets one through per slot. Scaling by the commit
    time makes that hold for a store that commits in 50 us and for one that takes 10 ms
    (etcd's fsync): with 8 writers on one etcd object, fewer than 1% of saves run out of
    attempts (``python -m dalcore.benchmarks --only coherence``).
    """
    bound = min(BACKOFF_LONGEST, max(BACKOFF_FIRST, took) * 2**attempt)
    time.sleep(random.uniform(0.0, bound))


def encoded(obj: DataObject, doc: dict[str, Any]) -> bytes:
    try:
        return _layout.encode(doc)
    except TypeError:
        pass
    for name in obj._meta.checks:  # find the culprit, to name it (str, int, list, dict)
        try:
            _layout.encode({name: doc[name]})
        except TypeError as exc:
            raise ValidationError(
                obj._meta.name, name, f"value is not JSON-serialisable: {exc}", doc[name]
            ) from None
    raise ValidationError(obj._meta.name, "?", "document is not JSON-serialisable")


def save_plan(obj: DataObject, rt: Runtime) -> SavePlan:
    """The operations and checks that write this object and its index entries."""
    meta = obj._meta
    state = obj.__dict__
    guid = state["guid"]
    key = _layout.prefix(rt, meta) + guid
    doc = obj._document()
    original = state["_orig"]
    operations: list[Operation] = [Put(key, encoded(obj, doc))]
    checks: list[Check] = [Absent(key) if state["_rev"] is None else RevisionIs(key, state["_rev"])]
    lists: list[str] = []  # reverse lists this save changes (their cached copies are held)
    for name, rel in meta.relations.items():
        field = name + "_guid"
        old = None if original is None else original.get(field)
        new = doc[field]
        if old == new:
            continue
        if old is not None:
            operations.append(Delete(_layout.reverse_key(rt, meta, rel, old, guid)))
            lists.append(_layout.reverse_prefix(rt, meta, rel, old))
        if new is not None:
            lists.append(_layout.reverse_prefix(rt, meta, rel, new))
            target = meta.target(name)._meta
            index = _layout.reverse_key(rt, meta, rel, new, guid)
            operations.append(Put(index, guid.encode() if rel.onetoone else b""))
            operations.append(Put(_layout.link_marker(rt, target, new), b""))
            checks.append(Exists(_layout.prefix(rt, target) + new))
            if rel.onetoone:
                checks.append(Absent(index))
    for prop in meta.indexed:
        name = prop.name
        new = doc[name]
        if original is not None:
            old = original.get(name)
            if old == new:
                continue
            operations.append(Delete(_layout.index_prefix(rt, meta, name, old) + guid))
            if prop.unique and old is not None:
                operations.append(Delete(_layout.unique_key(rt, meta, name, old)))
        operations.append(Put(_layout.index_prefix(rt, meta, name, new) + guid, b""))
        if prop.unique and new is not None:
            owner = _layout.unique_key(rt, meta, name, new)
            operations.append(Put(owner, guid.encode()))
            checks.append(Absent(owner))
    # The document as saved, with its own copies of list/dict values: it becomes the base
    # that ``dirty`` and merges compare with, so it must not change when the object is
    # mutated in place (``obj.tags.append(x)``).
    for name in meta.mutable:
        doc[name] = _layout.json_copy(doc[name])
    return SavePlan(operations, checks, key, lists, doc)


def after_conflict(obj: DataObject, rt: Runtime, key: str, datastore_wins: bool | None) -> None:
    """Find out why a commit failed; merge a concurrent save or raise the typed error."""
    meta = obj._meta
    state = obj.__dict__
    guid = state["guid"]
    entry = rt.store.get_many([key])[0]
    if state["_rev"] is None:
        if entry is not None:
            stored, _ = _layout.decode(meta, key, guid, entry.value)
            if stored != obj._document():
                raise AlreadyExistsError(meta.name, guid, key)
            # Our own create (the guid is a uuid4), applied although its reply was lost.
            state["_rev"] = entry.revision
            state["_orig"] = stored
            state["_stale"] = False
            return
    elif entry is None:
        raise ObjectNotFoundError(meta.name, guid, key)
    check_links(obj, rt)
    if entry is None or entry.revision == state["_rev"]:
        return  # our own document was not the cause; a link check was, and now passes
    # Someone saved since we loaded. A per-process cache never saw their HOLD and may still
    # hold what we loaded: hold it here too, so a reload after a conflict reads the store.
    _objcache.changed(rt, [key], [])
    stored, _ = _layout.decode(meta, key, guid, entry.value)
    base = state["_orig"]
    conflicts: dict[str, tuple[Any, Any]] = {}
    for name in meta.checks:
        local, theirs, was = state[name], stored[name], base.get(name)
        if theirs in (was, local):
            continue
        if local == was or datastore_wins:
            state[name] = _layout.json_copy(theirs)
            if name.endswith("_guid"):
                state["_related"].pop(name[:-5], None)
        elif datastore_wins is None:
            conflicts[name] = (local, theirs)
    if conflicts:
        raise ConcurrencyError(meta.name, guid, conflicts)
    state["_rev"] = entry.revision
    state["_orig"] = stored


def check_links(obj: DataObject, rt: Runtime) -> None:
    """Raise the typed error for a link or unique value that made the commit fail."""
    meta = obj._meta
    state = obj.__dict__
    original = state["_orig"] or {}
    for prop in meta.indexed:
        value = state[prop.name]
        if not prop.unique or value is None or value == original.get(prop.name, _UNSET):
            continue
        owner = rt.store.get_many([_layout.unique_key(rt, meta, prop.name, value)])[0]
        if owner is not None and owner.value.decode() != state["guid"]:
            raise UniqueConstraintError(meta.name, prop.name, value, owner.value.decode())
    for name, rel in meta.relations.items():
        new = state[name + "_guid"]
        if new is None or new == original.get(name + "_guid"):
            continue
        target = meta.target(name)
        target_key = _layout.prefix(rt, target._meta) + new
        index = _layout.reverse_key(rt, meta, rel, new, state["guid"])
        target_entry, index_entry = rt.store.get_many([target_key, index])
        if target_entry is None:
            raise ObjectNotFoundError(target.__name__, new, target_key)
        if rel.onetoone and index_entry is not None:
            other = index_entry.value.decode()
            raise ValidationError(
                meta.name,
                name,
                f"{target.__name__} {new} is already linked one-to-one to {meta.name} {other}",
                new,
            )


class DeletePlan:
    """The operations and checks of one delete, including abandoned and cascaded objects."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.operations: list[Operation] = []
        self.checks: list[Check] = []
        self.touched: list[str] = []
        self.lists: list[str] = []  # reverse lists the delete changes
        self.hybrids: set[HybridMeta] = set()
        self.seen: set[str] = set()

    def remove(
        self, hybrid: type[DataObject], guid: str, abandon: set[str], cascade: set[str]
    ) -> None:
        rt = self.rt
        meta = hybrid._meta
        key = _layout.prefix(rt, meta) + guid
        if key in self.seen:
            return
        self.seen.add(key)
        marker = _layout.link_marker(rt, meta, guid)
        current, marker_entry = rt.store.get_many([key, marker])
        if current is None:
            raise ObjectNotFoundError(meta.name, guid, key)
        stored, _ = _layout.decode(meta, key, guid, current.value)
        # The marker's revision changes whenever something links to this object: checking it
        # makes a link saved between our scan and our commit abort the delete.
        self.checks.append(RevisionIs(key, current.revision))
        self.checks.append(
            Absent(marker) if marker_entry is None else RevisionIs(marker, marker_entry.revision)
        )
        blocked: dict[str, int] = {}
        for name, (source, relation) in meta.reverse.items():
            for member in family(source, relation):
                linked = _objcache.reverse_guids(rt, member, relation, guid)
                if not linked:
                    continue
                self.lists.append(_layout.reverse_prefix(rt, member._meta, relation, guid))
                if name in cascade:
                    for child in linked:
                        self.remove(replacement(member), child, set(), set())
                elif name in abandon or "_all" in abandon:
                    for child in linked:
                        self.unlink(replacement(member), child, relation)
                else:
                    blocked[name] = blocked.get(name, 0) + len(linked)
        if blocked:
            raise LinkedObjectsError(meta.name, guid, blocked)
        for name, rel in meta.relations.items():
            target = stored[name + "_guid"]
            if target is not None:
                self.operations.append(Delete(_layout.reverse_key(rt, meta, rel, target, guid)))
                self.lists.append(_layout.reverse_prefix(rt, meta, rel, target))
        for prop in meta.indexed:
            value = stored[prop.name]
            self.operations.append(Delete(_layout.index_prefix(rt, meta, prop.name, value) + guid))
            if prop.unique and value is not None:
                self.operations.append(Delete(_layout.unique_key(rt, meta, prop.name, value)))
        self.operations += [Delete(key), Delete(marker)]
        self.touched.append(key)
        self.hybrids.add(meta)

    def unlink(self, hybrid: type[DataObject], guid: str, relation: Relation) -> None:
        rt = self.rt
        meta = hybrid._meta
        key = _layout.prefix(rt, meta) + guid
        if key in self.seen:
            return
        entry = rt.store.get_many([key])[0]
        if entry is None:
            return  # deleted meanwhile: its index entry went with it
        stored, _ = _layout.decode(meta, key, guid, entry.value)
        target = stored[relation.name + "_guid"]
        stored[relation.name + "_guid"] = None
        self.checks.append(RevisionIs(key, entry.revision))
        self.operations.append(Put(key, _layout.encode(stored)))
        if target is not None:
            self.operations.append(Delete(_layout.reverse_key(rt, meta, relation, target, guid)))
            self.lists.append(_layout.reverse_prefix(rt, meta, relation, target))
        self.touched.append(key)
        self.hybrids.add(meta)
