"""``DataList``: a query's result, lazily computed, with its guid list cached."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dalcore import _dataobject, _layout, _objcache
from dalcore._layout import Cached
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
from dalcore.errors import QueryError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject

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

    __slots__ = ("_base", "_cached", "_plan", "_queried", "_query", "_resolved")

    def __init__(
        self,
        hybrid: type[DataObject],
        query: Mapping[str, Any] | None = None,
        key: str | None = None,
        guids: Sequence[str] | None = None,
        **filters: Any,
    ) -> None:
        """``key`` (the original's name for a list's cache entry) is accepted and not needed:
        results are cached by query and generation. ``guids`` makes a list of those objects,
        in that order; with a query too, of those among them that match it."""
        super().__init__(hybrid, ())
        self._query = _compiled(hybrid, query, filters)
        self._queried = query is not None or bool(filters)
        self._base: list[str] | None = None
        if guids is None:  # the usual case, inline: a cached query costs a few microseconds
            self._resolved = False
            self._plan: Plan | None = None
            self._cached: list[Any] | bool = False
        else:
            self.set_guids(guids)

    def _restart(self) -> None:
        """Forget the result; given guids without a query are the result at once."""
        self._resolved = False
        self._objects = None
        self._plan = None
        self._cached = False
        if self._base is not None and not self._queried:
            self._guids, self._resolved = list(self._base), True

    def set_query(self, query: Mapping[str, Any] | None) -> None:
        """Replace the query (the original DAL's ``set_query``); None: every object (of the
        given guids, if any). Validated at once; it runs on next use."""
        self._query = _compiled(self._hybrid, query, {})
        self._queried = query is not None
        self._restart()

    def set_guids(self, guids: Sequence[str] | None) -> None:
        """Limit the list to these guids, in this order (None: every object matching the
        query), as the original DAL's ``set_guids``."""
        if guids is not None and (
            not isinstance(guids, (list, tuple)) or not all(type(g) is str for g in guids)
        ):
            raise QueryError(f"{self._hybrid.__name__}: guids must be a list of str, not {guids!r}")
        self._base = None if guids is None else list(guids)
        self._restart()

    @classmethod
    def get_relation_set(
        cls,
        remote_class: type[DataObject],
        remote_key: str,
        own_class: type[DataObject],
        own_key: str,
        own_guid: str,
    ) -> DataList:
        """The original's reverse-relation query: the ``remote_class`` objects whose relation
        ``remote_key`` points at ``own_guid`` (``own_class``'s reverse list ``own_key``), read
        from the reverse index."""
        relation = remote_class._meta.relations.get(remote_key)
        if relation is None or relation.reverse_name != own_key:
            raise QueryError(
                f"{remote_class.__name__}.{remote_key}: not a relation whose reverse is "
                f"{own_class.__name__}.{own_key}"
            )
        guids = _objcache.reverse_guids(runtime(), remote_class, relation, own_guid)
        return cls(remote_class, guids=list(guids))

    @property
    def _group(self) -> Group:
        return self._query.group

    def _guid_list(self) -> list[str]:
        if self._resolved:
            return self._guids
        rt = runtime()
        key = None
        if not self._query.dynamic:
            if rt.sync is not None:
                rt.sync()
            key = self._cache_key(rt)
        if key is not None:
            hit = rt.cache.get(key)
            if type(hit) is Cached or (hit is not NO_VALUE and _query_entry(key, hit)):
                self._cached = hit  # explain() builds the plan from it when asked
                # Shared with the cache: this list never mutates it.
                found = hit[0] if self._base is None else self._within_base(hit[0])
                self._guids, self._resolved = found, True
                return found
        guids, plan = execute(rt, self._hybrid, self._group)
        self._plan = plan
        if key is not None:
            entry = Cached((guids, plan.indexed, plan.filtered, plan.scanned))
            rt.cache.set(key, entry, QUERY_TTL)
        found = guids if self._base is None else self._within_base(guids)
        self._guids, self._resolved = found, True
        return found

    def _within_base(self, matches: list[str]) -> list[str]:
        """The given guids (set_guids) that the query matched, in the given order."""
        if self._base is None:
            return matches
        found = set(matches)
        return [guid for guid in self._base if guid in found]

    def _cache_key(self, rt: Runtime) -> str | None:
        """``q:<hybrid>:<query digest>:<generation tokens>``; None when the cache cannot keep
        the tokens (then results are not cached at all)."""
        generations, result_prefix = self._query.keys(rt)
        cache = rt.cache
        if len(generations) == 1:  # the usual case: one get, no list
            token = cache.get(generations[0])
            if type(token) is not str:
                token = _first_generation(rt, generations[0])
            return None if token is None else result_prefix + token
        tokens = cache.get_many(generations)
        for index, token in enumerate(tokens):
            if type(token) is not str:
                token = tokens[index] = _first_generation(rt, generations[index])
                if token is None:
                    return None
        return result_prefix + ".".join(tokens)

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


