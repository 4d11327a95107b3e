"""``DataObject``: the base class of every hybrid."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import orjson

from dalcore import _objcache, _transaction
from dalcore import _ovs_forms as _ovs
from dalcore._attributes import (
    CLASS_GENERATION,
    DynamicAttribute,
    RelationAttribute,
    ReverseAttribute,
    family,
    resolve_loader,
)
from dalcore._docs import hybrid_docstring
from dalcore._runtime import Runtime, runtime
from dalcore._structures import Dynamic, Property, Relation, make_check, unique_names, validated
from dalcore.api import (
    Absent,
    AssertionFailedError,
    Check,
    Delete,
    Exists,
    Operation,
    Put,
    RevisionIs,
)
from dalcore.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    DefinitionError,
    LinkedObjectsError,
    ObjectNotFoundError,
    RaceConditionError,
    StoreUnavailableError,
    UniqueConstraintError,
    UnknownFieldError,
    ValidationError,
)

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
    attempts (``python -m benchmarks --only coherence``).
    """
    bound = min(BACKOFF_LONGEST, max(BACKOFF_FIRST, took) * 2**attempt)
    time.sleep(random.uniform(0.0, bound))


_registry_lock = threading.RLock()
_by_name: dict[str, type[DataObject]] = {}  # class name -> hybrid (for lazy relation targets)
_replacements: dict[type[DataObject], type[DataObject]] = {}
_pending: list[tuple[type[DataObject], Relation]] = []  # relations whose target is not defined yet
# Short names that two different hybrids have: looking one up is an error naming both.
_ambiguous: dict[str, list[str]] = {}


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _register_name(cls: type[DataObject]) -> None:
    """Make ``cls`` findable by its qualified name and, while no other hybrid has it, by its
    class name. (Caller holds the registry lock.) A class defined again under the same
    qualified name (a module reloaded, a function run twice) replaces its earlier self."""
    name, qualified = cls.__name__, _qualified(cls)
    _by_name[qualified] = cls
    if name in _ambiguous:
        if qualified not in _ambiguous[name]:
            _ambiguous[name].append(qualified)
        return
    other = _by_name.get(name)
    if other is not None and _qualified(other) != qualified:
        _ambiguous[name] = [_qualified(other), qualified]
        del _by_name[name]
        return
    _by_name[name] = cls


def _by_short_name(name: str, wanted_by: str) -> type[DataObject] | None:
    if name in _ambiguous:
        raise DefinitionError(
            f"{wanted_by}: {name!r} names several hybrids ({', '.join(_ambiguous[name])}); "
            "use the qualified name or the class itself"
        )
    return _by_name.get(name)


class SavePlan(NamedTuple):
    """What one ``save()`` commits, and what the object keeps as its stored state after it."""

    operations: list[Operation]
    checks: list[Check]
    key: str  # the object's own key
    lists: list[str]  # reverse lists the save changes (their cached copies are held)
    snapshot: dict[str, Any]  # the document as saved, sharing nothing with the object


class HybridMeta:
    """Everything dalcore knows about one hybrid class, computed when the class is created."""

    def __init__(self, cls: type[DataObject], path: str) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.path = path
        self.keyspace = path.strip("/")
        self.properties: dict[str, Property] = {}
        self.relations: dict[str, Relation] = {}
        self.dynamics: dict[str, Dynamic] = {}
        # field name (property, or "<relation>_guid") -> check; the stored document's fields
        self.checks: dict[str, Any] = {}
        # The same, for documents decoded from JSON: a list or dict there cannot hold NaN, a
        # tuple or a set, so only its type is checked (the walk costs microseconds per load).
        self.decode_checks: dict[str, Any] = {}
        self.entry_shape: Any = None  # _objcache's quick check of cache entries, made on use
        self.mutable: list[str] = []  # list/dict properties, copied per instance
        self.indexed: list[Property] = []  # indexed (and unique) properties
        self.reverse: dict[str, tuple[type[DataObject], Relation]] = {}
        self.targets: dict[str, type[DataObject]] = {}
        self.prefix_cache: tuple[Runtime, str] | None = None
        self.explicit_path = False
        self.own_doc: str | None = None

    def target(self, relation: str) -> type[DataObject]:
        target = self.targets.get(relation)
        if target is None:
            _resolve_pending()
            target = self.targets.get(relation)
            if target is None:
                wanted = self.relations[relation].target
                raise DefinitionError(f"{self.name}.{relation}: target {wanted!r} is not defined")
        return target._replacement()


