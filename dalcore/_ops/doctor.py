"""``dalcore doctor``: one table of checks of the configured store, cache and plugins.

Each check gives ``ok``, ``FAIL`` or ``info`` (a fact, nothing to judge) and a detail; the
command exits 0 only when no check failed. What a backend can tell about its server comes from
its ``diagnose()`` (SQLite: journal mode and synchronous level; etcd: server version and its
``--max-txn-ops``, measured; memcached: per server up, version, evictions). The watch check
writes one key under ``ns/.doctor/`` and deletes it again; nothing else is written.
"""

from __future__ import annotations

import dataclasses
import secrets
import statistics
import threading
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

from dalcore import _layout
from dalcore.api import WatchEvent
from dalcore.errors import DalcoreError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject
    from dalcore._runtime import Runtime

OK, FAIL, INFO = "ok", "FAIL", "info"


@dataclasses.dataclass
class Row:
    check: str
    status: str
    detail: str


def largest_commit(hybrids: list[type[DataObject]]) -> tuple[int, str]:
    """Operations or checks (etcd limits each) of the largest one-object commit in the model:
    a save changing every relation and indexed value, or a delete."""
    worst, where = 1, "-"
    for cls in hybrids:
        meta = cls._meta
        relations = list(meta.relations.values())
        unique = sum(1 for prop in meta.indexed if prop.unique)
        # save: the object, per relation (old reverse entry out, new in, link marker), per
        # indexed value (old out, new in) and per unique value (old owner out, new in)
        save_ops = 1 + 3 * len(relations) + 2 * len(meta.indexed) + 2 * unique
        save_checks = 1 + len(relations) + sum(r.onetoone for r in relations) + unique
        delete_ops = 2 + len(relations) + len(meta.indexed) + unique
        need = max(save_ops, save_checks, delete_ops)
        if need > worst:
            worst, where = need, f"a save of {meta.name}"
    return worst, where


def _timed(rt: Runtime, key: str, rounds: int = 20) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        rt.store.get_many([key])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _store_rows(rt: Runtime, hybrids: list[type[DataObject]]) -> list[Row]:
    store = rt.store
    rows = []
    probe = _layout.internal_prefix(rt, ".doctor") + "probe"
    try:
        latency = _timed(rt, probe)
    except DalcoreError as exc:
        return [Row("store reachable", FAIL, f"{store.endpoint}: {exc}")]
    rows.append(Row("store reachable", OK, store.endpoint))
    rows.append(Row("store round trip", INFO, f"{latency:.2f} ms (median of 20 reads)"))
    try:
        facts = store.diagnose()
    except DalcoreError as exc:
        return [*rows, Row("store server", FAIL, str(exc))]
    if "server_version" in facts:
        rows.append(Row("store server version", INFO, facts["server_version"]))
    if "journal_mode" in facts:
        wal = facts["journal_mode"] == "WAL"
        rows.append(Row("sqlite journal mode", OK if wal else FAIL, facts["journal_mode"]))
    if "synchronous" in facts:
        level = facts["synchronous"]
        note = {
            "FULL": "a commit is on disk when it returns",
            "EXTRA": "a commit is on disk when it returns",
            "NORMAL": "a power loss may undo the last commits (sqlite://...?synchronous=full)",
        }.get(level, "commits may be lost or the file damaged by a crash")
        rows.append(
            Row("sqlite synchronous", OK if level in ("FULL", "EXTRA", "NORMAL") else FAIL,
                f"{level}: {note}")
        )  # fmt: skip
    if "max_txn_ops" in facts:
        need, where = largest_commit(hybrids)
        limit = facts["max_txn_ops"]
        rows.append(
            Row("etcd max-txn-ops", OK if need <= limit else FAIL,
                f"server allows {limit} (measured); the model's largest one-object commit "
                f"needs {need} ({where}); a transaction of several objects adds theirs up")
        )  # fmt: skip
    return rows


