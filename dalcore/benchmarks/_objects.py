"""Groups ``attributes``, ``load`` and ``memory``: reading objects and what they cost to hold."""

from __future__ import annotations

import sqlite3
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from dalcore._backends.tiered import NullCache
from dalcore.benchmarks._common import (
    cached_object_key,
    configured,
    memcached_route,
    needs,
    object_key,
    raw_memcached,
    settle,
    stored_item,
)
from dalcore.benchmarks._env import Environment
from dalcore.benchmarks._harness import Stat, loop, measure, unrolled
from dalcore.benchmarks._model import BenchItem, make_item
from dalcore.benchmarks._results import (
    OVS_CACHED_LOAD,
    Result,
    ratio_at_most,
    ten_x_ovs,
    timed,
)


class _Plain:
    """The baseline for attribute reads: an ordinary instance with the same value."""

    name: str


def attributes(env: Environment) -> Iterator[Result]:
    with configured("memory://", "memory://"):
        loaded = BenchItem(stored_item().guid)
        plain = _Plain()
        plain.name = loaded.name
        measured = measure(
            env.settings,
            unrolled("o.name", {"o": loaded}),
            {"plain attribute read": unrolled("o.name", {"o": plain})},
        )
        yield timed(
            "attributes",
            "property read on a loaded object",
            measured,
            [ratio_at_most(1.5, "plain attribute read")],
        )


def load(env: Environment) -> Iterator[Result]:
    group = "load"
    settings = env.settings
    with configured("memory://", "memory://") as rt:
        guid = stored_item().guid
        cache, key = rt.cache, cached_object_key(rt, BenchItem(guid))
        settle(rt, [key])
        BenchItem(guid)  # fills the cache
        measured = measure(
            settings,
            loop(lambda: BenchItem(guid)),
            {"in-process cache get (already decoded)": loop(lambda: cache.get(key))},
        )
        yield timed(
            group,
            "object load: in-process cache hit",
            measured,
            [ten_x_ovs(OVS_CACHED_LOAD, "cached object load")],
        )

    case = "object load: memcached hit"
    url, skip = needs(group, case, env.memcached_url)
    if skip is not None:
        yield skip
    else:
        with configured("memory://", url) as rt:
            guid = stored_item().guid
            key = cached_object_key(rt, BenchItem(guid))
            settle(rt, [key])
            BenchItem(guid)  # fills the cache
            raw_key, address = memcached_route(rt, key)
            client = raw_memcached(address)
            try:
                measured = measure(
                    settings,
                    loop(lambda: BenchItem(guid)),
                    {
                        "pymemcache get + orjson decode": loop(
                            lambda: orjson.loads(client.get(raw_key))
                        )
                    },
                )
            finally:
                client.close()
            yield timed(
                group,
                case,
                measured,
                [ratio_at_most(1.3, "raw get + decode of the same bytes")],
                value_bytes=_memcached_size(address, raw_key),
            )

    yield from _caches_off(env, "memory", lambda: "memory://", _memory_raw)
    yield from _caches_off(env, "SQLite", lambda: f"sqlite://{env.scratch('load.db')}", _sqlite_raw)
    yield from _caches_off(env, "etcd", env.etcd, _etcd_raw)
    yield from _caches_off(env, "Redis", env.redis, _redis_raw)


def _memcached_size(address: tuple[str, int], raw_key: bytes) -> int:
    client = raw_memcached(address)
    try:
        value = client.get(raw_key)
        return len(value) if value is not None else 0
    finally:
        client.close()


RawFactory = Callable[[Any, str], dict[str, Callable[[], object]]]


def _caches_off(
    env: Environment, name: str, store_url: Callable[[], str], raw: RawFactory
) -> Iterator[Result]:
    group, case = "load", f"object load: {name} store, caches off"
    url, skip = needs(group, case, store_url)
    if skip is not None:
        yield skip
        return
    with configured(url, NullCache()) as rt:
        guid = stored_item().guid
        key = object_key(rt, BenchItem(guid))
        baselines = raw(rt.store, key)
        closers = baselines.pop("__close__", None)
        try:
            measured = measure(
                env.settings,
                loop(lambda: BenchItem(guid)),
                {label: loop(operation) for label, operation in baselines.items()},
            )
        finally:
            if closers is not None:
                closers()
        targets = {
            "etcd": [ratio_at_most(1.2, "the fastest raw etcd client")],
            "Redis": [ratio_at_most(1.3, "raw redis-py GET + decode of the same bytes")],
        }.get(name, [])
        yield timed(
            group,
            case,
            measured,
            targets,
            value_bytes=len(rt.store.get(key).value),
        )