def _guid_check(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a guid (str), got {type(value).__name__} {value!r}")


def _collect(cls: type, kind: str) -> list[Any]:
    """The class-private list ``__<kind>`` of ``cls`` and its hybrid bases, base first."""
    items: list[Any] = []
    for klass in reversed(cls.__mro__):
        mangled = f"_{klass.__name__.lstrip('_')}__{kind}"
        own = klass.__dict__.get(mangled)
        if own is None:
            continue
        if not isinstance(own, (list, tuple)):
            raise DefinitionError(f"{klass.__name__}.__{kind} must be a list, not {own!r}")
        replaced = {item.name for item in own}
        items = [item for item in items if item.name not in replaced] + list(own)
    return items


class DataObject:
    """Base class of hybrids: persistent properties, lazy relations, cached dynamics.

    ``Cls()`` makes a new object (guid: a uuid4 string), ``Cls(guid)`` loads one, and
    ``Cls(name=..., ...)`` makes a new one with those fields set.
    """

    _meta: ClassVar[HybridMeta]
    path: ClassVar[str]
    guid: str

    if TYPE_CHECKING:
        # Fields come from the class-private declaration lists, which type checkers cannot
        # read: tell them any attribute may exist. Only for checkers; nothing changes at run time.
        def __getattr__(self, name: str) -> Any: ...

    # -- class creation -----------------------------------------------------------------

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        explicit_path = "path" in cls.__dict__
        path = cls.__dict__.get("path") or cls.__name__.lower()
        if not isinstance(path, str) or not path.strip("/"):
            raise DefinitionError(f"{cls.__name__}.path must be a non-empty string: {path!r}")
        cls.path = path
        meta = HybridMeta(cls, path)
        meta.explicit_path = explicit_path
        meta.own_doc = cls.__dict__.get("__doc__")
        properties = _collect(cls, "properties")
        relations = _collect(cls, "relations")
        dynamics = _collect(cls, "dynamics")
        unique_names(cls.__name__, [properties, relations, dynamics])
        for kind, items, expected in (
            ("__properties", properties, Property),
            ("__relations", relations, Relation),
            ("__dynamics", dynamics, Dynamic),
        ):
            for item in items:
                if not isinstance(item, expected):
                    raise DefinitionError(
                        f"{cls.__name__}.{kind}: expected {expected.__name__}, got {item!r}"
                    )
        reserved = set(dir(DataObject))
        for item in [*properties, *relations, *dynamics]:
            if item.name in reserved:
                raise DefinitionError(f"{cls.__name__}.{item.name}: name is used by DataObject")
        for prop in properties:
            meta.properties[prop.name] = prop
            meta.checks[prop.name] = make_check(cls.__name__, prop.name, prop.type)
            meta.decode_checks[prop.name] = (
                make_check(cls.__name__, prop.name, prop.type, decoded=True)
                if prop.type in (list, dict, object)
                else meta.checks[prop.name]
            )
            if prop.type in (list, dict, object):
                meta.mutable.append(prop.name)
            if prop.indexed:
                if prop.type in (list, dict, object):
                    raise DefinitionError(
                        f"{cls.__name__}.{prop.name}: list, dict and object properties cannot "
                        "be indexed"
                    )
                meta.indexed.append(prop)
        for rel in relations:
            meta.relations[rel.name] = rel
            if rel.name + "_guid" in meta.checks:
                raise DefinitionError(f"{cls.__name__}: {rel.name}_guid clashes with a property")
            meta.checks[rel.name + "_guid"] = _guid_check
            meta.decode_checks[rel.name + "_guid"] = _guid_check
        cls._meta = meta
        for rel in relations:
            setattr(cls, rel.name, RelationAttribute(cls, rel))
        for dyn in dynamics:
            meta.dynamics[dyn.name] = dyn
            setattr(cls, dyn.name, DynamicAttribute(cls, dyn, resolve_loader(cls, dyn)))
        # Reverse sides this class inherited from a hybrid base stay valid for it too.
        for base in cls.__mro__[1:]:
            base_meta = base.__dict__.get("_meta")
            if isinstance(base_meta, HybridMeta):
                for name, link in base_meta.reverse.items():
                    meta.reverse.setdefault(name, link)
        with _registry_lock:
            _register_name(cls)
            for rel in relations:
                _pending.append((cls, rel))
            _resolve_pending()
        cls.__doc__ = hybrid_docstring(cls)
        CLASS_GENERATION[0] += 1

    @classmethod
    def _replacement(cls) -> type[DataObject]:
        return _replacements.get(cls, cls)

    @classmethod
    def where(cls, query: dict[str, Any] | None = None, **filters: Any) -> Any:
        """A :class:`~dalcore.DataList` of the objects matching ``query`` and/or ``filters``:
        ``Backend.where(name='b1', status__in=['NEW', 'RUNNING'], backend_type__name='alba')``.
        """
        return _datalist().DataList(cls, query, **filters)

    @classmethod
    def all(cls) -> Any:
        """A :class:`~dalcore.DataList` of every stored object of this hybrid."""
        return _datalist().DataList(cls)

    # -- construction ---------------------------------------------------------------------

    def __new__(cls, guid: str | None = None, *args: Any, **values: Any) -> DataObject:
        return object.__new__(_replacements.get(cls, cls))

    def __init__(
        self,
        guid: str | None = None,
        data: dict[str, Any] | None = None,
        datastore_wins: bool | None = False,
        volatile: bool = False,
        **values: Any,
    ) -> None:
        """The original DAL's arguments are kept: ``data`` sets fields (on a new object, or on
        the loaded one as local changes), ``datastore_wins`` is the default of this object's
        saves, and ``volatile=True`` makes an object that lives in the volatile cache only."""
        if data is not None or datastore_wins is not False or volatile:
            _ovs.construct(self, guid, data, datastore_wins, volatile, values)
            return
        meta = self._meta
        if guid is None:
            state: dict[str, Any] = {"guid": str(uuid.uuid4())}
            for name, prop in meta.properties.items():
                state[name] = prop.fresh_default()
            for name in meta.relations:
                state[name + "_guid"] = None
            state["_rev"] = None
            state["_orig"] = None
            state["_stale"] = False
            state["_related"] = {}
            # Assigned whole, not filled key by key: see _objcache.populate for why reads of a
            # dict built that way stay at plain-attribute speed.
            object.__setattr__(self, "__dict__", state)
            for name, value in values.items():
                setattr(self, name, value)
            return
        if values:
            raise TypeError(f"{meta.name}(guid) loads a stored object; set fields after loading")
        if not isinstance(guid, str):
            raise ValidationError(meta.name, "guid", f"expected str, got {guid!r}", guid)
        object.__setattr__(self, "__dict__", {"guid": guid})
        rt = runtime()
        found = _objcache.read(rt, meta, guid)
        if found is None:
            raise ObjectNotFoundError(meta.name, guid, _objcache.prefix(rt, meta) + guid)
        _objcache.populate(self, *found)

    def __setattr__(self, name: str, value: Any) -> None:
        meta = self._meta
        check = meta.checks.get(name)
        if check is not None:
            self.__dict__[name] = validated(meta.name, name, check, value)
            if name.endswith("_guid") and name[:-5] in meta.relations:
                self.__dict__["_related"].pop(name[:-5], None)
            return
        relation = meta.relations.get(name)
        if relation is not None:
            self._link(relation, value)
            return
        if name in meta.dynamics:
            raise UnknownFieldError(meta.name, name, "is a dynamic and cannot be assigned")
        if name == "guid":
            raise UnknownFieldError(meta.name, name, "cannot be changed")
        raise UnknownFieldError(
            meta.name, name, f"is not a field; fields: {', '.join(meta.checks)}"
        )

    def _link(self, relation: Relation, value: Any) -> None:
        meta = self._meta
        if value is None:
            self.__dict__[relation.name + "_guid"] = None
            self.__dict__["_related"].pop(relation.name, None)
            return
        target = meta.target(relation.name)
        if not isinstance(value, meta.targets[relation.name]):
            raise ValidationError(
                meta.name,
                relation.name,
                f"expected a {target.__name__}, got {type(value).__name__} {value!r}",
                value,
            )
        self.__dict__[relation.name + "_guid"] = value.guid
        self.__dict__["_related"][relation.name] = value

    # -- state ----------------------------------------------------------------------------

    def _document(self) -> dict[str, Any]:
        state = self.__dict__
        doc = {"guid": state["guid"]}
        for name in self._meta.checks:
            doc[name] = state[name]
        return doc

    @property
    def dirty(self) -> bool:
        """True when the object differs from what is stored (always True before the first save)."""
        original = self.__dict__["_orig"]
        return original is None or self.__dict__["_stale"] or self._document() != original

    @property
    def stored(self) -> bool:
        """True once the object exists in the store."""
        return self.__dict__["_rev"] is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataObject):
            return NotImplemented
        return self._meta.path == other._meta.path and self.guid == other.guid

    def __hash__(self) -> int:
        return hash((self._meta.path, self.guid))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.guid}>"

    # -- save -----------------------------------------------------------------------------

    def save(
        self,
        datastore_wins: Any = _UNSET,
        recursive: bool = False,
        skip: Iterable[str] | str | None = None,
    ) -> None:
        """Write the object atomically, with its reverse-index entries, if it changed.

        If another process saved it since it was loaded, the two versions are merged field by
        field; a field changed on both sides keeps the local value (``datastore_wins=False``,
        the default unless the object was made with another), the stored one (``True``) or
        raises :class:`ConcurrencyError` (``None``). ``recursive`` first saves the related
        objects this one holds that changed (all in one transaction), except the relations
        named in ``skip``.
        """
        if datastore_wins is _UNSET:
            datastore_wins = self.__dict__.get("_datastore_wins", False)
        if recursive or self.__dict__.get("_volatile"):
            _ovs.save_special(self, datastore_wins, recursive, skip)
            return
        meta = self._meta
        self._check_mandatory()
        rt = runtime()
        if rt.before_save is not None:
            rt.before_save(obj=self)
        tx = _transaction.current()
        if tx is not None:
            if self.dirty:
                tx.add_save(self, self._save_plan(rt))
            return
        started = time.monotonic()
        for attempt in range(rt.save_attempts):
            if attempt:
                backoff(attempt - 1, time.monotonic() - started)
                started = time.monotonic()
            if not self.dirty:
                if not attempt and self.__dict__["_rev"] is not None:
                    _ovs.refresh_if_updated(self)  # the original's silent data refresh
                return
            plan = self._save_plan(rt)
            try:
                revision = rt.commit(plan.operations, plan.checks)
            except AssertionFailedError:
                self._after_conflict(rt, plan.key, datastore_wins)
                continue
            except StoreUnavailableError:
                # The commit may have been applied and only its reply lost: act as after a
                # change, so no cache keeps serving the version from before it.
                _objcache.changed(rt, [plan.key], [meta], plan.lists)
                raise
            state = self.__dict__
            updated = state["_rev"] is not None
            state["_rev"] = revision
            state["_orig"] = plan.snapshot
            state["_stale"] = False
            _objcache.changed(rt, [plan.key] if updated else [], [meta], plan.lists)
            if rt.after_save is not None:
                rt.after_save(obj=self)
            return
        raise RaceConditionError(meta.name, self.guid, rt.save_attempts)

    def _check_mandatory(self) -> None:
        meta = self._meta
        state = self.__dict__
        # Lists and dicts may have been changed in place since they were assigned (and checked).
        for name in meta.mutable:
            state[name] = validated(meta.name, name, meta.checks[name], state[name])
        missing = [n for n, p in meta.properties.items() if p.mandatory and state[n] is None]
        missing += [
            n for n, r in meta.relations.items() if r.mandatory and state[n + "_guid"] is None
        ]
        if len(missing) == 1:
            name = missing[0]
            what = (
                "is mandatory but None"
                if name in meta.properties
                else "is a mandatory relation but not set"
            )
            raise ValidationError(meta.name, name, what)
        if missing:  # all of them at once, so one round of fixes is enough
            raise ValidationError(meta.name, ", ".join(missing), "are mandatory but not set")

    def _encoded(self, doc: dict[str, Any]) -> bytes:
        try:
            return _objcache.encode(doc)
        except TypeError:
            pass
        for name in self._meta.checks:  # find the culprit, to name it (str, int, list, dict)
            try:
                _objcache.encode({name: doc[name]})
            except TypeError as exc:
                raise ValidationError(
                    self._meta.name, name, f"value is not JSON-serialisable: {exc}", doc[name]
                ) from None
        raise ValidationError(self._meta.name, "?", "document is not JSON-serialisable")

    def _save_plan(self, rt: Runtime) -> SavePlan:
        """The operations and checks that write this object and its index entries."""
        meta = self._meta
        state = self.__dict__
        guid = state["guid"]
        key = _objcache.prefix(rt, meta) + guid
        doc = self._document()
        original = state["_orig"]
        operations: list[Operation] = [Put(key, self._encoded(doc))]
        checks: list[Check] = [
            Absent(key) if state["_rev"] is None else RevisionIs(key, state["_rev"])
        ]
        lists: list[str] = []  # reverse lists this save changes (their cached copies are held)
        for name, rel in meta.relations.items():
            field = name + "_guid"
            old = None if original is None else original.get(field)
            new = doc[field]
            if old == new:
                continue
            if old is not None:
                operations.append(Delete(_objcache.reverse_key(rt, meta, rel, old, guid)))
                lists.append(_objcache.reverse_prefix(rt, meta, rel, old))
            if new is not None:
                lists.append(_objcache.reverse_prefix(rt, meta, rel, new))
                target = meta.target(name)._meta
                index = _objcache.reverse_key(rt, meta, rel, new, guid)
                operations.append(Put(index, guid.encode() if rel.onetoone else b""))
                operations.append(Put(_objcache.link_marker(rt, target, new), b""))
                checks.append(Exists(_objcache.prefix(rt, target) + new))
                if rel.onetoone:
                    checks.append(Absent(index))
        for prop in meta.indexed:
            name = prop.name
            new = doc[name]
            if original is not None:
                old = original.get(name)
                if old == new:
                    continue
                operations.append(Delete(_objcache.index_prefix(rt, meta, name, old) + guid))
                if prop.unique and old is not None:
                    operations.append(Delete(_objcache.unique_key(rt, meta, name, old)))
            operations.append(Put(_objcache.index_prefix(rt, meta, name, new) + guid, b""))
            if prop.unique and new is not None:
                owner = _objcache.unique_key(rt, meta, name, new)
                operations.append(Put(owner, guid.encode()))
                checks.append(Absent(owner))
        # The document as saved, with its own copies of list/dict values: it becomes the base
        # that ``dirty`` and merges compare with, so it must not change when the object is
        # mutated in place (``obj.tags.append(x)``).
        for name in meta.mutable:
            doc[name] = _objcache.json_copy(doc[name])
        return SavePlan(operations, checks, key, lists, doc)

    def _after_conflict(self, rt: Runtime, key: str, datastore_wins: bool | None) -> None:
        """Find out why a commit failed; merge a concurrent save or raise the typed error."""
        meta = self._meta
        state = self.__dict__
        guid = state["guid"]
        entry = rt.store.get_many([key])[0]
        if state["_rev"] is None:
            if entry is not None:
                stored, _ = _objcache.decode(meta, key, guid, entry.value)
                if stored != self._document():
                    raise AlreadyExistsError(meta.name, guid, key)
                # Our own create (the guid is a uuid4), applied although its reply was lost.
                state["_rev"] = entry.revision
                state["_orig"] = stored
                state["_stale"] = False
                return
        elif entry is None:
            raise ObjectNotFoundError(meta.name, guid, key)
        self._check_links(rt)
        if entry is None or entry.revision == state["_rev"]:
            return  # our own document was not the cause; a link check was, and now passes
        # Someone saved since we loaded. A per-process cache never saw their HOLD and may still
        # hold what we loaded: hold it here too, so a reload after a conflict reads the store.
        _objcache.changed(rt, [key], [])
        stored, _ = _objcache.decode(meta, key, guid, entry.value)
        base = state["_orig"]
        conflicts: dict[str, tuple[Any, Any]] = {}
        for name in meta.checks:
            local, theirs, was = state[name], stored[name], base.get(name)
            if theirs in (was, local):
                continue
            if local == was or datastore_wins:
                state[name] = _objcache.json_copy(theirs)
                if name.endswith("_guid"):
                    state["_related"].pop(name[:-5], None)
            elif datastore_wins is None:
                conflicts[name] = (local, theirs)
        if conflicts:
            raise ConcurrencyError(meta.name, guid, conflicts)
        state["_rev"] = entry.revision
        state["_orig"] = stored

    def _check_links(self, rt: Runtime) -> None:
        """Raise the typed error for a link or unique value that made the commit fail."""
        meta = self._meta
        state = self.__dict__
        original = state["_orig"] or {}
        for prop in meta.indexed:
            value = state[prop.name]
            if not prop.unique or value is None or value == original.get(prop.name, _UNSET):
                continue
            owner = rt.store.get_many([_objcache.unique_key(rt, meta, prop.name, value)])[0]
            if owner is not None and owner.value.decode() != state["guid"]:
                raise UniqueConstraintError(meta.name, prop.name, value, owner.value.decode())
        for name, rel in meta.relations.items():
            new = state[name + "_guid"]
            if new is None or new == original.get(name + "_guid"):
                continue
            target = meta.target(name)
            target_key = _objcache.prefix(rt, target._meta) + new
            index = _objcache.reverse_key(rt, meta, rel, new, state["guid"])
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

    # -- delete ---------------------------------------------------------------------------

    def delete(
        self, abandon: Iterable[str] | None = None, cascade: Iterable[str] | None = None
    ) -> None:
        """Remove the object atomically with its index entries.

        Refused (:class:`LinkedObjectsError`) while objects link to it, unless the reverse
        relation is named in ``abandon`` (unlink them; ``'_all'`` for every relation) or in
        ``cascade`` (delete them too, in the same transaction).
        """
        if self.__dict__.get("_volatile"):
            _ovs.delete_volatile(self)
            return
        meta = self._meta
        rt = runtime()
        abandon_set = set(abandon or ())
        cascade_set = set(cascade or ())
        unknown = (abandon_set - {"_all"} | cascade_set) - set(meta.reverse)
        if unknown:
            raise ValidationError(
                meta.name, ", ".join(sorted(unknown)), f"not a reverse relation of {meta.name}"
            )
        tx = _transaction.current()
        if tx is not None:
            plan = _DeletePlan(rt)
            plan.remove(type(self), self.guid, abandon_set, cascade_set)
            tx.add_delete(self, plan)
            return
        started = time.monotonic()
        for attempt in range(rt.save_attempts):
            if attempt:
                backoff(attempt - 1, time.monotonic() - started)
                started = time.monotonic()
            plan = _DeletePlan(rt)
            plan.remove(type(self), self.guid, abandon_set, cascade_set)
            try:
                rt.commit(plan.operations, plan.checks)
            except AssertionFailedError:
                continue
            _objcache.changed(rt, plan.touched, plan.hybrids, plan.lists)
            self.__dict__["_rev"] = None
            self.__dict__["_orig"] = None
            if rt.after_delete is not None:
                rt.after_delete(obj=self)
            return
        raise RaceConditionError(meta.name, self.guid, rt.save_attempts)

    # -- other operations -----------------------------------------------------------------

    def discard(self) -> None:
        """Forget local changes: reload from the store (a new object goes back to defaults)."""
        state = self.__dict__
        if state["_rev"] is None:
            guid = state["guid"]
            type(self).__init__(self)  # installs a new __dict__: write the guid into that one
            self.__dict__["guid"] = guid
            return
        rt = runtime()
        found = _objcache.read(rt, self._meta, state["guid"])
        if found is None:
            key = _objcache.prefix(rt, self._meta) + state["guid"]
            raise ObjectNotFoundError(self._meta.name, state["guid"], key)
        _objcache.populate(self, *found)

    def clone(self, reload_object: bool = False) -> DataObject:
        """A new, unsaved object with a fresh guid and copies of this one's fields (of the
        stored version when ``reload_object``)."""
        source = type(self)(self.guid) if reload_object else self
        copy = type(self)()
        for name in self._meta.checks:
            copy.__dict__[name] = orjson.loads(orjson.dumps(source.__dict__[name]))
        return copy

    def updated_on_datastore(self) -> bool:
        """True when the store holds another version than the one this object was loaded as."""
        return _ovs.updated_on_datastore(self)

    def copy(
        self,
        other: DataObject,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        include_relations: bool = False,
    ) -> None:
        """Take ``other``'s property values (only ``include``, never ``exclude``; relations too
        with ``include_relations``) as local changes of this object."""
        _ovs.copy_fields(self, other, include, exclude, include_relations)

    enumerator = staticmethod(_ovs.enumerator)

    def invalidate_dynamics(self, *names: str) -> None:
        """Drop cached dynamic values (all of them when no name is given)."""
        meta = self._meta
        unknown = set(names) - set(meta.dynamics)
        if unknown:
            raise UnknownFieldError(meta.name, ", ".join(sorted(unknown)), "is not a dynamic")
        rt = runtime()
        keys = [_objcache.dynamic_key(rt, self, name) for name in names or meta.dynamics]
        rt.cache.delete_many(keys)

    def export(self) -> dict[str, Any]:
        """The properties, JSON-ready (no guid, relations or dynamics)."""
        state = self.__dict__
        return {name: state[name] for name in self._meta.properties}

    def serialize(self, depth: int = 0) -> dict[str, Any]:
        """Guid, properties, relation guids and dynamics, JSON-ready.

        With ``depth`` > 0 each relation is also given as the serialized target (one level less).
        A dynamic that fails is given as None, with its error under ``"_errors"``, so that one
        broken dynamic does not break a whole listing.
        """
        from dalcore.errors import DynamicError

        data = self._document()
        errors: dict[str, str] = {}
        for name in self._meta.dynamics:
            try:
                data[name] = getattr(self, name)
            except DynamicError as exc:
                data[name] = None
                errors[name] = str(exc)
        if depth > 0:
            for name in self._meta.relations:
                target = getattr(self, name)
                data[name] = None if target is None else target.serialize(depth - 1)
        if errors:
            data["_errors"] = errors
        return data


