"""Group ``lists``: reverse lists of 10 / 100 / 1000 objects, time and round trips."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from dalcore import _layout
from dalcore._runtime import Runtime
from dalcore.benchmarks._common import configured, memcached_route, needs, raw_memcached, settle
from dalcore.benchmarks._env import Environment, counting
from dalcore.benchmarks._harness import Measured, loop, measure
from dalcore.benchmarks._model import BenchGroup, BenchItem, make_item
from dalcore.benchmarks._results import (
    OVS_REVERSE_LENGTH,
    OVS_SIDE_BY_SIDE_LENGTH_OF_ONE,
    Result,
    Target,
    ratio_at_most,
    ten_x_ovs,
    timed,
)


def _populate(size: int) -> BenchGroup:
    parent = BenchGroup(name=f"group-{size}")
    parent.save()
    for index in range(size):
        make_item(index, parent)
    return parent


def _populate_all(rt: Runtime, sizes: Sequence[int]) -> list[BenchGroup]:
    """Parents with their children, once the saves' cache holds have expired."""
    parents = [_populate(size) for size in sizes]
    relation = BenchItem._meta.relations["group"]
    last = parents[-1]
    settle(
        rt,
        [
            "o:" + _layout.prefix(rt, BenchItem._meta) + last.items_guids[-1],
            "r:" + _layout.reverse_prefix(rt, BenchItem._meta, relation, last.guid),
        ],
    )
    return parents


def lists(env: Environment) -> Iterator[Result]:
    group = "lists"
    sizes = env.settings.sizes["reverse"]
    with configured("memory://", "memory://") as rt:
        parents = _populate_all(rt, [1, *sizes])
        yield _length_of_one(env, rt, parents.pop(0))
        for size, parent in zip(sizes, parents, strict=True):
            yield from _in_process(env, rt, size, parent, first=size == sizes[0])

    case = "reverse lists through memcached"
    url, skip = needs(group, case, env.memcached_url)
    if skip is not None:
        yield skip
        return
    with configured("memory://", url) as rt:
        for size, parent in zip(sizes, _populate_all(rt, sizes), strict=True):
            list(parent.items)
            raw, close = _raw_get_many(rt, parent)
            try:
                measured = measure(
                    env.settings,
                    loop(_loader(parent)),
                    {"pymemcache get_many per server + orjson decode": loop(raw)},
                )
            finally:
                close()
            trips = _round_trips(rt, parent, memcached=True)
            targets = []
            if size == 100:
                targets = [
                    ratio_at_most(1.3, "raw get_many + decode"),
                    Target(
                        "objects in one round trip per memcached server",
                        lambda r: max(r.extra["memcached round trips per server"].values()) <= 1,
                    ),
                ]
            yield timed(
                group,
                f"reverse list of {size}, loaded (memory store, memcached)",
                measured,
                targets,
                note=(
                    "dalcore first reads the list's guids (one cache read, counted apart); "
                    "the baseline is handed them"
                ),
                **trips,
            )


def _length(env: Environment, rt: Runtime, parent: BenchGroup) -> Measured:
    """``len(parent.items)`` on a filled cache, against a key scan of its reverse index."""
    list(parent.items)  # fills the cache
    relation = BenchItem._meta.relations["group"]
    base = _layout.reverse_prefix(rt, BenchItem._meta, relation, parent.guid)
    store = rt.store
    return measure(
        env.settings,
        loop(lambda: len(parent.items)),
        {"store key scan of the reverse index": loop(lambda: list(store.keys(base)))},
    )


def _length_of_one(env: Environment, rt: Runtime, parent: BenchGroup) -> Result:
    """``len(machine.disks)`` with one disk: issue 16's side-by-side workload."""
    measured = _length(env, rt, parent)
    target = ten_x_ovs(OVS_SIDE_BY_SIDE_LENGTH_OF_ONE, "reverse-list length of one, side by side")
    return timed("lists", "reverse-list length, 1 object (memory store)", measured, [target])


def _loader(parent: BenchGroup) -> Callable[[], object]:
    return lambda: list(parent.items)


def _in_process(
    env: Environment, rt: Runtime, size: int, parent: BenchGroup, first: bool
) -> Iterator[Result]:
    group = "lists"
    measured = _length(env, rt, parent)
    targets = [ten_x_ovs(OVS_REVERSE_LENGTH, "reverse-list length")] if first else []
    yield timed(group, f"reverse-list length, {size} objects (memory store)", measured, targets)
    measured = measure(
        env.settings,
        loop(lambda: list(parent.items)),
        {"in-process cache get_many of the same keys": _local_get_many(rt, parent)},
    )
    yield timed(
        group,
        f"reverse list of {size}, loaded (memory store, in-process cache)",
        measured,
        **_round_trips(rt, parent, memcached=False),
    )


def _object_keys(rt: Runtime, parent: BenchGroup) -> list[str]:
    base = _layout.prefix(rt, BenchItem._meta)
    return ["o:" + base + guid for guid in parent.items_guids]


def _local_get_many(rt: Runtime, parent: BenchGroup) -> Callable[[int], float]:
    keys = _object_keys(rt, parent)
    cache = rt.cache
    return loop(lambda: cache.get_many(keys))


def _raw_get_many(
    rt: Runtime, parent: BenchGroup
) -> tuple[Callable[[], object], Callable[[], None]]:
    """Raw reads of the very bytes the plugin cached, one get_many per server."""
    by_server: dict[tuple[str, int], list[bytes]] = defaultdict(list)
    for key in _object_keys(rt, parent):
        raw_key, address = memcached_route(rt, key)
        by_server[address].append(raw_key)
    clients = [(raw_memcached(address), keys) for address, keys in by_server.items()]

    def read() -> object:
        values: list[Any] = []
        for client, keys in clients:
            values += [orjson.loads(value) for value in client.get_many(keys).values()]
        return values

    def close() -> None:
        for client, _ in clients:
            client.close()

    return read, close


def _round_trips(rt: Runtime, parent: BenchGroup, memcached: bool) -> dict[str, Any]:
    """One untimed load, of a freshly loaded parent, with store and cache calls counted: the
    guid list's reads apart from the objects' (on memcached, per server)."""
    parent = BenchGroup(parent.guid)
    for_guids: Counter[str] = Counter()
    with _counted(rt, memcached, for_guids):
        items = parent.items
    for_objects: Counter[str] = Counter()
    with _counted(rt, memcached, for_objects):
        loaded = list(items)
    both = for_guids + for_objects
    found: dict[str, Any] = {"objects loaded": len(loaded)}
    found["store round trips"] = sum(v for k, v in both.items() if k.startswith("store."))
    if memcached:
        found["memcached round trips for the guid list"] = sum(for_guids.values())
        found["memcached round trips per server"] = {
            node.name: for_objects[f"node {node.name}"]
            for node in rt.cache.nodes  # type: ignore[attr-defined]
        }
    else:
        found["cache calls"] = sum(v for k, v in both.items() if k.startswith("cache."))
    return found


@contextlib.contextmanager
def _counted(rt: Runtime, memcached: bool, counts: Counter[str]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            counting(rt.store, ["get", "get_many", "scan_page", "commit"], counts, "store.")
        )
        if memcached:
            for node in rt.cache.nodes:  # type: ignore[attr-defined]
                stack.enter_context(counting(node, ["call"], counts, f"node {node.name}"))
        else:
            stack.enter_context(counting(rt.cache, ["get", "get_many"], counts, "cache."))
        yield
