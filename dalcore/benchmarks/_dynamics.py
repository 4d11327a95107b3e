"""Groups ``dynamics`` (cached, cold, uncached reads) and ``locked`` (16 processes, one loader)."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from typing import Any

import orjson

from dalcore import _layout
from dalcore.benchmarks._common import (
    configured,
    memcached_route,
    needs,
    raw_memcached,
    stored_item,
)
from dalcore.benchmarks._env import Environment
from dalcore.benchmarks._harness import Stat, loop, measure, with_setup
from dalcore.benchmarks._model import LOADER_LOG_ENV, BenchItem, BenchLocked
from dalcore.benchmarks._results import (
    OVS_CACHED_DYNAMIC,
    OVS_SIDE_BY_SIDE_DYNAMIC,
    Result,
    Target,
    ten_x_ovs,
    timed,
)


def dynamics(env: Environment) -> Iterator[Result]:
    group = "dynamics"
    settings = env.settings
    with configured("memory://", "memory://") as rt:
        item = BenchItem(stored_item().guid)
        key = _layout.dynamic_key(rt, item, "score")
        cache = rt.cache
        item.score  # noqa: B018 - fills the cache
        measured = measure(
            settings,
            loop(lambda: item.score),
            {"in-process cache get of the same key": loop(lambda: cache.get(key))},
        )
        yield timed(
            group,
            "cached dynamic read (in-process cache)",
            measured,
            [
                ten_x_ovs(OVS_CACHED_DYNAMIC, "cached dynamic read"),
                ten_x_ovs(OVS_SIDE_BY_SIDE_DYNAMIC, "cached dynamic read, side by side"),
            ],
        )
        loader = item._score
        measured = measure(
            settings,
            with_setup(lambda: cache.delete(key), lambda: item.score),
            {"calling the loader method directly": with_setup(lambda: cache.delete(key), loader)},
        )
        yield timed(
            group,
            "cold dynamic read (in-process cache): miss, compute, fill",
            measured,
            note="the loader is trivial, so this is dalcore's own cost around it",
        )
        measured = measure(
            settings,
            loop(lambda: item.score_now),
            {"calling the loader method directly": loop(item._score_now)},
        )
        yield timed(group, "uncached dynamic read (timeout 0)", measured)

    case = "cached dynamic read (memcached)"
    url, skip = needs(group, case, env.memcached_url)
    if skip is not None:
        yield skip
        return
    with configured("memory://", url) as rt:
        item = BenchItem(stored_item().guid)
        item.score  # noqa: B018 - fills the cache
        raw_key, address = memcached_route(rt, _layout.dynamic_key(rt, item, "score"))
        client = raw_memcached(address)
        try:
            measured = measure(
                settings,
                loop(lambda: item.score),
                {"pymemcache get + orjson decode": loop(lambda: orjson.loads(client.get(raw_key)))},
            )
        finally:
            client.close()
        yield timed(group, case, measured)


# -- locked dynamics across processes ---------------------------------------------------------


def _reader(store: str, cache: str, guid: str, name: str, log: str, barrier: Any, out: Any) -> None:
    """One worker process: configure, wait for the others, read the dynamic once."""
    import dalcore

    os.environ[LOADER_LOG_ENV] = log
    dalcore.configure(store, cache, namespace="bench", hybrids=())
    obj = BenchLocked(guid)
    barrier.wait()
    started = time.monotonic()
    value = getattr(obj, name)
    out.put((value, time.monotonic() - started))
    dalcore.runtime().close()


def locked(env: Environment) -> Iterator[Result]:
    group = "locked"
    processes = env.settings.sizes["locked_processes"]
    rounds = 1 if env.settings.quick else 3
    url, skip = needs(group, f"locked dynamic cold read, {processes} processes", env.memcached_url)
    if skip is not None:
        yield skip
        return
    store = f"sqlite://{env.scratch('locked.db')}"
    # forkserver: the workers fork from a clean helper, not from this process with its open
    # sockets and threads (gRPC channels of the etcd cases must not cross a fork).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dalcore.benchmarks._model", "dalcore.benchmarks._dynamics"])
    for name, locked_flag in (("locked_value", True), ("free_value", False)):
        counts: list[int] = []
        waits: list[float] = []
        values: set[Any] = set()
        for _ in range(rounds):
            log = env.scratch("loader.log")
            with configured(store, url):
                obj = BenchLocked(name="locked")
                obj.save()
                obj.invalidate_dynamics()
            barrier = context.Barrier(processes)
            out = context.Queue()
            workers = [
                context.Process(
                    target=_reader, args=(store, url, obj.guid, name, log, barrier, out)
                )
                for _ in range(processes)
            ]
            for worker in workers:
                worker.start()
            answers = [out.get(timeout=120) for _ in workers]
            for worker in workers:
                worker.join(30)
            with open(log) as handle:
                counts.append(sum(1 for _ in handle))
            values.update(value for value, _ in answers)
            waits.append(max(wait for _, wait in answers))
        kind = "locked" if locked_flag else "unlocked (contrast)"
        targets = (
            [
                Target(
                    "loader runs once", lambda r: r.extra["loader calls per round"] == [1] * rounds
                )
            ]
            if locked_flag
            else []
        )
        yield Result(
            group,
            f"{kind} dynamic cold read by {processes} processes (memcached)",
            unit="loader calls",
            subject=Stat([float(count) for count in counts]),
            targets=targets,
            extra={
                "loader calls per round": counts,
                "slowest reader (s)": round(max(waits), 3),
                "values seen": sorted(values),
                "loader takes (s)": 0.3,
            },
        )
