"""Class attributes a hybrid gets for its relations, reverse relations and dynamics."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dalcore import _layout, _objcache
from dalcore._layout import Cached
from dalcore._lists import DataObjectList
from dalcore._mutex import VolatileMutex
from dalcore._runtime import runtime
from dalcore._structures import Dynamic, Relation, make_check
from dalcore.errors import DalcoreError, DefinitionError, DynamicError

_now = time.time

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject


class RelationAttribute:
    """``obj.<relation>``: the linked object, loaded on first read and kept on the instance."""

    __slots__ = ("guid_field", "name", "owner", "relation")

    def __init__(self, owner: type[DataObject], relation: Relation) -> None:
        self.owner = owner
        self.relation = relation
        self.name = relation.name
        self.guid_field = relation.name + "_guid"

    def __get__(self, obj: DataObject | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        values = obj.__dict__
        guid = values[self.guid_field]
        if guid is None:
            return None
        linked = values["_related"].get(self.name)
        if linked is not None and linked.guid == guid:
            return linked
        linked = self.owner._meta.target(self.name)(guid)
        values["_related"][self.name] = linked
        return linked


#: Bumped whenever a hybrid class is created, so cached relation families are recomputed.
CLASS_GENERATION = [0]
_families: dict[tuple[type, str], tuple[int, list[Any]]] = {}


def family(source: type[DataObject], relation: Relation) -> list[type[DataObject]]:
    """``source`` and every subclass that inherited ``relation`` but stores under its own path.

    Such a subclass writes its reverse entries under its own path, so the target's reverse side
    must gather them from each member (a replacement shares its base's path: not listed).
    """
    cached = _families.get((source, relation.name))
    if cached is not None and cached[0] == CLASS_GENERATION[0]:
        return cached[1]
    members = [source]
    seen = {source._meta.keyspace}
    pending = list(source.__subclasses__())
    while pending:
        sub = pending.pop(0)
        pending.extend(sub.__subclasses__())
        meta = sub.__dict__.get("_meta")
        if meta is None or meta.relations.get(relation.name) is not relation:
            continue
        if meta.keyspace not in seen:
            seen.add(meta.keyspace)
            members.append(sub)
    _families[(source, relation.name)] = (CLASS_GENERATION[0], members)
    return members


#: Prefix of the instance-dict keys under which an object keeps the reverse lists it handed out.
HANDED_OUT = "_list:"


class ReverseAttribute:
    """``target.<reverse_name>``: the objects whose relation points at this one.

    A list (lazily loaded, in one batch) or, for a one-to-one relation, a single object or None.
    With ``guids`` it gives the guids instead, without loading any object.
    """

    __slots__ = ("family", "guids", "handed_key", "relation", "source")

    def __init__(self, source: type[DataObject], relation: Relation, guids: bool) -> None:
        self.source = source
        self.relation = relation
        self.guids = guids
        self.handed_key = HANDED_OUT + relation.reverse_name
        # (class generation, family(source, relation)), kept here: this is a hot path.
        self.family: tuple[int, list[type[DataObject]]] = (-1, [])

    def __get__(self, obj: DataObject | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        rt = runtime()
        relation = self.relation
        known_family = self.family
        if known_family[0] != CLASS_GENERATION[0]:
            known_family = self.family = (CLASS_GENERATION[0], family(self.source, relation))
        if len(known_family[1]) > 1:
            gathered = self._gather(rt, known_family[1], obj.guid)
            if type(gathered) is DataObjectList:
                obj.__dict__[self.handed_key] = gathered
            return gathered
        # The cache key is made once per object and configuration, not on every read.
        keys = obj.__dict__.get("_reverse_keys")
        known = None if keys is None else keys.get(relation.reverse_name)
        if known is not None and known[0] is rt:
            key = known[1]
        else:
            key = "r:" + _layout.reverse_prefix(rt, self.source._meta, relation, obj.guid)
            obj.__dict__.setdefault("_reverse_keys", {})[relation.reverse_name] = (rt, key)
        found = _objcache.reverse_guids_at(rt, key, relation)
        if relation.onetoone:
            guid = found[0] if found else None
            if self.guids or guid is None:
                return guid
            return self.source(guid)
        if self.guids:
            return list(found)
        result = DataObjectList(self.source, found)
        # The last list handed out, whose changed objects save(recursive=True) saves, as the
        # original DAL did with the lists it kept on the object. One store into the instance
        # dict under a key of its own: this is the hot path of len(machine.disks).
        obj.__dict__[self.handed_key] = result
        return result

    def _gather(self, rt: Any, members: list[type[DataObject]], guid: str) -> Any:
        guids: list[str] = []
        kinds: list[type[DataObject]] = []
        for member in members:
            found = _objcache.reverse_guids(rt, member, self.relation, guid)
            guids += found
            kinds += [member] * len(found)
        if self.relation.onetoone:
            if self.guids or not guids:
                return guids[0] if guids else None
            return kinds[0](guids[0])
        if self.guids:
            return guids
        return DataObjectList(self.source, guids, kinds)


class DynamicAttribute:
    """``obj.<dynamic>``: computed, type-checked and cached in the volatile cache."""

    __slots__ = ("check", "dynamic", "loader", "memo_key", "name", "owner", "pass_dynamic")

    def __init__(
        self, owner: type[DataObject], dynamic: Dynamic, loader: Callable[..., Any]
    ) -> None:
        self.owner = owner
        self.dynamic = dynamic
        self.name = dynamic.name
        # Where the instance keeps its memo of this dynamic: a key of its own in the instance
        # dict (one lookup on the hot path, not two).
        self.memo_key = "_memo:" + dynamic.name
        self.loader = loader
        self.check = make_check(owner.__name__, dynamic.name, dynamic.type)
        self.pass_dynamic = _takes_argument(loader)

    def __get__(self, obj: DataObject | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        # With a per-process cache, a value read or computed is also kept on the object, good
        # until the cache entry expires and while nothing was deleted from the cache (which
        # invalidate_dynamics() and clear() do): a repeated read then costs no cache call. A
        # shared cache is asked every time, since other processes may invalidate.
        hit = obj.__dict__.get(self.memo_key)
        if hit is not None and hit[0] is runtime() and hit[1] == hit[4].epoch and hit[3] > _now():
            return hit[2]
        if self.dynamic.timeout == 0:
            return self.compute(obj)
        return self._read(obj)

    def _read(self, obj: DataObject) -> Any:
        dynamic = self.dynamic
        rt = runtime()
        state = obj.__dict__
        # The cache key is made once per object and configuration, not on every read.
        keys = state.setdefault("_dynamic_keys", {})
        known = keys.get(dynamic.name)
        if known is not None and known[0] is rt:
            key = known[1]
        else:
            key = _layout.dynamic_key(rt, obj, dynamic.name)
            keys[dynamic.name] = (rt, key)
        cache = rt.cache
        cached = cache.get(key)
        if type(cached) is Cached:
            self._keep(state, rt, cache, cached[0], cached[1])
            return cached[0]
        checked = _layout.cached_dynamic(key, cached, self.check)
        if checked is not None:
            return checked[0]
        if dynamic.locked:
            return self._locked(obj, rt, key)
        started = time.monotonic()
        epoch = getattr(cache, "epoch", None)  # read before computing: a delete meanwhile wins
        value = self.compute(obj)
        expires = _objcache.fill_dynamic(rt, key, value, dynamic.timeout, started)
        if expires is not None and epoch is not None:
            state[self.memo_key] = (rt, epoch, value, expires, cache)
        return value

    def _keep(self, state: dict[str, Any], rt: Any, cache: Any, value: Any, expires: Any) -> None:
        epoch = getattr(cache, "epoch", None)
        if epoch is not None and type(expires) is float:
            state[self.memo_key] = (rt, epoch, value, expires, cache)

    def _cached(self, key: str, value: Any) -> tuple[Any] | None:
        if type(value) is Cached:
            return (value[0],)
        return _layout.cached_dynamic(key, value, self.check)

    def compute(self, obj: DataObject) -> Any:
        """Run the loader once, with its failure turned into a DynamicError for this dynamic."""
        dynamic = self.dynamic
        try:
            value = self.loader(obj, dynamic) if self.pass_dynamic else self.loader(obj)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise DynamicError(type(obj).__name__, obj.guid, dynamic.name, reason) from exc
        try:
            return self.check(value)
        except (TypeError, ValueError) as exc:
            raise DynamicError(
                type(obj).__name__, obj.guid, dynamic.name, f"loader returned a bad value: {exc}"
            ) from None

    def _locked(self, obj: DataObject, rt: Any, key: str) -> Any:
        """One computation across all processes; the others wait for its cached result."""
        dynamic = self.dynamic
        mutex = VolatileMutex(rt.cache, key, ttl=dynamic.lock_wait, wait=dynamic.lock_wait)
        deadline = time.monotonic() + dynamic.lock_wait
        pause = 0.001
        phantom = 0
        while True:
            if mutex.try_acquire():
                try:
                    # The previous holder may have just filled it.
                    checked = self._cached(key, rt.cache.get(key))
                    if checked is not None:
                        return checked[0]
                    started = time.monotonic()
                    value = self.compute(obj)
                    _objcache.fill_dynamic(rt, key, value, dynamic.timeout, started)
                    return value
                finally:
                    mutex.release()
            # add refused but nobody holds the mutex: the cache is dropping writes (server gone).
            # Waiting would pile every caller up behind a lock that does not exist, so compute.
            if not mutex.holder_present():
                phantom += 1
                if phantom >= 3:
                    return self.compute(obj)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            checked = self._cached(key, rt.cache.get(key))
            if checked is not None:
                return checked[0]
            if time.monotonic() > deadline:
                raise DynamicError(
                    type(obj).__name__,
                    obj.guid,
                    dynamic.name,
                    f"timed out after {dynamic.lock_wait}s waiting for another process "
                    "to compute it",
                )


def _takes_argument(loader: Callable[..., Any]) -> bool:
    """Whether a ``_<name>`` method / loader takes the Dynamic besides the object."""
    try:
        parameters = list(inspect.signature(loader).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def resolve_loader(owner: type, dynamic: Dynamic) -> Callable[..., Any]:
    """The ``_<name>`` method, else a loader plugin's function; DefinitionError when neither."""
    method = getattr(owner, "_" + dynamic.name, None)
    if callable(method):
        return method  # type: ignore[no-any-return]
    from dalcore._plugins import plugin_manager

    try:
        loader = plugin_manager().hook.dalcore_dynamic_loader(hybrid=owner, dynamic=dynamic)
    except DalcoreError:
        raise
    except Exception as exc:
        raise DefinitionError(
            f"{owner.__name__}.{dynamic.name}: a loader plugin failed: {exc}"
        ) from exc
    if loader is None:
        raise DefinitionError(
            f"{owner.__name__}.{dynamic.name}: dynamic has no method _{dynamic.name} "
            "and no installed loader plugin provides it"
        )
    return loader  # type: ignore[no-any-return]
