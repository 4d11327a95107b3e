"""Key layout, document decoding, and the protocol that keeps cached objects from going stale.

Layout in the persistent store (``ns`` is the configured namespace)::

    ns/<path>/<guid>                               the object, one JSON document
    ns/.rel/<path>/<relation>/<target>/<guid>      reverse index: <guid> links to <target>
    ns/.rel/<path>/<relation>/<target>             the same for a one-to-one relation (value: guid)
    ns/.links/<target path>/<target>               touched by every save that links to <target>
    ns/.idx/<path>/<field>/<json value>/<guid>     secondary index of an ``indexed`` property
    ns/.uniq/<path>/<field>/<json value>           owner (guid) of a ``unique`` property's value
    ns/.locks/<name>                               a PersistentMutex
    ns/.reindex/<path>                             where an interrupted reindex stopped
    ns/.check/cursor                               where an interrupted ``check --repair`` stopped
    ns/.doctor/<random>                            ``dalcore doctor``'s watch probe (deleted)
    ns/.sync                                       written by a read barrier (etcd) to see
                                                   its own write come back through the watch

A path starting with ``/`` is absolute (``/pod_managers/<uuid>``, as Valence laid it out).

The volatile cache holds ``o:<key>`` -> ``[revision, document, stale]``, ``r:<reverse prefix>``
-> ``[guid, ...]`` and ``d:<key>:<dynamic>`` -> ``[value]``. Two rules keep it from serving an
old version (docs/consistency.md states the guarantee they give):

* **Holds.** A save or delete, after its commit and before it returns, *sets* a ``HOLD``
  marker on every object and reverse list it changed. A reader that finds a hold reads the
  store and replaces the hold with what it read by ``cas`` against the token ``gets`` gave it
  *before* the store read; a save that holds the key again in between makes that ``cas`` fail.
  A reader that finds nothing fills with ``add`` (never overwriting), and only when its store
  read is less than ``FILL_MARGIN`` seconds old, which the hold outlives. So an object updated
  every second stays cached: only the first read after each save goes to the store.
* **Barrier.** A per-process cache cannot be held by other processes. Their commits reach it
  through the store's watch, and before any cached read ``Runtime.sync`` waits until the watch
  has delivered every commit that finished before the read began (``WatchHandle.sync``).

Entries are untrusted: memcached is shared and may hold another version's entries. One of the
wrong shape or type is a miss (reloaded from the store and replaced, logged once). Entries
this process made itself carry the ``Cached`` type, which a decoded JSON value never has, so
the in-process cache's hits cost no check.
"""

from __future__ import annotations

import copy
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from dalcore.api import NO_VALUE, WatchEvent
from dalcore.errors import CorruptDataError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject, HybridMeta
    from dalcore._runtime import Runtime
    from dalcore._structures import Relation

HOLD = "__dalcore_hold__"
# Every hold is HOLD plus a value no other hold has: a cache whose cas compares bytes (Redis)
# must not take a newer save's hold for the one a reader saw (the ABA problem).
_hold_prefix = f"{HOLD}:{secrets.token_hex(4)}:"
_hold_count = itertools.count()


def new_hold() -> str:
    return _hold_prefix + str(next(_hold_count))


def is_hold(value: Any) -> bool:
    return type(value) is str and value.startswith(HOLD)


FILL_MARGIN = 1.0

Document = dict[str, Any]

_log = logging.getLogger("dalcore.cache")
_warned: set[str] = set()


class Cached(list):  # type: ignore[type-arg]
    """A cache entry this process built and checked; never mutated once made.

    A subclass of list, so memcached stores it as a JSON array like any other; what comes back
    from there is a plain list and is checked before use.
    """

    __slots__ = ()


def unusable(kind: str, key: str, value: Any, reason: str) -> None:
    """Log (once per kind of entry) a cache entry that had to be ignored."""
    if kind not in _warned:
        _warned.add(kind)
        _log.warning(
            "ignoring a malformed %s cache entry under %r (%s): %.80r; reloading from the store"
            " (logged once per kind of entry)",
            kind,
            key,
            reason,
            value,
        )


def prefix(rt: Runtime, meta: HybridMeta) -> str:
    """``ns/<path>/`` for objects of ``meta`` (cached per configuration)."""
    cached = meta.prefix_cache
    if cached is not None and cached[0] is rt:
        return cached[1]
    if meta.path.startswith("/"):
        value = meta.path.rstrip("/") + "/"
    else:
        value = f"{rt.namespace}/{meta.keyspace}/" if rt.namespace else f"{meta.keyspace}/"
    meta.prefix_cache = (rt, value)
    return value


def internal_prefix(rt: Runtime, area: str) -> str:
    """``ns/<area>/``: where dalcore keeps what is not an object (indexes, locks, ...)."""
    return f"{rt.namespace}/{area}/" if rt.namespace else f"{area}/"