def _memory_raw(store: Any, key: str) -> dict[str, Callable[[], object]]:
    # The in-process store is its own client.
    return {"MemoryStore.get + orjson decode": lambda: orjson.loads(store.get(key).value)}


def _sqlite_raw(store: Any, key: str) -> dict[str, Callable[[], object]]:
    conn = sqlite3.connect(store.path, check_same_thread=False)
    query = "SELECT value FROM kv WHERE key = ?"

    def get() -> object:
        return orjson.loads(conn.execute(query, (key,)).fetchone()[0])

    return {"sqlite3 SELECT + orjson decode": get, "__close__": conn.close}


def _etcd_raw(store: Any, key: str) -> dict[str, Callable[[], object]]:
    """Every Python etcd client at hand, reading the very key the store wrote."""
    import pyetcd

    host, port = store.config.members[0].rsplit(":", 1)
    raw_key = store.config.prefix + key
    sdk = pyetcd.client(host=host, port=int(port))
    clients: dict[str, Callable[[], object]] = {
        "etcd-sdk-python get + decode": lambda: orjson.loads(sdk.get(raw_key)[0]),
    }
    closers: list[Callable[[], object]] = [sdk.close]
    try:
        import etcd3gw
    except ImportError:
        pass
    else:
        gateway = etcd3gw.client(host=host, port=int(port))
        clients["etcd3gw (HTTP gateway) get + decode"] = lambda: orjson.loads(
            gateway.get(raw_key)[0]
        )
    clients["__close__"] = lambda: [close() for close in closers]
    return clients


def _redis_raw(store: Any, key: str) -> dict[str, Callable[[], object]]:
    """redis-py (with hiredis when installed, as the plugin) reading the very key the store
    wrote; the first 16 bytes are the revision stamp the store keeps with the value."""
    client = store.config.client()
    raw_key = store.config.prefix.encode() + b"v:" + key.encode()
    return {
        "redis-py GET + decode": lambda: orjson.loads(client.get(raw_key)[16:]),
        "__close__": client.close,
    }


# -- memory ---------------------------------------------------------------------------------


def memory(env: Environment) -> Iterator[Result]:
    """Bytes held per loaded object, against a plain dict decoded from the same document."""
    count = env.settings.sizes["memory_objects"]
    repeats = 3
    for label, cache in (
        ("loaded from the store (caches off)", NullCache()),
        ("loaded from the in-process cache (document shared with it)", None),
    ):
        with configured("memory://", cache if cache is not None else "memory://") as rt:
            guids = [make_item(index).guid for index in range(count)]
            if cache is None:
                settle(rt, ["o:" + object_key(rt, BenchItem(guids[-1]))])
                for guid in guids:
                    BenchItem(guid)  # warm: the cache's own copy is not counted
            raws = [rt.store.get(object_key(rt, BenchItem(guid))).value for guid in guids]
            subject = [_bytes_per_item(_loader(guids)) for _ in range(repeats)]
            plain = [_bytes_per_item(_decoder(raws)) for _ in range(repeats)]
        subject_stat, plain_stat = (
            Stat([s / count for s in subject]),
            Stat([p / count for p in plain]),
        )
        yield Result(
            "memory",
            f"bytes per object, {label}",
            unit="bytes",
            subject=subject_stat,
            baseline="plain dict decoded from the same document",
            baselines={"plain dict decoded from the same document": plain_stat},
            ratio=Stat([s / p for s, p in zip(subject, plain, strict=True)]),
            extra={"objects": count, "fields": len(BenchItem._meta.checks) + 1},
        )


def _loader(guids: list[str]) -> Callable[[], list[Any]]:
    return lambda: [BenchItem(guid) for guid in guids]


def _decoder(raws: list[bytes]) -> Callable[[], list[Any]]:
    return lambda: [orjson.loads(raw) for raw in raws]


def _bytes_per_item(build: Callable[[], list[Any]]) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = build()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del held
    return float(after - before)
