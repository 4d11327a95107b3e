"""Cached reads of objects and reverse lists, and the protocol that keeps them from going stale.

Keys and entry formats are :mod:`dalcore._layout`'s. Two rules keep the cache from serving an
old version (docs/consistency.md states the guarantee they give):

* **Holds.** A save or delete, after its commit and before it returns, *sets* a hold marker
  on every object and reverse list it changed. A reader that finds a hold reads the
  store and replaces the hold with what it read by ``cas`` against the token ``gets`` gave it
  *before* the store read; a save that holds the key again in between makes that ``cas`` fail.
  A reader that finds nothing fills with ``add`` (never overwriting), and only when its store
  read is less than ``FILL_MARGIN`` seconds old, which the hold outlives. So an object updated
  every second stays cached: only the first read after each save goes to the store.
* **Barrier.** A per-process cache cannot be held by other processes. Their commits reach it
  through the store's watch (:func:`invalidation_feed`, handed to the runtime below), and
  before any cached read ``Runtime.sync`` waits until the watch has delivered every commit
  that finished before the read began (``WatchHandle.sync``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dalcore import _runtime, _schema
from dalcore._layout import (
    Cached,
    Document,
    cached_object,
    decode,
    is_hold,
    new_generation,
    new_hold,
    populate,
    prefix,
    query_generation_key,
    reverse_prefix,
    unusable,
)
from dalcore.api import NO_VALUE, WatchEvent

if TYPE_CHECKING:
    from dalcore._runtime import Runtime
    from dalcore._schema import HybridMeta
    from dalcore._structures import Relation

FILL_MARGIN = 1.0


def reverse_guids(rt: Runtime, source: type[Any], relation: Relation, guid: str) -> list[str]:
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


def load_many(rt: Runtime, hybrid: type[Any], guids: Sequence[str]) -> list[Any]:
    """Objects of ``hybrid`` (after plugin replacements) for ``guids``, in the same order; None
    where an object no longer exists. One cache round trip, at most one store round trip."""
    cls = _schema.replacement(hybrid)
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


_runtime.set_change_feed(invalidation_feed)