def _watch_row(rt: Runtime, timeout: float = 10.0) -> Row:
    store = rt.store
    if "watch" not in store.capabilities:
        return Row("watch feed", INFO, f"{type(store).__name__} has no watch (not needed)")
    area = _layout.internal_prefix(rt, ".doctor")
    key = area + secrets.token_hex(8)
    arrived = threading.Event()

    def seen(event: WatchEvent) -> None:
        if event.key == key:
            arrived.set()

    try:
        handle = store.watch(area, seen)
    except DalcoreError as exc:
        return Row("watch feed", FAIL, f"cannot watch: {exc}")
    started = time.perf_counter()
    try:
        store.set(key, b"doctor")
        ok = arrived.wait(timeout)
        took = (time.perf_counter() - started) * 1000
    finally:
        store.delete(key)
        handle.cancel()
    if not ok:
        return Row("watch feed", FAIL, f"a write under {area} did not arrive within {timeout:g} s")
    return Row("watch feed", OK, f"a write under {area} arrived in {took:.1f} ms")


def _cache_rows(rt: Runtime) -> list[Row]:
    cache = rt.cache
    rows = [Row("cache", INFO, cache.endpoint)]
    try:
        facts = cache.diagnose()
    except DalcoreError as exc:
        return [*rows, Row("cache servers", FAIL, str(exc))]
    for name, server in sorted(facts.get("servers", {}).items()):
        if not server.get("up"):
            rows.append(Row(f"cache server {name}", FAIL, f"down: {server.get('error', '')}"))
            continue
        detail = f"up, version {server.get('version')}, {server.get('evictions', 0)} evictions"
        if "items" in server:
            detail += f", {server['items']} items"
        rows.append(Row(f"cache server {name}", OK, detail))
    return rows


def _plugin_rows() -> list[Row]:
    from dalcore import _plugins

    rows = []
    installed = _version("dalcore")
    seen: dict[str, str] = {}
    for info in _plugins.provided():
        seen.setdefault(info.package, info.version)
    for package, version in sorted(seen.items()):
        if package == "dalcore":
            continue
        status, note = OK, ""
        wanted = _dalcore_requirement(package)
        if wanted is not None and installed is not None:
            fits = _satisfies(installed, wanted)
            if fits is False:
                status, note = FAIL, f"; needs dalcore{wanted}, installed {installed}"
            elif fits is None:
                note = f"; needs dalcore{wanted} (not checked: 'packaging' is not installed)"
            else:
                note = f"; needs dalcore{wanted}"
        rows.append(Row(f"plugin {package}", status, f"{version}{note}"))
    for name, why in sorted(_plugins._failures.items()):
        rows.append(Row(f"plugin {name}", FAIL, f"did not load: {why}"))
    return rows


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _dalcore_requirement(package: str) -> str | None:
    try:
        requires = metadata.requires(package) or []
    except metadata.PackageNotFoundError:
        return None
    for line in requires:
        name = line.split(";")[0].strip()
        if name.startswith("dalcore") and not name.startswith("dalcore-"):
            spec = name[len("dalcore") :].strip()
            if not spec.startswith("["):
                return spec or None
    return None


def _satisfies(version: str, spec: str) -> bool | None:
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # not a dependency of dalcore; pip-installed environments have it
        return None
    return SpecifierSet(spec).contains(version, prereleases=True)


def doctor(rt: Runtime, hybrids: list[type[DataObject]]) -> list[Row]:
    rows = _store_rows(rt, hybrids)
    if rows and rows[0].status == OK:
        rows.append(_watch_row(rt))
    rows += _cache_rows(rt)
    rows += _plugin_rows()
    return rows


def healthy(rows: list[Row]) -> bool:
    return all(row.status != FAIL for row in rows)


def as_json(rows: list[Row]) -> dict[str, Any]:
    return {"ok": healthy(rows), "checks": [dataclasses.asdict(row) for row in rows]}


def print_rows(out: Any, rows: list[Row]) -> None:
    from dalcore._ops import table

    table(out, ["check", "status", "detail"], [[r.check, r.status, r.detail] for r in rows])
    out.write(("all checks passed" if healthy(rows) else "some checks FAILED") + "\n")
