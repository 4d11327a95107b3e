"""Servers that die, restart or freeze: the cache degrades to misses, then never serves stale."""

from __future__ import annotations

import collections
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dalcore_memcached import MemcachedCache
from memcached_helpers import raw_client, url_of

import dalcore
from dalcore.api import NO_VALUE
from dalcore.testing import ServerProcess, free_port

Factory = Callable[[], ServerProcess]
FAST = "timeout=0.3&connect_timeout=0.3&retry_interval=0.2"


def open_cache(servers: list[ServerProcess], query: str = FAST) -> MemcachedCache:
    cache = dalcore.open_volatile(url_of(servers, query))
    assert isinstance(cache, MemcachedCache)
    return cache


@contextmanager
def frozen(server: ServerProcess) -> Iterator[None]:
    """The server stops answering but keeps its memory: a network blip, not a restart."""
    assert server.process is not None
    pid = server.process.pid
    os.killpg(pid, signal.SIGSTOP)
    try:
        wait_for_state(pid, stopped=True)  # signals arrive asynchronously
        yield
    finally:
        os.killpg(pid, signal.SIGCONT)
        wait_for_state(pid, stopped=False)


def wait_for_state(pid: int, stopped: bool) -> None:
    deadline = time.monotonic() + 10
    while True:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        if (state == "T") == stopped:
            return
        assert time.monotonic() < deadline, f"process {pid} stays in state {state}"
        time.sleep(0.005)


def wait_until_back(cache: MemcachedCache, index: int, probe_key: str, recoveries: int = 0) -> None:
    """Until server ``index`` was brought back more than ``recoveries`` times."""
    node = cache.nodes[index]
    deadline = time.monotonic() + 15
    while node.recoveries == recoveries:
        assert time.monotonic() < deadline, f"{node.name} never came back"
        cache.get(probe_key)  # any call for its keys drives the recovery
        time.sleep(0.05)


def key_on(cache: MemcachedCache, index: int, stem: str) -> str:
    """A dalcore key that the ring puts on server ``index``."""
    for number in range(10_000):
        key = f"{stem}/{number}"
        if cache._route(key)[1] is cache.nodes[index]:
            return key
    raise AssertionError("no key found for that server")


def raw_get(server: ServerProcess, key: str) -> Any:
    client = raw_client(server)
    try:
        return client.get(key.encode())
    finally:
        client.close()


