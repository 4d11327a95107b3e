"""``DataList``: a query's result, lazily computed, with its guid list cached."""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from dalcore import _objcache
from dalcore._lists import DataObjectList
from dalcore._query import (
    Group,
    Operator,
    Plan,
    WhereOperator,
    compile_filters,
    compile_query,
    execute,
    hybrids_of,
    uses_dynamics,
)
from dalcore._runtime import Runtime, runtime
from dalcore.api import NO_VALUE

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject, HybridMeta

#: Seconds a query's guid list stays cached. Correctness comes from the generation tokens;
#: the TTL only bounds how long unused results occupy the cache.
QUERY_TTL = 300.0


class DataList(DataObjectList):
    """The objects of ``hybrid`` matching ``query`` and/or keyword ``filters``.

    ``DataList(Backend, {'type': DataList.where_operator.AND,
    'items': [('name', DataList.operator.EQUALS, 'b1')]})`` is the original form;
    ``Backend.where(name='b1')`` is the same query. Invalid queries raise
    :class:`~dalcore.errors.QueryError` here, before the store is touched; the query itself runs
    on first use. Results without dynamics are cached in the volatile cache, keyed by a
    generation token of every hybrid involved, which each save or delete replaces.
    """

    operator = Operator
    where_operator = WhereOperator

    __slots__ = ("_cached", "_plan", "_query", "_resolved")

    def __init__(
        self,
        hybrid: type[DataObject],
        query: Mapping[str, Any] | None = None,
        **filters: Any,
    ) -> None:
        super().__init__(hybrid, ())
        self._query = _compiled(hybrid, query, filters)
        self._resolved = False
        self._plan: Plan | None = None
        self._cached: list[Any] | bool = False

    @property
    def _group(self) -> Group:
        return self._query.group

    def _guid_list(self) -> list[str]:
        if not self._resolved:
            self._guids = self._run(runtime())
            self._resolved = True
        return self._guids

    def _run(self, rt: Runtime) -> list[str]:
        hybrid = self._hybrid
        key = None if self._query.dynamic else self._cache_key(rt)
        if key is not None:
            hit = rt.cache.get(key)
            if type(hit) is list:
                self._cached = hit  # explain() builds the plan from it when asked
                guids: list[str] = hit[0]  # shared with the cache; this list never mutates it
                return guids
        guids, plan = execute(rt, hybrid, self._group)
        self._plan = plan
        if key is not None:
            rt.cache.set(key, [guids, plan.indexed, plan.filtered, plan.scanned], QUERY_TTL)
        return guids

    def _cache_key(self, rt: Runtime) -> str | None:
        """``q:<hybrid>:<query digest>:<generation tokens>``; None when the cache cannot keep
        the tokens (then results are not cached at all)."""
        keys = [_objcache.query_generation_key(rt, meta) for meta in self._query.hybrids]
        tokens = rt.cache.get_many(keys)
        for index, token in enumerate(tokens):
            if token is NO_VALUE:
                # Read before the query runs: a save after this point replaces the token, so a
                # result computed from older data is stored under a key nobody asks for again.
                rt.cache.add(keys[index], secrets.randbits(62))
                token = rt.cache.get(keys[index])
                if token is NO_VALUE:
                    return None
                tokens[index] = token
        digest = self._query.digest
        return f"q:{_objcache.prefix(rt, self._hybrid._meta)}{digest}:" + ".".join(map(str, tokens))

    def explain(self) -> dict[str, Any]:
        """How the query was answered: ``use`` is ``"index"`` (indexes alone), ``"partial"``
        (indexes, then conditions checked on the objects) or ``"scan"`` (every object read)."""
        self._guid_list()
        cached = self._cached
        if isinstance(cached, list):
            self._plan = Plan(cached[1], cached[2], cached[3])
        plan = self._plan or Plan()
        return {
            "use": plan.use,
            "indexed": list(plan.indexed),
            "filtered": list(plan.filtered),
            "cached": bool(cached),
        }


class _Compiled(NamedTuple):
    group: Group
    digest: str  # names the query in cache keys
    hybrids: tuple[HybridMeta, ...]  # whose generation tokens the cached result depends on
    dynamic: bool  # uses dynamics: never cached


_MEMO: dict[Any, _Compiled] = {}
_SCALARS = frozenset({str, int, float, bool, type(None)})
_MEMO_SIZE = 4096


def _compiled(
    hybrid: type[DataObject], query: Mapping[str, Any] | None, filters: Mapping[str, Any]
) -> _Compiled:
    """Compile (and validate) a query once per distinct query: a cached query's cost is then
    two cache reads, not the compilation."""
    try:
        memo_key: Any = (hybrid, _freeze(query), _freeze(filters))
        known = _MEMO.get(memo_key)
    except TypeError:  # an unhashable value somewhere: compile every time
        memo_key, known = None, None
    if known is not None:
        return known
    group = compile_query(hybrid, query)
    if filters:
        extra = compile_filters(hybrid, filters)
        group = Group(WhereOperator.AND, group.items + extra.items) if group.items else extra
    compiled = _Compiled(
        group,
        hashlib.blake2b(repr(group).encode(), digest_size=16).hexdigest(),
        tuple(sorted(hybrids_of(hybrid, group), key=lambda meta: meta.path)),
        uses_dynamics(group),
    )
    if memo_key is not None:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[memo_key] = compiled
    return compiled


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a query argument; types are kept so 1, 1.0 and True differ."""
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    # Exact types first: the abstract-class checks below cost more than the freezing itself.
    if kind is dict:
        try:
            items = sorted(value.items(), key=_first)
        except TypeError:  # keys of mixed types
            items = sorted(value.items(), key=lambda item: repr(item[0]))
        return ("map", tuple([(k, _freeze(v)) for k, v in items]))
    if kind is list or kind is tuple:
        return (kind.__name__, tuple([_freeze(item) for item in value]))
    if isinstance(value, enum.Enum):
        return (kind, value)
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((repr(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(item) for item in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_freeze(item) for item in value))
    hash(value)
    return (type(value), value)


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]