def reverse_prefix(rt: Runtime, source: HybridMeta, relation: Relation, target_guid: str) -> str:
    base = f"{internal_prefix(rt, '.rel')}{source.keyspace}/{relation.name}/{target_guid}"
    return base if relation.onetoone else base + "/"


def reverse_key(
    rt: Runtime, source: HybridMeta, relation: Relation, target_guid: str, guid: str
) -> str:
    base = reverse_prefix(rt, source, relation, target_guid)
    return base if relation.onetoone else base + guid


def link_marker(rt: Runtime, target: HybridMeta, target_guid: str) -> str:
    return f"{internal_prefix(rt, '.links')}{target.keyspace}/{target_guid}"


def _json(value: Any) -> str:
    # JSON ends a string with an unescaped quote, so "<json>/" never prefixes another value's key.
    return orjson.dumps(value).decode()


def index_prefix(rt: Runtime, meta: HybridMeta, field: str, value: Any) -> str:
    return f"{internal_prefix(rt, '.idx')}{meta.keyspace}/{field}/{_json(value)}/"


def unique_key(rt: Runtime, meta: HybridMeta, field: str, value: Any) -> str:
    return f"{internal_prefix(rt, '.uniq')}{meta.keyspace}/{field}/{_json(value)}"


def query_generation_key(rt: Runtime, meta: HybridMeta) -> str:
    return "g:" + prefix(rt, meta)


def new_generation() -> str:
    """A fresh query-generation token (random, so that no two processes pick the same)."""
    return secrets.token_hex(8)


def dynamic_key(rt: Runtime, obj: DataObject, name: str) -> str:
    return f"d:{prefix(rt, obj._meta)}{obj.guid}:{name}"


def reverse_guids(
    rt: Runtime, source: type[DataObject], relation: Relation, guid: str
) -> list[str]:
    """Guids of the ``source`` objects whose ``relation`` points at ``guid``.

    Cached under ``r:<reverse prefix>`` by the same rule as objects: filled with ``add`` only
    when fresh, and held by every commit that links or unlinks an object to ``guid``.
    """
    return reverse_guids_at(rt, "r:" + reverse_prefix(rt, source._meta, relation, guid), relation)


def reverse_guids_at(rt: Runtime, cache_key: str, relation: Relation) -> list[str]:
    """:func:`reverse_guids` for a cache key (``"r:" + reverse prefix``) already made."""
    if rt.sync is not None:
        rt.sync()
    cached = rt.cache.get(cache_key)
    if type(cached) is Cached:
        return cached  # shared with the cache: callers copy before handing it to users
    token = None
    if cached is not NO_VALUE:
        if type(cached) is list and all(type(guid) is str for guid in cached):
            return cached
        if not is_hold(cached):
            unusable("reverse list", cache_key, cached, "expected a list of guids")
        cached, token = rt.cache.gets(cache_key)
    base = cache_key[2:]
    started = time.monotonic()
    if relation.onetoone:
        entry = rt.store.get_many([base])[0]
        found = Cached([] if entry is None else [entry.value.decode()])
    else:
        cut = len(base)
        found = Cached([key[cut:] for key in rt.store.keys(base)])
    if time.monotonic() - started < FILL_MARGIN:
        rt.cache.cas(cache_key, found, token, rt.object_ttl)
    return found


# -- documents ------------------------------------------------------------------------------