def test_no_server_at_all(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    cache = dalcore.open_volatile(f"memcached://127.0.0.1:{port}?retry_interval=0.01")
    with caplog.at_level(logging.WARNING, logger="dalcore.memcached"):
        for _ in range(20):
            assert cache.get("k") is NO_VALUE
            assert cache.get_many(["k", "l"]) == [NO_VALUE, NO_VALUE]
            cache.set("k", 1)
            cache.set_many({"k": 1, "l": 2})
            assert cache.add("k", 1) is False
            assert isinstance(cache.incr("k"), int)
            cache.delete("k")
            cache.delete_many(["k", "l"])
            cache.clear()
            time.sleep(0.01)
    records = [r for r in caplog.records if r.name == "dalcore.memcached"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert f"127.0.0.1:{port}" in records[0].getMessage()
    assert cache.incr("k") != cache.incr("k")  # still a changing token
    cache.close()


def test_a_blip_does_not_bring_back_an_invalidated_value(server_factory: Factory) -> None:
    server = server_factory()
    cache = open_cache([server], "timeout=0.3&connect_timeout=0.3&retry_interval=0.5")
    try:
        cache.set_many({"deleted": {"v": 1}, "overwritten": {"v": 1}, "counter": 7})
        with frozen(server):
            assert cache.get("other") is NO_VALUE  # times out: the server is marked down
            # The objects change in the store; their invalidations cannot reach the server.
            cache.delete("deleted")
            cache.set("overwritten", {"v": 2})
            cache.incr("counter")
        # Back, with its memory intact: the old values are still there...
        assert raw_get(server, "deleted") == b'{"v":1}'
        assert raw_get(server, "overwritten") == b'{"v":1}'
        # ...but are never read: misses until the recovery, which deletes them first.
        assert cache.get_many(["deleted", "overwritten", "counter"]) == [NO_VALUE] * 3
        wait_until_back(cache, 0, "other")
        assert cache.get_many(["deleted", "overwritten", "counter"]) == [NO_VALUE] * 3
        assert raw_get(server, "deleted") is None
        cache.set("overwritten", {"v": 2})
        assert cache.get("overwritten") == {"v": 2}
    finally:
        cache.close()


def test_a_clear_missed_while_away_flushes_on_return(server_factory: Factory) -> None:
    server = server_factory()
    cache = open_cache([server])
    try:
        cache.set("a", 1)
        with frozen(server):
            cache.get("x")
            cache.clear()
        assert raw_get(server, "a") == b"1"
        wait_until_back(cache, 0, "x")
        assert raw_get(server, "a") is None
    finally:
        cache.close()


def test_a_restarted_server_is_flushed_before_use(server_factory: Factory) -> None:
    server = server_factory()
    cache = open_cache([server], "timeout=0.3&connect_timeout=0.3&retry_interval=0.5")
    try:
        cache.set("doc", {"v": 2})
        server.kill()
        assert cache.get("doc") is NO_VALUE  # the server is marked down
        server.start()
        # Before this client looks again, another one fills an old version into the empty
        # server (it missed the engine's hold marker, which the restart lost).
        client = raw_client(server)
        try:
            client.set(b"doc", b'{"v":1}', noreply=False)
        finally:
            client.close()
        wait_until_back(cache, 0, "probe")
        assert cache.get("doc") is NO_VALUE
    finally:
        cache.close()


def run_workload(cache: MemcachedCache, disrupt: Callable[[], None]) -> collections.Counter[str]:
    """Threads read through the cache and write a truth dict while ``disrupt()`` runs.

    Reads fill from the truth on a miss; writes bump the truth and either delete the cache key
    or write the new value through. Per-key locks keep a fill from racing a write, the race that
    the engine solves its own way (hold markers), so that any stale read here is the cache's
    fault. A read is stale when it returns a version older than the last write that had
    finished (truth updated and cache invalidated) when the read began.
    """
    keys = [f"obj/{index}" for index in range(40)]
    truth = dict.fromkeys(keys, 0)
    finished = dict.fromkeys(keys, 0)
    locks = {key: threading.Lock() for key in keys}
    counts: collections.Counter[str] = collections.Counter()
    errors: list[BaseException] = []
    stale: list[tuple[str, int, int]] = []
    stop = threading.Event()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                key = rng.choice(keys)
                roll = rng.random()
                if roll < 0.2:
                    with locks[key]:
                        truth[key] += 1
                        if roll < 0.1:
                            cache.delete(key)
                        else:
                            cache.set(key, {"v": truth[key]})
                        finished[key] = truth[key]
                    counts["write"] += 1
                    continue
                floor = finished[key]
                got = cache.get(key)
                if got is NO_VALUE:
                    counts["miss"] += 1
                    with locks[key]:
                        cache.set(key, {"v": truth[key]})
                else:
                    counts["hit"] += 1
                    if got["v"] < floor:
                        stale.append((key, got["v"], floor))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for worker in workers:
        worker.start()
    try:
        disrupt()
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    assert not errors, errors
    assert not stale, stale[:10]
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill", "freeze"])
def test_workload_through_a_server_failure(
    fault: str, server_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    servers = [server_factory() for _ in range(3)]
    cache = open_cache(servers)
    victim = servers[1]
    hits_after: list[int] = []

    def disrupt() -> None:
        time.sleep(0.7)
        recoveries = cache.nodes[1].recoveries
        if fault == "kill":
            victim.kill()
            time.sleep(1.2)
            victim.start()
        else:
            with frozen(victim):
                time.sleep(1.2)
        wait_until_back(cache, 1, key_on(cache, 1, "probe"), recoveries)
        hits_before = raw_client(victim).stats()[b"get_hits"]
        time.sleep(1.0)
        hits_after.append(raw_client(victim).stats()[b"get_hits"] - hits_before)

    try:
        with caplog.at_level(logging.WARNING, logger="dalcore.memcached"):
            counts = run_workload(cache, disrupt)
    finally:
        cache.close()
    assert counts["hit"] > 100 and counts["miss"] > 0 and counts["write"] > 0, counts
    assert hits_after[0] > 0, "the server that came back is not used again"
    about_victim = [r.getMessage() for r in caplog.records if victim_name(victim) in r.getMessage()]
    # One warning that it failed (the rest rate-limited), and one that it is back.
    assert len([m for m in about_victim if "is back" not in m]) == 1, about_victim
    assert len([m for m in about_victim if "is back" in m]) >= 1, about_victim


def victim_name(server: ServerProcess) -> str:
    return f"127.0.0.1:{server.port}"
