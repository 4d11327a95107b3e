"""Where everything lives in the stores, and the formats it is written in.

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
-> ``[guid, ...]``, ``d:<key>:<dynamic>`` -> ``[value, expires]``, ``g:<prefix>`` -> a query
generation token, or a hold marker in place of an object or reverse list (see _objcache).

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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from dalcore.api import NO_VALUE
from dalcore.errors import CorruptDataError

if TYPE_CHECKING:
    from dalcore._runtime import Runtime
    from dalcore._schema import HybridMeta
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


# -- keys ----------------------------------------------------------------------------------


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


def dynamic_key(rt: Runtime, obj: Any, name: str) -> str:
    return f"d:{prefix(rt, obj._meta)}{obj.guid}:{name}"


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


# -- instances --------------------------------------------------------------------------------


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


def populate(obj: Any, revision: int, doc: Document, stale: bool) -> None:
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
