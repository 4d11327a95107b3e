"""``DataObject``: the base class of every hybrid."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from dalcore import _layout, _objcache, _schema, _transaction, _writes
from dalcore import _ovs_forms as _ovs
from dalcore._attributes import (
    CLASS_GENERATION,
    DynamicAttribute,
    RelationAttribute,
    ReverseAttribute,
    resolve_loader,
)
from dalcore._docs import hybrid_docstring
from dalcore._runtime import runtime
from dalcore._schema import HybridMeta
from dalcore._schema import replacements as _replacements
from dalcore._structures import Relation, validated
from dalcore.api import AssertionFailedError
from dalcore.errors import (
    ConfigurationError,
    ObjectNotFoundError,
    RaceConditionError,
    StoreUnavailableError,
    UnknownFieldError,
    ValidationError,
)

_UNSET = object()


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
        meta = _schema.build_meta(cls, reserved=set(dir(DataObject)))
        cls.path = meta.path
        cls._meta = meta
        for rel in meta.relations.values():
            setattr(cls, rel.name, RelationAttribute(cls, rel))
        for dyn in meta.dynamics.values():
            setattr(cls, dyn.name, DynamicAttribute(cls, dyn, resolve_loader(cls, dyn)))
        _schema.register(cls)
        cls.__doc__ = hybrid_docstring(cls)
        CLASS_GENERATION[0] += 1

    @classmethod
    def _replacement(cls) -> type[DataObject]:
        return _schema.replacement(cls)

    @classmethod
    def where(cls, query: dict[str, Any] | None = None, **filters: Any) -> Any:
        """A :class:`~dalcore.DataList` of the objects matching ``query`` and/or ``filters``:
        ``Backend.where(name='b1', status__in=['NEW', 'RUNNING'], backend_type__name='alba')``.
        """
        return _query_list(cls, query, **filters)

    @classmethod
    def all(cls) -> Any:
        """A :class:`~dalcore.DataList` of every stored object of this hybrid."""
        return _query_list(cls)

    # -- construction ---------------------------------------------------------------------

    def __new__(cls, guid: str | None = None, *args: Any, **values: Any) -> DataObject:
        # The registry's dict itself, not replacement(): this runs on every load.
        made: DataObject = object.__new__(_replacements.get(cls, cls))
        return made

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
            _ovs.construct(self, DataObject.__init__, guid, data, datastore_wins, volatile, values)
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
            # Assigned whole, not filled key by key: see _layout.populate for why reads of a
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
            raise ObjectNotFoundError(meta.name, guid, _layout.prefix(rt, meta) + guid)
        _layout.populate(self, *found)

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
                tx.add_save(self, _writes.save_plan(self, rt))
            return
        started = time.monotonic()
        for attempt in range(rt.save_attempts):
            if attempt:
                _writes.backoff(attempt - 1, time.monotonic() - started)
                started = time.monotonic()
            if not self.dirty:
                if not attempt and self.__dict__["_rev"] is not None:
                    _ovs.refresh_if_updated(self)  # the original's silent data refresh
                return
            plan = _writes.save_plan(self, rt)
            try:
                revision = rt.commit(plan.operations, plan.checks)
            except AssertionFailedError:
                _writes.after_conflict(self, rt, plan.key, datastore_wins)
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
            plan = _writes.DeletePlan(rt)
            plan.remove(type(self), self.guid, abandon_set, cascade_set)
            tx.add_delete(self, plan)
            return
        started = time.monotonic()
        for attempt in range(rt.save_attempts):
            if attempt:
                _writes.backoff(attempt - 1, time.monotonic() - started)
                started = time.monotonic()
            plan = _writes.DeletePlan(rt)
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
            key = _layout.prefix(rt, self._meta) + state["guid"]
            raise ObjectNotFoundError(self._meta.name, state["guid"], key)
        _layout.populate(self, *found)

    def clone(self, reload_object: bool = False) -> DataObject:
        """Another handle on this object, as the original's ``clone``: the same guid, with its
        own copies of this one's fields (unsaved changes included), or the stored version when
        ``reload_object``. Saving a clone saves the one stored object, merged like any other
        concurrent save. For a new object with copied fields: ``type(obj)()`` and :meth:`copy`.
        """
        state = self.__dict__
        if reload_object:
            return type(self)(self.guid, volatile=bool(state.get("_volatile")))
        twin_state = {"guid": state["guid"]}
        for name in self._meta.checks:
            twin_state[name] = _layout.json_copy(state[name])
        # The stored state it was loaded as (a snapshot never mutated, so shared) and the
        # original's flags; not the per-instance caches (memos, keys, related objects).
        for name in ("_rev", "_orig", "_stale", "_datastore_wins", "_volatile"):
            if name in state:
                twin_state[name] = state[name]
        twin_state["_related"] = {}
        twin = object.__new__(type(self))
        object.__setattr__(twin, "__dict__", twin_state)
        return twin

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
        keys = [_layout.dynamic_key(rt, self, name) for name in names or meta.dynamics]
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


# -- what the layers above and below hand over ---------------------------------------------


def _no_query_layer(*args: Any, **filters: Any) -> Any:
    raise ConfigurationError("the query layer (dalcore._datalist) has not registered DataList")


#: Makes the list ``where()`` and ``all()`` return (DataList); set by the query layer above,
#: which builds on this one.
_query_list: Any = _no_query_layer


def set_query_list(make: Any) -> None:
    global _query_list
    _query_list = make


def _install_reverse(
    source: type[DataObject], relation: Relation, target: type[DataObject]
) -> None:
    """The reverse side of ``relation`` on ``target`` and its subclasses (the schema layer
    calls this once it has linked the relation to its target)."""
    name = relation.reverse_name
    suffix = "_guid" if relation.onetoone else "_guids"
    setattr(target, name, ReverseAttribute(source, relation, guids=False))
    setattr(target, name + suffix, ReverseAttribute(source, relation, guids=True))
    for klass in [target, *_schema.subclasses(target)]:
        klass.__doc__ = hybrid_docstring(klass)


_schema.set_reverse_installer(_install_reverse)