class _DeletePlan:
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
        key = _objcache.prefix(rt, meta) + guid
        if key in self.seen:
            return
        self.seen.add(key)
        marker = _objcache.link_marker(rt, meta, guid)
        current, marker_entry = rt.store.get_many([key, marker])
        if current is None:
            raise ObjectNotFoundError(meta.name, guid, key)
        stored, _ = _objcache.decode(meta, key, guid, current.value)
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
                self.lists.append(_objcache.reverse_prefix(rt, member._meta, relation, guid))
                if name in cascade:
                    for child in linked:
                        self.remove(member._replacement(), child, set(), set())
                elif name in abandon or "_all" in abandon:
                    for child in linked:
                        self.unlink(member._replacement(), child, relation)
                else:
                    blocked[name] = blocked.get(name, 0) + len(linked)
        if blocked:
            raise LinkedObjectsError(meta.name, guid, blocked)
        for name, rel in meta.relations.items():
            target = stored[name + "_guid"]
            if target is not None:
                self.operations.append(Delete(_objcache.reverse_key(rt, meta, rel, target, guid)))
                self.lists.append(_objcache.reverse_prefix(rt, meta, rel, target))
        for prop in meta.indexed:
            value = stored[prop.name]
            self.operations.append(
                Delete(_objcache.index_prefix(rt, meta, prop.name, value) + guid)
            )
            if prop.unique and value is not None:
                self.operations.append(Delete(_objcache.unique_key(rt, meta, prop.name, value)))
        self.operations += [Delete(key), Delete(marker)]
        self.touched.append(key)
        self.hybrids.add(meta)

    def unlink(self, hybrid: type[DataObject], guid: str, relation: Relation) -> None:
        rt = self.rt
        meta = hybrid._meta
        key = _objcache.prefix(rt, meta) + guid
        if key in self.seen:
            return
        entry = rt.store.get_many([key])[0]
        if entry is None:
            return  # deleted meanwhile: its index entry went with it
        stored, _ = _objcache.decode(meta, key, guid, entry.value)
        target = stored[relation.name + "_guid"]
        stored[relation.name + "_guid"] = None
        self.checks.append(RevisionIs(key, entry.revision))
        self.operations.append(Put(key, _objcache.encode(stored)))
        if target is not None:
            self.operations.append(Delete(_objcache.reverse_key(rt, meta, relation, target, guid)))
            self.lists.append(_objcache.reverse_prefix(rt, meta, relation, target))
        self.touched.append(key)
        self.hybrids.add(meta)


