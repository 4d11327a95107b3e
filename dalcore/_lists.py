"""A lazy list of hybrids: guids first, objects loaded in one batch when first needed."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

from dalcore import _objcache
from dalcore._runtime import runtime

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject


class DataObjectList(Sequence[Any]):
    """Objects of ``hybrid`` with the given guids, in that order.

    ``len()`` and :attr:`guids` never load anything. The first access to the objects loads
    them all with one cache round trip and at most one store round trip; objects deleted since
    the guids were found are skipped, not raised.
    """

    __slots__ = ("_guids", "_hybrid", "_kinds", "_objects")

    def __init__(
        self,
        hybrid: type[DataObject],
        guids: Sequence[str],
        kinds: Sequence[type[DataObject]] | None = None,
    ) -> None:
        self._hybrid = hybrid
        self._guids = list(guids)
        # The class of each guid, when they differ (subclasses stored under their own path).
        self._kinds = None if kinds is None else list(kinds)
        self._objects: list[DataObject] | None = None

    @property
    def hybrid(self) -> type[DataObject]:
        return self._hybrid

    @property
    def guids(self) -> list[str]:
        """The guids (before loading; objects deleted meanwhile are still listed here)."""
        return list(self._guid_list())

    def _guid_list(self) -> list[str]:
        return self._guids

    def _load(self) -> list[DataObject]:
        objects = self._objects
        if objects is None and self._kinds is not None:
            objects = self._objects = self._load_mixed(self._kinds)
        if objects is None:
            found = _objcache.load_many(runtime(), self._hybrid, self._guid_list())
            objects = self._objects = [obj for obj in found if obj is not None]
        return objects

    def _load_mixed(self, kinds: list[type[DataObject]]) -> list[DataObject]:
        """One batch per class, results back in list order."""
        rt = runtime()
        guids = self._guid_list()
        loaded: dict[int, DataObject] = {}
        for kind in dict.fromkeys(kinds):
            positions = [i for i, k in enumerate(kinds) if k is kind]
            found = _objcache.load_many(rt, kind, [guids[i] for i in positions])
            for position, obj in zip(positions, found, strict=True):
                if obj is not None:
                    loaded[position] = obj
        return [loaded[i] for i in sorted(loaded)]

    def __len__(self) -> int:
        if self._objects is not None:
            return len(self._objects)
        return len(self._guid_list())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._load())

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> DataObjectList: ...
    def __getitem__(self, index: int | slice) -> Any:
        if not isinstance(index, slice):
            return self._load()[index]
        if self._objects is not None:
            return self._of(self._objects[index])
        # Not loaded yet: the slice stays lazy and loads only its own objects.
        kinds = None if self._kinds is None else self._kinds[index]
        return DataObjectList(self._hybrid, self._guid_list()[index], kinds)

    # -- the original DAL's list operations (they load the objects, then work on them) ------

    def _of(self, objects: list[Any]) -> DataObjectList:
        result = DataObjectList(self._hybrid, [obj.guid for obj in objects])
        result._objects = objects
        return result

    def _set(self, objects: list[Any]) -> None:
        # A list of its own: a query's guid list may be shared with the cache.
        self._objects = objects
        self._guids = [obj.guid for obj in objects]
        self._kinds = None

    def _check(self, item: Any) -> Any:
        if not isinstance(item, self._hybrid):
            from dalcore.errors import ValidationError

            raise ValidationError(
                self._hybrid.__name__, "list", f"holds {self._hybrid.__name__} objects", item
            )
        return item

    def sort(self, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        """Sort in place by ``key`` (a function of the object; by guid when None)."""
        self._set(sorted(self._load(), key=key or _by_guid, reverse=reverse))

    def reverse(self) -> None:
        self._set(list(reversed(self._load())))

    def shuffle(self) -> None:
        objects = list(self._load())
        random.shuffle(objects)
        self._set(objects)

    def pop(self, index: int = -1) -> Any:
        if type(index) is not int:
            # A ValidationError is a TypeError (Python's lists) and a ValueError (the original).
            from dalcore.errors import ValidationError

            raise ValidationError(self._hybrid.__name__, "list", f"pop takes an int, not {index!r}")
        objects = list(self._load())
        item = objects.pop(index)
        self._set(objects)
        return item

    def index(self, item: Any, *args: Any) -> int:
        """The position of ``item`` (matched by guid); ValueError when absent."""
        return [obj.guid for obj in self._load()].index(getattr(item, "guid", item), *args)

    def count(self, item: Any) -> int:
        return [obj.guid for obj in self._load()].count(getattr(item, "guid", item))

    def remove(self, item: Any) -> None:
        """Remove ``item`` (an object or a guid); an object of another class is a
        ValidationError (a TypeError, as the original raised), an absent one a ValueError."""
        if not isinstance(item, str):
            self._check(item)
        objects = list(self._load())
        del objects[self.index(item)]
        self._set(objects)

    def append(self, item: Any) -> None:
        self._set([*self._load(), self._check(item)])

    add = append

    def update(self, other: Iterable[Any]) -> None:
        """Append the objects of ``other`` this list does not hold yet."""
        objects = list(self._load())
        have = {obj.guid for obj in objects}
        for item in other:
            if self._check(item).guid not in have:
                have.add(item.guid)
                objects.append(item)
        self._set(objects)

    def merge(self, other: Iterable[Any]) -> None:
        """Become ``other`` (objects or guids, in its order), keeping the objects already
        loaded here instead of loading them again."""
        loaded = {obj.guid: obj for obj in self._objects or ()}
        wanted = [getattr(item, "guid", item) for item in other]
        missing = [guid for guid in wanted if guid not in loaded]
        if missing:
            for obj in _objcache.load_many(runtime(), self._hybrid, missing):
                if obj is not None:
                    loaded[obj.guid] = obj
        self._set([loaded[guid] for guid in wanted if guid in loaded])

    def __add__(self, other: Iterable[Any]) -> DataObjectList:
        result = self._of(list(self._load()))
        result.update(other)
        return result

    def iterloaded(self) -> Iterator[Any]:
        """The objects already loaded, without loading any."""
        return iter(self._objects or ())

    def itersafe(self) -> Iterator[Any]:
        """Every object, skipping those deleted since the guids were found (the default)."""
        return iter(self._load())

    def iterunsafe(self) -> Iterator[Any]:
        """Every object; ObjectNotFoundError for one deleted since the guids were found."""
        return iter(self.loadunsafe())

    def loadsafe(self) -> list[Any]:
        return list(self._load())

    def loadunsafe(self) -> list[Any]:
        objects = self._load()
        if len(objects) != len(self._guid_list()):
            from dalcore.errors import ObjectNotFoundError

            present = {obj.guid for obj in objects}
            gone = next(guid for guid in self._guid_list() if guid not in present)
            raise ObjectNotFoundError(self._hybrid.__name__, gone, gone)
        return list(objects)

    def __contains__(self, item: object) -> bool:
        guid = getattr(item, "guid", None)
        return isinstance(item, self._hybrid) and guid in self._guid_list()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DataObjectList):
            return self._load() == other._load()
        if isinstance(other, list):
            return self._load() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def order_by(self, *fields: str) -> DataObjectList:
        """The objects sorted by ``fields`` (``"-name"`` for descending; None sorts first)."""
        objects = list(self._load())
        for spec in reversed(fields):
            name = spec.lstrip("-")
            meta = self._hybrid._meta
            if name != "guid" and name not in meta.checks and name not in meta.dynamics:
                from dalcore.errors import QueryError

                raise QueryError(f"{self._hybrid.__name__}.{name}: cannot sort by it")
            objects.sort(key=_sort_key(name), reverse=spec.startswith("-"))
        result = DataObjectList(self._hybrid, [obj.guid for obj in objects])
        result._objects = objects
        return result

    def page(self, number: int, size: int) -> list[Any]:
        """Page ``number`` (from 1) of ``size`` objects."""
        if number < 1 or size < 1:
            raise ValueError(f"page number and size start at 1, got {number}, {size}")
        start = (number - 1) * size
        return self._load()[start : start + size]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self)} {self._hybrid.__name__}>"


def _by_guid(obj: Any) -> str:
    return str(obj.guid)


def _sort_key(name: str) -> Callable[[Any], tuple[bool, Any]]:
    def key(obj: Any) -> tuple[bool, Any]:
        value = getattr(obj, name)
        return (value is not None, value)  # None sorts before every value

    return key