def encode(doc: Document) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def decode(meta: HybridMeta, key: str, guid: str, raw: bytes) -> tuple[Document, bool]:
    """The validated document stored under ``key``, and whether it needs rewriting (upgrade).

    Missing fields get their defaults and undeclared ones are dropped (both mark it stale);
    anything that is not a JSON object with well-typed fields is a CorruptDataError naming the
    key and the field, so a half-built object never exists.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(key, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptDataError(key, f"expected a JSON object, found {type(data).__name__}")
    return _document(meta, key, guid, data)


def _document(meta: HybridMeta, key: str, guid: str, data: dict[str, Any]) -> tuple[Document, bool]:
    doc: Document = {"guid": guid}
    stale = False
    for name, check in meta.decode_checks.items():
        if name in data:
            try:
                doc[name] = check(data[name])
            except (TypeError, ValueError) as exc:
                raise CorruptDataError(key, str(exc), field=name) from None
        else:
            doc[name] = meta.properties[name].fresh_default() if name in meta.properties else None
            stale = True
    for name in data:
        if name != "guid" and name not in meta.checks:
            stale = True
    return doc, stale


_NONE = type(None)


class _EntryShape:
    """The fields of a document as this process caches it, in order, and the type signatures
    (the types of its values, in that order) found well typed so far."""

    def __init__(self, meta: HybridMeta) -> None:
        self.order = ("guid", *meta.decode_checks)
        self.enums = [
            (name, prop.type)
            for name, prop in meta.properties.items()
            if isinstance(prop.type, list)
        ]
        self.good: dict[tuple[type, ...], bool] = {}


def _entry_shape(meta: HybridMeta) -> _EntryShape:
    shape = meta.entry_shape = _EntryShape(meta)
    return shape


def cached_object(
    meta: HybridMeta, key: str, guid: str, value: Any
) -> tuple[int, Document, bool] | None:
    """A cache entry that did not come from this process, checked as a stored document is:
    ``[revision, document, stale]`` with every field of ``meta`` well typed, else None."""
    if type(value) is not list or len(value) != 3:
        if value is not NO_VALUE and not is_hold(value):
            unusable("object", key, value, "expected [revision, document, stale]")
        return None
    revision, data, stale = value
    if type(revision) is not int or type(stale) is not bool or type(data) is not dict:
        unusable("object", key, value, "expected [revision, document, stale]")
        return None
    # The usual case, an entry in the layout this process writes, whose type signature was
    # seen before: no Python call per field (a reverse list of 100 from memcached checks 100).
    shape = meta.entry_shape or _entry_shape(meta)
    ordered = tuple(data) == shape.order
    if ordered and data["guid"] == guid:
        signature = tuple(map(type, data.values()))
        if shape.good.get(signature):
            for name, allowed in shape.enums:
                if data[name] is not None and data[name] not in allowed:
                    break
            else:
                return revision, data, stale
    if data.get("guid") != guid:
        unusable("object", key, value, f"expected the document of {guid}")
        return None
    try:
        doc, missing = _document(meta, key, guid, data)
    except CorruptDataError as exc:
        unusable("object", key, value, str(exc))
        return None
    if missing or len(data) != len(doc):
        unusable("object", key, value, f"expected the fields of {meta.name}")
        return None
    signature = tuple(map(type, data.values()))
    if ordered and signature == tuple(map(type, doc.values())) and len(shape.good) < 1024:
        # The checks kept every value's type (an int in a float field would become a float):
        # later entries with these types take the short way. One signature per combination
        # of None fields, in practice few.
        shape.good[signature] = True
    return revision, doc, stale


# -- loading --------------------------------------------------------------------------------


def json_copy(value: Any) -> Any:
    """A deep copy of a decoded JSON value, about 5x faster than :func:`copy.deepcopy`.

    deepcopy's memo (for shared references and cycles) is wasted on JSON trees, which have
    neither; anything that is not a plain list or dict of JSON values goes to deepcopy.
    """
    kind = type(value)
    if kind is list:
        return [item if type(item) in _SCALARS else json_copy(item) for item in value]
    if kind is dict:
        return {
            key: item if type(item) in _SCALARS else json_copy(item) for key, item in value.items()
        }
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def populate(obj: DataObject, revision: int, doc: Document, stale: bool) -> None:
    """Fill an instance from a (shared, never mutated) document.

    The instance gets a new dict, assigned whole rather than filled key by key: on CPython 3.11
    an instance dict filled key by key stays a "split" dict, whose attribute reads deoptimise
    on every access (about 3x slower than a plain attribute); a dict assigned whole reads at
    plain-attribute speed.
    """
    values = dict(doc)
    for name in obj._meta.mutable:
        value = doc[name]
        if value is not None:
            values[name] = json_copy(value)
    values["_rev"] = revision
    values["_orig"] = doc
    values["_stale"] = stale
    values["_related"] = {}
    object.__setattr__(obj, "__dict__", values)


def read(rt: Runtime, meta: HybridMeta, guid: str) -> tuple[int, Document, bool] | None:
    """The object's revision, document and staleness: from the cache, else from the store."""
    key = prefix(rt, meta) + guid
    if rt.sync is not None:
        rt.sync()
    cached = rt.cache.get("o:" + key)
    if type(cached) is Cached:
        return cached[0], cached[1], cached[2]
    token = None
    if cached is not NO_VALUE:
        checked = cached_object(meta, key, guid, cached)
        if checked is not None:
            return checked
        # A hold or an unusable entry: replaced only if no save holds it again meanwhile.
        cached, token = rt.cache.gets("o:" + key)
    started = time.monotonic()
    entry = rt.store.get_many([key])[0]
    if entry is None:
        return None
    doc, stale = decode(meta, key, guid, entry.value)
    if time.monotonic() - started < FILL_MARGIN:
        rt.cache.cas("o:" + key, Cached((entry.revision, doc, stale)), token, rt.object_ttl)
    return entry.revision, doc, stale


