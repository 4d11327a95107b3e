"""Queries: the original DAL's ``{'type': AND|OR, 'items': [(field, operator, value), ...]}``.

A query is compiled (and validated against the hybrid, before anything is read) into a tree of
:class:`Group` and :class:`Condition`. Execution first narrows the candidates with indexes —
``guid``, ``<relation>_guid`` (the reverse index), ``indexed``/``unique`` properties for EQUALS
and IN, and relation paths (``backend_type.name``), which become ``backend_type_guid IN
<subquery on BackendType>`` — then loads the candidates in one batch and checks every remaining
condition on the objects. Without a usable index it scans all objects of the hybrid.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dalcore import _layout, _objcache
from dalcore._structures import make_check
from dalcore.errors import DynamicError, QueryError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject
    from dalcore._runtime import Runtime
    from dalcore._schema import HybridMeta

log = logging.getLogger("dalcore.query")


class Operator(enum.Enum):
    # Members are singletons compared by identity; hashing by identity too keeps Enum's
    # Python-level __hash__ out of every query's memo lookup.
    __hash__ = object.__hash__

    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    LT = "LT"
    GT = "GT"
    IN = "IN"
    CONTAINS = "CONTAINS"


class WhereOperator(enum.Enum):
    __hash__ = object.__hash__  # as Operator's

    AND = "AND"
    OR = "OR"


#: Keyword-filter suffixes: ``name__in=[...]``, ``name__icontains='x'``.
SUFFIXES: dict[str, tuple[Operator, bool]] = {
    "eq": (Operator.EQUALS, False),
    "ne": (Operator.NOT_EQUALS, False),
    "lt": (Operator.LT, False),
    "gt": (Operator.GT, False),
    "in": (Operator.IN, False),
    "contains": (Operator.CONTAINS, False),
    "ieq": (Operator.EQUALS, True),
    "ine": (Operator.NOT_EQUALS, True),
    "iin": (Operator.IN, True),
    "icontains": (Operator.CONTAINS, True),
}


@dataclasses.dataclass(frozen=True)
class Condition:
    field: str  # a field of ``hybrid``: property, "guid", "<relation>_guid" or dynamic
    kind: str  # "guid", "property", "relation", "dynamic" or "path"
    operator: Operator
    value: Any
    ignorecase: bool = False
    # For kind "path": the relation followed and the condition on its target.
    through: Condition | Group | None = None


@dataclasses.dataclass(frozen=True)
class Group:
    operator: WhereOperator
    items: tuple[Condition | Group, ...]


def compile_query(hybrid: type[DataObject], query: Mapping[str, Any] | None) -> Group:
    """Validate the original dict form and turn it into a :class:`Group`; no query, or an
    empty one, matches every object."""
    if query is None or (isinstance(query, Mapping) and not query):
        return Group(WhereOperator.AND, ())
    return _group(hybrid, query)


def compile_filters(hybrid: type[DataObject], filters: Mapping[str, Any]) -> Group:
    """``name='x', status__in=[...], backend_type__name='y'`` as an AND group."""
    items: list[Condition | Group] = []
    for spec, value in filters.items():
        parts = spec.split("__")
        operator, ignorecase = Operator.EQUALS, False
        if len(parts) > 1 and parts[-1] in SUFFIXES:
            operator, ignorecase = SUFFIXES[parts.pop()]
        items.append(_condition(hybrid, parts, operator, value, ignorecase))
    return Group(WhereOperator.AND, tuple(items))


def _group(hybrid: type[DataObject], query: Any) -> Group:
    if not isinstance(query, Mapping) or "items" not in query:
        raise QueryError(f"{hybrid.__name__}: a query is a dict with 'type' and 'items': {query!r}")
    kind = query.get("type", WhereOperator.AND)
    try:
        operator = kind if isinstance(kind, WhereOperator) else WhereOperator(str(kind).upper())
    except ValueError:
        raise QueryError(f"{hybrid.__name__}: query type must be AND or OR, not {kind!r}") from None
    items: list[Condition | Group] = []
    for item in query["items"]:
        if isinstance(item, Mapping):
            items.append(_group(hybrid, item))
            continue
        if not isinstance(item, (tuple, list)) or len(item) not in (3, 4):
            raise QueryError(
                f"{hybrid.__name__}: query item must be "
                f"(field, operator, value[, case_sensitive]), not {item!r}"
            )
        field, op, value = item[0], item[1], item[2]
        # The 4th element is the original DAL's case_sensitive flag: False matches ignoring case.
        ignorecase = len(item) == 4 and item[3] is False
        try:
            op = op if isinstance(op, Operator) else Operator(str(op).upper())
        except ValueError:
            known = ", ".join(o.value for o in Operator)
            raise QueryError(f"{hybrid.__name__}: unknown operator {op!r}; use {known}") from None
        if not isinstance(field, str):
            raise QueryError(f"{hybrid.__name__}: field must be a string, not {field!r}")
        items.append(_condition(hybrid, field.split("."), op, value, ignorecase))
    return Group(operator, tuple(items))


def _condition(
    hybrid: type[DataObject], path: Sequence[str], op: Operator, value: Any, ignorecase: bool
) -> Condition:
    meta = hybrid._meta
    name = path[0]
    where = f"{meta.name}.{'.'.join(path)}"
    if name in meta.relations and len(path) > 1:
        target = meta.target(name)
        inner = _condition(target, path[1:], op, value, ignorecase)
        return Condition(name + "_guid", "path", op, None, ignorecase, inner)
    if len(path) > 1:
        raise QueryError(f"{where}: {name!r} is not a relation of {meta.name}")
    if name in meta.relations:  # ('backend_type', EQUALS, <BackendType>) means its guid
        name = name + "_guid"
        value = _guids_of(value)
    if name == "guid" or (name.endswith("_guid") and name[:-5] in meta.relations):
        kind, declared = ("guid" if name == "guid" else "relation"), str
    elif name in meta.properties:
        kind, declared = "property", meta.properties[name].type
    elif name in meta.dynamics:
        kind, declared = "dynamic", meta.dynamics[name].type
    else:
        known = ", ".join(["guid", *meta.checks, *meta.dynamics, *meta.relations])
        raise QueryError(f"{where}: no such field; known: {known}")
    _check_value(where, declared, op, value, ignorecase)
    if op is Operator.IN and not isinstance(value, str):
        value = tuple(value)
    return Condition(name, kind, op, _normalise(declared, value), ignorecase)


def _guids_of(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return [getattr(v, "guid", v) for v in value]
    return getattr(value, "guid", value)


def _normalise(declared: Any, value: Any) -> Any:
    if declared is float:  # 1 and 1.0 must hit the same index entry
        if isinstance(value, tuple):
            return tuple(
                float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value
            )
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    return value


def _check_value(where: str, declared: Any, op: Operator, value: Any, ignorecase: bool) -> None:
    check = make_check("query", where, declared)
    enum_type = isinstance(declared, list)

    if ignorecase and enum_type:
        # Case-insensitive: an enum value matches whatever its case; the value must be a str.
        lowered = {str(v).lower() for v in declared}
        check = make_check("query", where, str)
        strict = check

        def check(candidate: Any) -> Any:
            strict(candidate)
            if candidate is not None and candidate.lower() not in lowered:
                raise ValueError(f"{candidate!r} is not one of {sorted(lowered)} (ignoring case)")
            return candidate

    def fits(candidate: Any) -> None:
        try:
            check(candidate)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"{where} {op.value}: {exc}") from None

    if ignorecase and declared is not str and not enum_type:
        raise QueryError(f"{where}: ignorecase only applies to str fields")
    if op in (Operator.EQUALS, Operator.NOT_EQUALS):
        fits(value)
    elif op in (Operator.LT, Operator.GT):
        if enum_type or declared not in (int, float, str):
            raise QueryError(f"{where}: {op.value} needs an int, float or str field")
        if value is None:
            raise QueryError(f"{where}: {op.value} cannot compare with None")
        fits(value)
    elif op is Operator.IN:
        if isinstance(value, str) and (declared is str or enum_type):
            return  # the original's "IN a string": the field's value is a part of it
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise QueryError(f"{where} IN: value must be a list (or a str), not {value!r}")
        for candidate in value:
            fits(candidate)
    elif op is Operator.CONTAINS:
        if declared is str or enum_type:
            if not isinstance(value, str):
                raise QueryError(f"{where} CONTAINS: value must be a str, not {value!r}")
        elif declared is not list:
            raise QueryError(f"{where}: CONTAINS needs a str or list field")


def uses_dynamics(node: Condition | Group) -> bool:
    if isinstance(node, Group):
        return any(uses_dynamics(item) for item in node.items)
    if node.through is not None:
        return uses_dynamics(node.through)
    return node.kind == "dynamic"


def hybrids_of(hybrid: type[DataObject], node: Condition | Group) -> set[HybridMeta]:
    """Every hybrid whose changes can change the result (for the query cache)."""
    found = {hybrid._meta}
    if isinstance(node, Group):
        for item in node.items:
            found |= hybrids_of(hybrid, item)
    elif node.through is not None:
        found |= hybrids_of(hybrid._meta.target(node.field[:-5]), node.through)
    return found


# -- execution ------------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    """What :func:`execute` did: which conditions an index answered, which it checked by hand."""

    indexed: list[str] = dataclasses.field(default_factory=list)
    filtered: list[str] = dataclasses.field(default_factory=list)
    scanned: bool = False

    @property
    def use(self) -> str:
        """``"index"``, ``"partial"`` (index, then filtering) or ``"scan"`` (no index)."""
        if self.scanned:
            return "scan"
        return "partial" if self.filtered else "index"


def _describe(node: Condition) -> str:
    case = " (ignorecase)" if node.ignorecase else ""
    return f"{node.field} {node.operator.value} {node.value!r}{case}"


def execute(rt: Runtime, hybrid: type[DataObject], group: Group) -> tuple[list[str], Plan]:
    """The guids matching ``group``, in store order, and how they were found."""
    plan = Plan()
    candidates = _candidates(rt, hybrid, group, plan)
    if candidates is None:
        plan.scanned = True
        cut = len(_layout.prefix(rt, hybrid._meta))
        guids = [key[cut:] for key in rt.store.keys(_layout.prefix(rt, hybrid._meta))]
    else:
        guids = sorted(candidates)
    if not group.items or _exact(hybrid, group):
        return guids, plan
    _note_filtered(group, plan)
    matched = []
    for obj in _load(rt, hybrid, guids):
        if _matches(obj, group):
            matched.append(obj.guid)
    return matched, plan


def _load(rt: Runtime, hybrid: type[DataObject], guids: list[str]) -> list[DataObject]:
    return [obj for obj in _objcache.load_many(rt, hybrid, guids) if obj is not None]


def _indexable(hybrid: type[DataObject], node: Condition) -> bool:
    if node.operator is Operator.IN and isinstance(node.value, str):
        return False  # a substring test: no index answers it
    if node.operator not in (Operator.EQUALS, Operator.IN) or node.ignorecase:
        return node.kind == "path"
    if node.kind in ("guid", "relation", "path"):
        return True
    return node.kind == "property" and hybrid._meta.properties[node.field].indexed


def _candidates(
    rt: Runtime, hybrid: type[DataObject], node: Condition | Group, plan: Plan
) -> set[str] | None:
    """Guids that may match, from indexes only; None when no index narrows it down."""
    if isinstance(node, Condition):
        if not _indexable(hybrid, node):
            return None
        plan.indexed.append(
            _describe(node) if node.kind != "path" else f"{node.field} via subquery"
        )
        return _lookup(rt, hybrid, node, plan)
    if not node.items:
        return None
    results = [_candidates(rt, hybrid, item, plan) for item in node.items]
    known = [r for r in results if r is not None]
    if node.operator is WhereOperator.AND:
        if not known:
            return None
        found = known[0]
        for other in known[1:]:
            found = found & other
        return found
    if len(known) < len(results):
        return None
    union: set[str] = set()
    for result in known:
        union |= result
    return union


def _lookup(rt: Runtime, hybrid: type[DataObject], node: Condition, plan: Plan) -> set[str]:
    meta = hybrid._meta
    if node.kind == "path":
        target = meta.target(node.field[:-5])
        inner = (
            node.through
            if isinstance(node.through, Group)
            else Group(WhereOperator.AND, (node.through,) if node.through is not None else ())
        )
        target_guids, inner_plan = execute(rt, target, inner)
        plan.filtered += [f"{node.field[:-5]}.{f}" for f in inner_plan.filtered]
        relation = meta.relations[node.field[:-5]]
        found: set[str] = set()
        for target_guid in target_guids:
            found.update(_objcache.reverse_guids(rt, hybrid, relation, target_guid))
        return found
    values = node.value if node.operator is Operator.IN else (node.value,)
    found = set()
    if node.kind == "guid":
        return {v for v in values if isinstance(v, str)}
    if node.kind == "relation":
        relation = meta.relations[node.field[:-5]]
        for value in values:
            if value is None:
                return _unlinked(rt, hybrid, node.field, found)
            found.update(_objcache.reverse_guids(rt, hybrid, relation, value))
        return found
    prop = meta.properties[node.field]
    for value in values:
        if prop.unique and value is not None:
            entry = rt.store.get_many([_layout.unique_key(rt, meta, prop.name, value)])[0]
            if entry is not None:
                found.add(entry.value.decode())
            continue
        base = _layout.index_prefix(rt, meta, prop.name, value)
        cut = len(base)
        found.update(key[cut:] for key in rt.store.keys(base))
    return found


def _unlinked(rt: Runtime, hybrid: type[DataObject], field: str, found: set[str]) -> set[str]:
    # No reverse entry exists for "not linked": that one needs a scan.
    cut = len(_layout.prefix(rt, hybrid._meta))
    everything = [key[cut:] for key in rt.store.keys(_layout.prefix(rt, hybrid._meta))]
    for obj in _load(rt, hybrid, everything):
        if obj.__dict__[field] is None:
            found.add(obj.guid)
    return found


def _exact(hybrid: type[DataObject], node: Condition | Group) -> bool:
    """True when the indexes alone answer the whole query (nothing to check on objects).

    Index entries are written in the same commit as their objects, so an index answer is the
    answer; only ``guid`` conditions still need the objects loaded (the guid may not exist).
    """
    if isinstance(node, Group):
        return bool(node.items) and all(_exact(hybrid, item) for item in node.items)
    if node.kind == "guid":
        return False
    return _indexable(hybrid, node)


def _note_filtered(node: Condition | Group, plan: Plan) -> None:
    if isinstance(node, Group):
        for item in node.items:
            _note_filtered(item, plan)
        return
    description = _describe(node) if node.kind != "path" else None
    if description is not None and description not in plan.indexed:
        plan.filtered.append(description)


def _matches(obj: DataObject, node: Condition | Group) -> bool:
    if isinstance(node, Group):
        if node.operator is WhereOperator.AND:
            return all(_matches(obj, item) for item in node.items)
        return any(_matches(obj, item) for item in node.items)
    if node.kind == "path":
        target = getattr(obj, node.field[:-5])
        return target is not None and node.through is not None and _matches(target, node.through)
    if node.kind == "dynamic":
        try:
            actual = getattr(obj, node.field)
        except DynamicError as exc:
            # One broken dynamic must not break a whole listing: it just does not match.
            log.warning("query on %s skips %s: %s", node.field, obj.guid, exc)
            return False
    else:
        actual = obj.__dict__[node.field]
    return compare(actual, node.operator, node.value, node.ignorecase)


def compare(actual: Any, op: Operator, value: Any, ignorecase: bool) -> bool:
    if ignorecase:
        actual = actual.lower() if isinstance(actual, str) else actual
        if op is Operator.IN and not isinstance(value, str):
            value = tuple(v.lower() if isinstance(v, str) else v for v in value)
        elif isinstance(value, str):
            value = value.lower()
    if op is Operator.EQUALS:
        return bool(actual == value)
    if op is Operator.NOT_EQUALS:
        return bool(actual != value)
    if op is Operator.IN:
        if isinstance(value, str):
            return isinstance(actual, str) and actual in value
        return actual in value
    if op is Operator.CONTAINS:
        if isinstance(actual, str):
            return isinstance(value, str) and value in actual
        return isinstance(actual, list) and value in actual
    if actual is None:
        return False
    if op is Operator.LT:
        return bool(actual < value)
    return bool(actual > value)
