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

A path starting with ``/`` is absolute (``/pod_managers/<uuid>``, as Valence laid it out).

The volatile cache holds ``o:<key>`` -> ``[revision, document, stale]`` and
``d:<key>:<dynamic>`` -> ``[value]``. The rule that keeps a slow load from putting an old
version back after a concurrent save (the original DAL's worst bug):

* a load fills the cache only with ``add`` (never overwriting anything), and only if its store
  read is less than ``FILL_MARGIN`` seconds old;
* a save or delete, after its commit, *sets* a ``HOLD`` marker living ``HOLD_SECONDS``.

A load that read the old version before the commit either finds the marker (its ``add`` fails)
or took longer than the margin and skips filling, since the marker outlives the margin even
with memcached's whole-second TTLs. Concurrent savers all write the same marker, so their order
does not matter. What remains is a cache that loses the marker within that second (a memcached
restart); the memcached plugin flushes a server that comes back for exactly that reason.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from dalcore.api import WatchEvent
from dalcore.errors import CorruptDataError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject, HybridMeta
    from dalcore._runtime import Runtime
    from dalcore._structures import Relation

HOLD = "__dalcore_hold__"
HOLD_SECONDS = 3.0
FILL_MARGIN = 1.0

Document = dict[str, Any]


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
    cached = rt.cache.get(cache_key)
    if type(cached) is list:
        return cached  # shared with the cache: callers copy before handing it to users
    base = cache_key[2:]
    started = time.monotonic()
    if relation.onetoone:
        entry = rt.store.get_many([base])[0]
        found = [] if entry is None else [entry.value.decode()]
    else:
        cut = len(base)
        found = [key[cut:] for key in rt.store.keys(base)]
    if time.monotonic() - started < FILL_MARGIN:
        rt.cache.add(cache_key, found, rt.object_ttl)
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
    doc: Document = {"guid": guid}
    stale = False
    for name, check in meta.checks.items():
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
    cached = rt.cache.get("o:" + key)
    if type(cached) is list:
        return cached[0], cached[1], cached[2]
    started = time.monotonic()
    entry = rt.store.get_many([key])[0]
    if entry is None:
        return None
    doc, stale = decode(meta, key, guid, entry.value)
    if time.monotonic() - started < FILL_MARGIN:
        rt.cache.add("o:" + key, [entry.revision, doc, stale], rt.object_ttl)
    return entry.revision, doc, stale


def read_many(
    rt: Runtime, meta: HybridMeta, guids: Sequence[str]
) -> list[tuple[int, Document, bool] | None]:
    """Like :func:`read` for many objects: one cache round trip, one store round trip."""
    base = prefix(rt, meta)
    keys = [base + guid for guid in guids]
    cached = rt.cache.get_many(["o:" + key for key in keys])
    result: list[tuple[int, Document, bool] | None] = [None] * len(keys)
    missing: list[int] = []
    for index, item in enumerate(cached):
        if type(item) is list:
            result[index] = (item[0], item[1], item[2])
        else:
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
            rt.cache.add("o:" + keys[index], [entry.revision, doc, stale], rt.object_ttl)
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
    held = {"o:" + key: HOLD for key in keys}
    held.update(("r:" + base, HOLD) for base in lists)
    if held:
        rt.cache.set_many(held, HOLD_SECONDS)
    tokens = {query_generation_key(rt, meta): new_generation() for meta in hybrids}
    if tokens:
        rt.cache.set_many(tokens)


def fill_dynamic(rt: Runtime, key: str, value: Any, timeout: float, started: float) -> None:
    if time.monotonic() - started < max(timeout, FILL_MARGIN):
        rt.cache.set(key, [value], timeout)


def invalidation_feed(rt: Runtime) -> Callable[[WatchEvent], None]:
    """A store-watch callback that applies every commit, from any process, to a process-local
    cache as if this process had made it: hold the object or reverse list, renew the query
    generation of its hybrid."""
    scope = f"{rt.namespace}/" if rt.namespace else ""
    relations = scope + ".rel/"

    own = rt.own_revisions

    def on_change(event: WatchEvent) -> None:
        if event.revision in own:
            return  # this process's own commit: already applied to its cache when it made it
        key = event.key
        cut = key.rfind("/") + 1
        if key.startswith(relations):
            # Many-to-one lists are cached under the prefix ending in "/", one-to-one under
            # the key itself; the event cannot tell which, so hold both.
            rt.cache.set_many({"r:" + key[:cut]: HOLD, "r:" + key: HOLD}, HOLD_SECONDS)
        elif not key[len(scope) :].startswith("."):
            rt.cache.set("o:" + key, HOLD, HOLD_SECONDS)
            rt.cache.set("g:" + key[:cut], new_generation())

    return on_change