_DATALIST: Any = None


def _datalist() -> Any:
    # _datalist imports this module, so it is imported on the first query, then kept.
    global _DATALIST
    if _DATALIST is None:
        from dalcore import _datalist as module

        _DATALIST = module
    return _DATALIST


def _resolve_pending() -> None:
    """Link relations to their targets once the targets exist; add the reverse attributes."""
    with _registry_lock:
        waiting: list[tuple[type[DataObject], Relation]] = []
        for source, relation in _pending:
            wanted = relation.target
            target: Any
            if wanted is None:
                target = source
            elif isinstance(wanted, str):
                try:
                    target = _by_short_name(wanted, f"{source.__name__}.{relation.name}")
                except DefinitionError:
                    _pending.remove((source, relation))  # as for any bad target, below
                    raise
            else:
                target = wanted
            if target is None:
                waiting.append((source, relation))
                continue
            try:
                if not (isinstance(target, type) and issubclass(target, DataObject)):
                    raise DefinitionError(
                        f"{source.__name__}.{relation.name}: target must be a hybrid, "
                        f"not {target!r}"
                    )
                _add_reverse(source, relation, target)
            except DefinitionError:
                # Forget it: left pending, it would fail every later class creation.
                _pending.remove((source, relation))
                raise
        _pending[:] = waiting


