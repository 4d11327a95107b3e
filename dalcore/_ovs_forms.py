"""The original DAL's forms that dalcore's own API does not need, kept for code written for it:
constructor arguments, volatile objects, recursive saves, ``copy``, ``updated_on_datastore``
and ``enumerator`` (docs/compat.md). Functions here act on a DataObject handed to them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dalcore import _layout, _transaction
from dalcore._attributes import HANDED_OUT
from dalcore._runtime import runtime
from dalcore.errors import CorruptDataError, ObjectNotFoundError, ValidationError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject


def construct(
    obj: DataObject,
    init: Callable[..., None],
    guid: str | None,
    data: dict[str, Any] | None,
    datastore_wins: bool | None,
    volatile: bool,
    values: dict[str, Any],
) -> None:
    """``DataObject(guid, data=, datastore_wins=, volatile=)``; ``init`` is DataObject's own
    ``__init__`` for the plain forms (handed in: this module sits below the object)."""
    # data= is a document, read as a stored one is: keys the class does not declare are dropped
    # (the original ignored them); keyword arguments stay strict.
    known = obj._meta.checks
    fields = {**{k: v for k, v in (data or {}).items() if k in known}, **values}
    if guid is None:
        init(obj, None, **fields)
    elif volatile:
        _load_volatile(obj, guid)
    else:
        init(obj, guid)
    if guid is not None:
        # On a loaded object, data= are local changes, as the original applied them.
        for name, value in fields.items():
            setattr(obj, name, value)
    if datastore_wins is not False:
        obj.__dict__["_datastore_wins"] = datastore_wins
    if volatile:
        obj.__dict__["_volatile"] = True


def _volatile_key(obj: DataObject) -> str:
    guid: str = obj.__dict__["guid"]
    return "v:" + _layout.prefix(runtime(), obj._meta) + guid


def _load_volatile(obj: DataObject, guid: str) -> None:
    meta = obj._meta
    object.__setattr__(obj, "__dict__", {"guid": guid})
    key = _volatile_key(obj)
    found = runtime().cache.get(key)
    if not isinstance(found, dict):
        raise ObjectNotFoundError(meta.name, guid, key)
    try:
        doc, _ = _layout._document(meta, key, guid, found)
    except CorruptDataError:
        raise ObjectNotFoundError(meta.name, guid, key) from None
    _layout.populate(obj, 0, doc, False)


def save_special(
    obj: DataObject, datastore_wins: Any, recursive: bool, skip: Iterable[str] | str | None
) -> None:
    """A volatile object's save (to the cache only), or a recursive save."""
    if obj.__dict__.get("_volatile"):
        obj._check_mandatory()
        doc = obj._document()
        runtime().cache.set(_volatile_key(obj), doc)
        state = obj.__dict__
        state["_rev"], state["_orig"], state["_stale"] = 0, _layout.json_copy(doc), False
        return
    skipped = {skip} if isinstance(skip, str) else set(skip or ())
    seen = {id(obj)}

    def save_related(current: DataObject) -> None:
        state = current.__dict__
        related = list(state["_related"].items())
        # The objects of the reverse lists this object handed out (and its caller changed).
        for key, handed in list(state.items()):
            if key.startswith(HANDED_OUT):
                name = key[len(HANDED_OUT) :]
                related += [(name, t) for t in handed.iterloaded()]
        for name, target in related:
            if name in skipped or target is None or id(target) in seen:
                continue
            seen.add(id(target))
            save_related(target)
            if target.dirty:
                target.save(datastore_wins)

    if _transaction.current() is not None:
        save_related(obj)
        obj.save(datastore_wins)
        return
    with _transaction.transaction():  # all of them or none
        save_related(obj)
        obj.save(datastore_wins)


def delete_volatile(obj: DataObject) -> None:
    runtime().cache.delete(_volatile_key(obj))
    obj.__dict__["_rev"] = None
    obj.__dict__["_orig"] = None


def updated_on_datastore(obj: DataObject) -> bool:
    state = obj.__dict__
    if state.get("_volatile"):
        return False
    rt = runtime()
    entry = rt.store.get_many([_layout.prefix(rt, obj._meta) + state["guid"]])[0]
    if entry is None:
        return state["_rev"] is not None
    return bool(entry.revision != state["_rev"])


def refresh_if_updated(obj: DataObject) -> None:
    """A save with nothing to write still leaves the object holding what is stored: when
    another save changed it since it was loaded, it is loaded again (one store read)."""
    if updated_on_datastore(obj):
        obj.discard()


def copy_fields(
    obj: DataObject,
    other: DataObject,
    include: Iterable[str] | None,
    exclude: Iterable[str] | None,
    include_relations: bool,
) -> None:
    meta = obj._meta
    if not isinstance(other, type(obj)) and not isinstance(obj, type(other)):
        raise ValidationError(
            meta.name, "copy", f"copies from a {meta.name}, not a {type(other).__name__}", other
        )
    names = list(meta.properties)
    if include_relations:
        names += [name + "_guid" for name in meta.relations]
    wanted = set(include) if include is not None else set(names)
    unknown = wanted - set(names) - set(meta.relations)
    if unknown:
        raise ValidationError(meta.name, ", ".join(sorted(unknown)), "is not a field to copy")
    for name in names:
        chosen = name in wanted or name.removesuffix("_guid") in wanted
        if chosen and (exclude is None or name not in set(exclude)):
            setattr(obj, name, _layout.json_copy(other.__dict__[name]))


class Enumerator:
    """Named values, as the original ``DataObject.enumerator`` made them:
    ``Status = DataObject.enumerator('Status', ['RUNNING', 'HALTED'])`` gives ``Status.RUNNING``,
    ``Status.keys()`` (for ``Property('status', Status.keys())``) and ``'RUNNING' in Status``."""

    def __init__(self, name: str, items: Mapping[str, Any]) -> None:
        self.__name__ = name
        self._items = dict(items)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_items"][name]
        except KeyError:
            raise AttributeError(f"{self.__name__} has no value {name!r}") from None

    def keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[Any]:
        return list(self._items.values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._items.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items or item in self._items.values()

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<enumerator {self.__name__} {self._items}>"


def enumerator(name: str, values: Iterable[str] | Mapping[str, Any]) -> Enumerator:
    items = dict(values) if isinstance(values, Mapping) else {value: value for value in values}
    return Enumerator(name, items)