def _query_entry(key: str, value: Any) -> bool:
    """Whether a query result that did not come from this process is usable:
    ``[guids, indexed, filtered, scanned]``."""
    if (
        type(value) is list
        and len(value) == 4
        and all(type(part) is list and all(type(i) is str for i in part) for part in value[:3])
        and type(value[3]) is bool
    ):
        return True
    _layout.unusable("query result", key, value, "expected [guids, indexed, filtered, scanned]")
    return False


def _first_generation(rt: Runtime, key: str) -> str | None:
    """The generation token at ``key``, created when there is none; None when the cache does
    not keep it."""
    # Read before the query runs: a save after this point replaces the token, so a result
    # computed from older data is stored under a key nobody asks for again.
    rt.cache.add(key, _layout.new_generation())
    token = rt.cache.get(key)
    return token if type(token) is str else None


class _Compiled:
    """A validated query and what its cached results are keyed by."""

    __slots__ = ("_keys", "digest", "dynamic", "group", "hybrid", "hybrids")

    def __init__(self, hybrid: type[DataObject], group: Group) -> None:
        self.hybrid = hybrid
        self.group = group
        self.digest = hashlib.blake2b(repr(group).encode(), digest_size=16).hexdigest()
        # Whose generation tokens a cached result depends on; a query using dynamics is
        # never cached.
        self.hybrids = tuple(sorted(hybrids_of(hybrid, group), key=lambda meta: meta.path))
        self.dynamic = uses_dynamics(group)
        self._keys: tuple[Runtime, list[str], str] | None = None

    def keys(self, rt: Runtime) -> tuple[list[str], str]:
        """The generation-token keys and the result-key prefix under ``rt`` (kept for the
        runtime last used: they depend only on its namespace)."""
        known = self._keys
        if known is None or known[0] is not rt:
            generations = [_layout.query_generation_key(rt, meta) for meta in self.hybrids]
            result_prefix = f"q:{_layout.prefix(rt, self.hybrid._meta)}{self.digest}:"
            known = self._keys = (rt, generations, result_prefix)
        return known[1], known[2]


_MEMO: dict[Any, _Compiled] = {}
_MEMO_SIZE = 4096


def _compiled(
    hybrid: type[DataObject], query: Mapping[str, Any] | None, filters: Mapping[str, Any]
) -> _Compiled:
    """Compile (and validate) a query once per distinct query: a cached query's cost is then
    two cache reads, not the compilation."""
    try:
        memo_key: Any = (
            hybrid,
            None if query is None else _freeze(query),
            _freeze(filters) if filters else None,
        )
        known = _MEMO.get(memo_key)
    except TypeError:  # an unhashable value somewhere: compile every time
        memo_key, known = None, None
    if known is not None:
        return known
    group = compile_query(hybrid, query)
    if filters:
        extra = compile_filters(hybrid, filters)
        group = Group(WhereOperator.AND, group.items + extra.items) if group.items else extra
    compiled = _Compiled(hybrid, group)
    if memo_key is not None:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[memo_key] = compiled
    return compiled


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a query argument; types are kept so 1, 1.0 and True differ."""
    kind = type(value)
    # Exact types first, commonest first: the abstract-class checks below cost more than the
    # freezing itself, and this runs on every query, cached or not.
    if kind in _BARE:
        return value
    if kind is tuple or kind is list:
        return (kind, tuple([item if type(item) in _BARE else _freeze(item) for item in value]))
    if kind is dict:
        if len(value) == 2 and "type" in value and "items" in value:  # the original's form
            return (_QUERY, _freeze(value["type"]), _freeze(value["items"]))
        try:
            items = sorted(value.items(), key=_first)
        except TypeError:  # keys of mixed types
            items = sorted(value.items(), key=lambda item: repr(item[0]))
        return (_MAP, tuple([(k, _freeze(v)) for k, v in items]))
    if kind in _SCALARS:
        return (kind, value)
    if isinstance(value, Mapping):
        return (_MAP, tuple(sorted((repr(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple([_freeze(item) for item in value]))
    if isinstance(value, (set, frozenset)):
        return (_SET, frozenset(_freeze(item) for item in value))
    hash(value)
    return (kind, value)


#: Types whose values stand for themselves in a frozen query: nothing of another type equals
#: them (the operators compare, and hash, by identity).
_BARE = frozenset({str, Operator, WhereOperator})
_SCALARS = frozenset({int, float, bool, type(None)})
_QUERY, _MAP, _SET = object(), object(), object()  # tags of frozen containers


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]


_dataobject.set_query_list(DataList)
