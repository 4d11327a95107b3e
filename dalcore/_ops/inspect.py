"""``dalcore inspect``: what is stored, read without writing anything to the store.

Three forms, each returning plain data (the CLI prints it as a table or JSON):

* :func:`overview` -- every known hybrid, its key prefix and how many objects it has;
* :func:`listing` -- one page of a hybrid's objects, optionally filtered through the query
  engine (``Cls.where``), which answers from indexes where the hybrid has them;
* :func:`detail` -- one object: its document as stored, revision, relations both ways, its
  index and unique entries, and what each cache layer holds for it.

The query engine may fill the volatile cache (query results, objects), as any reader does;
nothing here writes to the persistent store.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from dalcore import _layout
from dalcore.api import NO_VALUE
from dalcore.errors import CorruptDataError, ObjectNotFoundError, QueryError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject
    from dalcore._runtime import Runtime


def count(rt: Runtime, hybrid: type[DataObject]) -> int:
    base = _layout.prefix(rt, hybrid._meta)
    # A deeper key sharing the prefix belongs to no object of this hybrid.
    return sum(1 for key in rt.store.keys(base) if "/" not in key[len(base) :])


def overview(rt: Runtime, hybrids: list[type[DataObject]]) -> list[dict[str, Any]]:
    return [
        {
            "hybrid": cls.__name__,
            "module": cls.__module__,
            "prefix": _layout.prefix(rt, cls._meta),
            "objects": count(rt, cls),
        }
        for cls in hybrids
    ]


def parse_where(hybrid: type[DataObject], conditions: list[str]) -> dict[str, Any]:
    """``["status=RUNNING", "nodes=4"]`` as query filters, each value converted to the type of
    its property (a relation's ``<name>_guid`` and anything else stay strings)."""
    meta = hybrid._meta
    filters: dict[str, Any] = {}
    for condition in conditions:
        field, sep, text = condition.partition("=")
        if not sep or not field:
            raise QueryError(f"{meta.name}: --where expects field=value, got {condition!r}")
        prop = meta.properties.get(field)
        value: Any = text
        if prop is not None and text == "null":
            value = None
        elif prop is not None and prop.type in (int, float):
            try:
                value = prop.type(text)
            except ValueError:
                raise QueryError(
                    f"{meta.name}.{field}: {text!r} is not a {prop.type.__name__}"
                ) from None
        elif prop is not None and prop.type is bool:
            if text.lower() not in ("true", "false"):
                raise QueryError(f"{meta.name}.{field}: {text!r} is not true or false")
            value = text.lower() == "true"
        filters[field] = value
    return filters


def listing(
    rt: Runtime,
    hybrid: type[DataObject],
    fields: list[str] | None,
    where: list[str],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    meta = hybrid._meta
    shown = fields or list(meta.properties)
    for name in shown:
        if name not in meta.checks:
            known = ", ".join(meta.checks)
            raise QueryError(f"{meta.name} has no stored field {name!r} (fields: {known})")
    filters = parse_where(hybrid, where)
    if filters:
        found = hybrid.where(**filters)
        guids = sorted(found.guids)
        use = found.explain()["use"]
    else:
        base = _layout.prefix(rt, meta)
        guids = [key[len(base) :] for key in rt.store.keys(base) if "/" not in key[len(base) :]]
        use = "scan"
    page = guids[offset : offset + limit]
    base = _layout.prefix(rt, meta)
    rows = []
    for guid, entry in zip(page, rt.store.get_many([base + g for g in page]), strict=True):
        if entry is None:
            continue  # deleted since the query ran
        data = _raw_document(entry.value)
        rows.append({"guid": guid, **{name: data.get(name) for name in shown}})
    return {
        "hybrid": meta.name,
        "total": len(guids),
        "offset": offset,
        "limit": limit,
        "use": use,
        "fields": ["guid", *shown],
        "objects": rows,
    }


def _raw_document(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _cache_layers(rt: Runtime) -> list[tuple[str, Any]]:
    cache = rt.cache
    if hasattr(cache, "local") and hasattr(cache, "shared"):
        return [("local", cache.local), ("shared", cache.shared)]
    return [("local" if cache.process_local else "shared", cache)]


def _describe_cached(value: Any) -> dict[str, Any] | None:
    if value is NO_VALUE:
        return None
    if _layout.is_hold(value):
        return {"state": "hold"}
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], int):
        return {"state": "object", "revision": value[0], "stale": value[2]}
    return {"state": "unusable", "value": repr(value)[:80]}


def detail(rt: Runtime, hybrid: type[DataObject], guid: str) -> dict[str, Any]:
    meta = hybrid._meta
    key = _layout.prefix(rt, meta) + guid
    entry = rt.store.get_many([key])[0]
    if entry is None:
        raise ObjectNotFoundError(meta.name, guid, key)
    data = _raw_document(entry.value)
    problem = None
    try:
        _layout.decode(meta, key, guid, entry.value)
    except CorruptDataError as exc:
        problem = str(exc)
    unknown = sorted(name for name in data if name != "guid" and name not in meta.checks)
    outgoing = []
    for name, rel in meta.relations.items():
        target = meta.target(name)
        target_guid = data.get(name + "_guid")
        exists = None
        if isinstance(target_guid, str):
            target_key = _layout.prefix(rt, target._meta) + target_guid
            exists = rt.store.get_many([target_key])[0] is not None
        reverse_key = (
            _layout.reverse_key(rt, meta, rel, target_guid, guid)
            if isinstance(target_guid, str)
            else None
        )
        reverse_present = None
        if reverse_key is not None:
            held = rt.store.get_many([reverse_key])[0]
            reverse_present = held is not None and (not rel.onetoone or held.value.decode() == guid)
        outgoing.append(
            {
                "relation": name,
                "target": target.__name__,
                "guid": target_guid,
                "target_exists": exists,
                "reverse_entry": reverse_key,
                "reverse_entry_present": reverse_present,
            }
        )
    incoming = []
    for name, (source, rel) in sorted(meta.reverse.items()):
        base = _layout.reverse_prefix(rt, source._meta, rel, guid)
        if rel.onetoone:
            held = rt.store.get_many([base])[0]
            guids = [] if held is None else [held.value.decode()]
        else:
            guids = [k[len(base) :] for k in rt.store.keys(base)]
        incoming.append(
            {"reverse": name, "source": source.__name__, "relation": rel.name,
             "count": len(guids), "guids": guids[:20]}
        )  # fmt: skip
    indexes = []
    for prop in meta.indexed:
        value = data.get(prop.name)
        index_key = _layout.index_prefix(rt, meta, prop.name, value) + guid
        item: dict[str, Any] = {
            "field": prop.name,
            "value": value,
            "index_key": index_key,
            "index_present": rt.store.get_many([index_key])[0] is not None,
        }
        if prop.unique and value is not None:
            owner_key = _layout.unique_key(rt, meta, prop.name, value)
            owner = rt.store.get_many([owner_key])[0]
            item["unique_key"] = owner_key
            item["unique_owner"] = None if owner is None else owner.value.decode()
        indexes.append(item)
    marker = _layout.link_marker(rt, meta, guid)
    marker_entry = rt.store.get_many([marker])[0]
    now = time.time()
    caches = []
    for layer, cache in _cache_layers(rt):
        dynamics: dict[str, dict[str, Any] | None] = {}
        for name in meta.dynamics:
            value = cache.get(f"d:{key}:{name}")
            if value is NO_VALUE:
                dynamics[name] = None
                continue
            described: dict[str, Any] = {"value": value[0] if isinstance(value, list) else value}
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], (int, float)):
                described["ttl_left"] = round(max(0.0, value[1] - now), 1)
            dynamics[name] = described
        caches.append(
            {
                "layer": layer,
                "endpoint": cache.endpoint,
                # A per-process cache seen from this command is this command's own, not the
                # service's: say so rather than report it as empty.
                "this_process_only": bool(cache.process_local),
                "object": _describe_cached(cache.get("o:" + key)),
                "dynamics": dynamics,
            }
        )
    return {
        "hybrid": meta.name,
        "guid": guid,
        "key": key,
        "revision": entry.revision,
        "document": data,
        "problem": problem,
        "unknown_fields": unknown,
        "relations": outgoing,
        "reverse": incoming,
        "indexes": indexes,
        "link_marker": {"key": marker, "revision": marker_entry and marker_entry.revision},
        "caches": caches,
    }