def _add_reverse(source: type[DataObject], relation: Relation, target: type[DataObject]) -> None:
    source._meta.targets[relation.name] = target
    name = relation.reverse_name
    suffix = "_guid" if relation.onetoone else "_guids"
    meta = target._meta
    existing = meta.reverse.get(name)
    if existing is not None and existing != (source, relation):
        if existing[1] is relation:
            return  # inherited by a subclass of the source: the base's entry serves it
        raise DefinitionError(
            f"{target.__name__}.{name}: reverse relation declared twice "
            f"({existing[0].__name__}.{existing[1].name} and {source.__name__}.{relation.name})"
        )
    for taken in (name, name + suffix):
        if taken in meta.checks or taken in meta.relations or taken in meta.dynamics:
            raise DefinitionError(
                f"{source.__name__}.{relation.name}: reverse name {taken!r} clashes with a field "
                f"of {target.__name__}"
            )
    meta.reverse[name] = (source, relation)
    setattr(target, name, ReverseAttribute(source, relation, guids=False))
    setattr(target, name + suffix, ReverseAttribute(source, relation, guids=True))
    for klass in [target, *_subclasses(target)]:
        klass._meta.reverse.setdefault(name, (source, relation))
        klass.__doc__ = hybrid_docstring(klass)


def _subclasses(cls: type[DataObject]) -> list[type[DataObject]]:
    found: list[type[DataObject]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def register_hybrid(cls: type[DataObject]) -> None:
    """Make ``cls`` replace each hybrid it subclasses: construction, relations and queries.

    A replacement keeps its base's storage path unless it sets one itself.
    """
    if not (isinstance(cls, type) and issubclass(cls, DataObject)) or cls is DataObject:
        raise DefinitionError(f"register_hybrid needs a DataObject subclass, got {cls!r}")
    with _registry_lock:
        for base in cls.__mro__[1:]:
            if base is DataObject or not issubclass(base, DataObject):
                continue
            _replacements[base] = cls
            if not cls._meta.explicit_path:
                cls.path = base.path
                cls._meta.path = base._meta.path
                cls._meta.keyspace = base._meta.keyspace
                cls._meta.prefix_cache = None


def unregister_hybrid(cls: type[DataObject]) -> None:
    """Undo :func:`register_hybrid`: the hybrids ``cls`` replaced are themselves again."""
    with _registry_lock:
        for base, replacement in list(_replacements.items()):
            if replacement is cls:
                del _replacements[base]


def hybrid(name: str) -> type[DataObject]:
    """The hybrid class called ``name`` (after plugin replacements): its class name, or
    ``module.Class``, which two hybrids sharing a class name need (the class name alone then
    raises DefinitionError naming both)."""
    with _registry_lock:
        cls = _by_short_name(name, "dalcore.hybrid()")
    if cls is None:
        raise DefinitionError(f"no hybrid named {name!r}")
    return cls._replacement()