def read_many(
    rt: Runtime, meta: HybridMeta, guids: Sequence[str]
) -> list[tuple[int, Document, bool] | None]:
    """Like :func:`read` for many objects: one cache round trip, one store round trip."""
    base = prefix(rt, meta)
    keys = [base + guid for guid in guids]
    if rt.sync is not None:
        rt.sync()
    cached = rt.cache.get_many(["o:" + key for key in keys])
    result: list[tuple[int, Document, bool] | None] = [None] * len(keys)
    missing: list[int] = []
    tokens: dict[int, Any] = {}
    for index, item in enumerate(cached):
        if type(item) is Cached:
            result[index] = (item[0], item[1], item[2])
            continue
        if item is not NO_VALUE:
            checked = cached_object(meta, keys[index], guids[index], item)
            if checked is not None:
                result[index] = checked
                continue
            tokens[index] = rt.cache.gets("o:" + keys[index])[1]
        missing.append(index)
    if not missing:
        return result
    started = time.monotonic()
    entries = rt.store.get_many([keys[index] for index in missing])
    fresh = time.monotonic() - started < FILL_MARGIN
    for index, entry in zip(missing, entries, strict=True):
        if entry is None:
            continue
        doc, stale = decode(meta, keys[index], guids[index], entry.value)
        result[index] = (entry.revision, doc, stale)
        if fresh:
            value = Cached((entry.revision, doc, stale))
            rt.cache.cas("o:" + keys[index], value, tokens.get(index), rt.object_ttl)
    return result


def load_many(rt: Runtime, hybrid: type[DataObject], guids: Sequence[str]) -> list[Any]:
    """Objects of ``hybrid`` (after plugin replacements) for ``guids``, in the same order; None
    where an object no longer exists. One cache round trip, at most one store round trip."""
    cls = hybrid._replacement()
    objects: list[Any] = []
    for item in read_many(rt, cls._meta, guids):
        if item is None:
            objects.append(None)
            continue
        obj = object.__new__(cls)
        populate(obj, *item)
        objects.append(obj)
    return objects


def changed(
    rt: Runtime,
    keys: Sequence[str],
    hybrids: Iterable[HybridMeta],
    lists: Iterable[str] = (),
) -> None:
    """After a commit changed or removed these objects (and the reverse lists under these
    prefixes): block refills for a while, and give each touched hybrid a new query
    generation so that no cached query result from before the commit is used.
    """
    hold = new_hold()
    held = {"o:" + key: hold for key in keys}
    held.update(("r:" + base, hold) for base in lists)
    if held:
        rt.cache.set_many(held, rt.hold_seconds)
    tokens = {query_generation_key(rt, meta): new_generation() for meta in hybrids}
    if tokens:
        rt.cache.set_many(tokens)


def fill_dynamic(rt: Runtime, key: str, value: Any, timeout: float, started: float) -> float | None:
    """Cache a computed value as ``[value, expires]`` (wall clock); returns when it expires, or
    None when the computation took too long to be cached."""
    if time.monotonic() - started < max(timeout, FILL_MARGIN):
        expires = time.time() + timeout
        rt.cache.set(key, Cached((value, expires)), timeout)
        return expires
    return None


def cached_dynamic(key: str, value: Any, check: Callable[[Any], Any]) -> tuple[Any] | None:
    """A dynamic's cache entry that did not come from this process: ``[value, expires]`` (or
    ``[value]``, as older versions wrote) passing the dynamic's type check, else None."""
    if value is NO_VALUE:
        return None
    if type(value) is list and (
        len(value) == 1 or (len(value) == 2 and type(value[1]) in (int, float))
    ):
        try:
            return (check(value[0]),)
        except (TypeError, ValueError) as exc:
            unusable("dynamic", key, value, str(exc))
            return None
    unusable("dynamic", key, value, "expected [value, expires]")
    return None


def invalidation_feed(rt: Runtime) -> Callable[[WatchEvent], None]:
    """A store-watch callback that applies every commit, from any process, to a process-local
    cache as if this process had made it: hold the object or reverse list, renew the query
    generation of its hybrid."""
    scope = f"{rt.namespace}/" if rt.namespace else ""
    relations = scope + ".rel/"
    cache = rt.local_cache
    own = rt.own_revisions

    def on_change(event: WatchEvent) -> None:
        if event.revision in own:
            return  # this process's own commit: already applied to its cache when it made it
        key = event.key
        cut = key.rfind("/") + 1
        if key.startswith(relations):
            # Many-to-one lists are cached under the prefix ending in "/", one-to-one under
            # the key itself; the event cannot tell which, so hold both.
            hold = new_hold()
            cache.set_many({"r:" + key[:cut]: hold, "r:" + key: hold}, rt.hold_seconds)
        elif not key[len(scope) :].startswith("."):
            cache.set("o:" + key, new_hold(), rt.hold_seconds)
            cache.set("g:" + key[:cut], new_generation())

    return on_change