# -- text output ----------------------------------------------------------------------------


def print_overview(out: Any, rows: list[dict[str, Any]]) -> None:
    from dalcore._ops import table

    table(out, ["hybrid", "objects", "prefix", "module"],
          [[r["hybrid"], r["objects"], r["prefix"], r["module"]] for r in rows])  # fmt: skip


def print_listing(out: Any, page: dict[str, Any]) -> None:
    from dalcore._ops import table

    fields = page["fields"]
    table(out, fields, [[row[name] for name in fields] for row in page["objects"]])
    shown = len(page["objects"])
    first = page["offset"] + 1 if shown else page["offset"]
    out.write(
        f"-- {page['hybrid']}: {first}-{page['offset'] + shown} of {page['total']} "
        f"(answered by {page['use']})\n"
    )


def print_detail(out: Any, info: dict[str, Any]) -> None:
    from dalcore._ops import table

    def say(text: str = "") -> None:
        out.write(text + "\n")

    say(f"{info['hybrid']} {info['guid']}")
    say(f"  key       {info['key']}")
    say(f"  revision  {info['revision']}")
    say("  document  " + orjson.dumps(info["document"], option=orjson.OPT_SORT_KEYS).decode())
    if info["problem"]:
        say(f"  PROBLEM   {info['problem']}")
    if info["unknown_fields"]:
        say(f"  unknown fields: {', '.join(info['unknown_fields'])}")
    say()
    say("relations:")
    if info["relations"]:
        table(out, ["  relation", "target", "guid", "exists", "reverse entry"],
              [["  " + r["relation"], r["target"], r["guid"], r["target_exists"],
                r["reverse_entry_present"]] for r in info["relations"]])  # fmt: skip
    say("reverse relations:")
    if info["reverse"]:
        table(out, ["  name", "from", "count", "guids"],
              [["  " + r["reverse"], f"{r['source']}.{r['relation']}", r["count"],
                " ".join(r["guids"][:3]) + (" ..." if r["count"] > 3 else "")]
               for r in info["reverse"]])  # fmt: skip
    say("index entries:")
    for item in info["indexes"]:
        state = "present" if item["index_present"] else "MISSING"
        line = f"  {item['field']} = {item['value']!r}: index {state}"
        if "unique_key" in item:
            owner = item["unique_owner"]
            line += ", unique owner " + (
                "this object" if owner == info["guid"] else (owner or "MISSING")
            )
        say(line)
    marker = info["link_marker"]
    say(f"link marker: {marker['key']} (revision {marker['revision'] or '-'})")
    say("cache:")
    for layer in info["caches"]:
        note = " (this command's own per-process cache)" if layer["this_process_only"] else ""
        obj = layer["object"]
        state = "-" if obj is None else obj["state"]
        if obj is not None and obj["state"] == "object":
            state += f" revision {obj['revision']}"
        say(f"  {layer['layer']} {layer['endpoint']}{note}: o: {state}")
        for name, dyn in layer["dynamics"].items():
            if dyn is None:
                say(f"    d:{name}: -")
            else:
                ttl = f", {dyn['ttl_left']} s left" if "ttl_left" in dyn else ""
                say(f"    d:{name}: {dyn['value']!r}{ttl}")
