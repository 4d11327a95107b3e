"""gets/cas against servers that restart, are flushed or go away between the two calls.

memcached numbers items from 1 again after a restart, so an old cas unique can match a new,
unrelated item: these tests first make that collision happen for real (a plain pymemcache cas
with the old unique succeeds), then check that the plugin's cas refuses it.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import pytest
from dalcore_memcached import MemcachedCache
from memcached_helpers import raw_client, url_of

import dalcore
from dalcore.api import NO_VALUE
from dalcore.testing import ServerProcess

Factory = Callable[[], ServerProcess]
FAST = "timeout=0.5&connect_timeout=0.5&retry_interval=0.2"


def open_cache(server: ServerProcess) -> MemcachedCache:
    cache = dalcore.open_volatile(url_of([server], FAST))
    assert isinstance(cache, MemcachedCache)
    return cache


def raw_unique(server: ServerProcess, raw_key: bytes) -> bytes | None:
    client = raw_client(server)
    try:
        unique: bytes | None = client.gets(raw_key)[1]
        return unique
    finally:
        client.close()


def collide(server: ServerProcess, raw_key: bytes, unique: bytes) -> None:
    """Store items on the (fresh) server until ``raw_key`` holds cas unique ``unique``."""
    client = raw_client(server)
    try:
        for _ in range(int(unique) + 5):
            client.set(raw_key, b'"impostor"', noreply=False)
            if client.gets(raw_key)[1] == unique:
                return
        raise AssertionError(f"could not reach unique {unique!r} on the restarted server")
    finally:
        client.close()


def raw_cas_succeeds(server: ServerProcess, raw_key: bytes, unique: bytes) -> bool:
    client = raw_client(server)
    try:
        return client.cas(raw_key, b'"raw"', unique, noreply=False) is True
    finally:
        client.close()


def prepare(server: ServerProcess) -> tuple[MemcachedCache, bytes, Any]:
    cache = open_cache(server)
    for version in range(5):  # a unique above the few a fresh server hands out at first
        cache.set("k", ["seen", version])
    _, token = cache.gets("k")
    raw = cache._route("k")[0]
    return cache, raw, token


def test_cas_refused_after_restart_even_when_the_unique_is_reused(server_factory: Factory) -> None:
    server = server_factory()
    cache, raw, token = prepare(server)
    unique = raw_unique(server, raw)
    assert unique is not None
    server.restart()
    collide(server, raw, unique)
    assert cache.cas("k", "late", token) is False
    assert raw_client(server).get(raw) == b'"impostor"'
    # The collision was real: memcached itself accepts the old unique.
    assert raw_cas_succeeds(server, raw, unique)
    cache.close()


def test_cas_refused_on_a_new_connection_to_a_restarted_server(server_factory: Factory) -> None:
    # No pooled connection is left to fail (as after an idle close, or a pool that grew while
    # the server was away): the handshake of the new connection must notice the restart.
    server = server_factory()
    cache, raw, token = prepare(server)
    unique = raw_unique(server, raw)
    assert unique is not None
    server.restart()
    cache.nodes[0].client.close()  # drops the pooled connections without using them
    collide(server, raw, unique)
    assert cache.cas("k", "late", token) is False
    assert raw_client(server).get(raw) == b'"impostor"'
    assert raw_unique(server, raw) == unique
    # The restarted server is flushed before it is used again (it lost the engine's markers).
    node = cache.nodes[0]
    assert not node.up
    wait_until_recovered(cache)
    assert node.recoveries == 1
    assert cache.get("k") is NO_VALUE
    # And a gets/cas pair on the new process works.
    cache.set("k", "fresh")
    _, token = cache.gets("k")
    assert cache.cas("k", "replaced", token) is True
    assert cache.get("k") == "replaced"
    cache.close()


def wait_until_recovered(cache: MemcachedCache) -> None:
    node = cache.nodes[0]
    for _ in range(500):  # bounded: retry_interval is 0.2 s
        cache.get("probe")  # any call drives the recovery
        if node.recoveries:
            return
        time.sleep(0.02)
    raise AssertionError(f"{node.name} never came back")


def test_cas_refused_with_a_token_from_before_a_handled_restart(server_factory: Factory) -> None:
    # The restart was noticed and the server flushed and used again; then the key reaches the
    # old unique on the new process. Only the token's server identity tells them apart.
    server = server_factory()
    cache, raw, token = prepare(server)
    unique = raw_unique(server, raw)
    assert unique is not None
    server.restart()
    assert cache.get("k") is NO_VALUE  # the dead connection fails: down, then flushed on return
    wait_until_recovered(cache)
    collide(server, raw, unique)
    assert cache.cas("k", "late", token) is False
    assert raw_client(server).get(raw) == b'"impostor"'
    assert raw_cas_succeeds(server, raw, unique)
    cache.close()


@pytest.mark.parametrize("rewrite", [False, True], ids=["flushed", "flushed-and-set-again"])
def test_cas_refused_after_flush(server_factory: Factory, rewrite: bool) -> None:
    server = server_factory()
    cache, raw, token = prepare(server)
    client = raw_client(server)
    client.flush_all(noreply=False)
    if rewrite:
        client.set(raw, b'"other"', noreply=False)
    assert cache.cas("k", "late", token) is False
    assert client.get(raw) == (b'"other"' if rewrite else None)
    client.close()
    cache.close()


def test_gets_and_cas_on_a_server_that_is_away(server_factory: Factory) -> None:
    server = server_factory()
    cache, _, token = prepare(server)
    with server.stopped():
        assert cache.gets("k") == (NO_VALUE, None)
        # token None is add: a dead server behaves as empty, and add answers False there.
        assert cache.cas("k", "filled", None) is False
        assert cache.cas("k", "late", token) is False
    # Back (same port, a new process): the old token stays refused.
    assert cache.cas("k", "late", token) is False
    cache.close()


def test_cas_replaces_an_undecodable_entry(server_factory: Factory) -> None:
    server = server_factory()
    cache = open_cache(server)
    raw = cache._route("k")[0]
    client = raw_client(server)
    client.set(raw, b"\x80not json", noreply=False)
    value, token = cache.gets("k")
    assert value is NO_VALUE and token is not None
    assert cache.cas("k", "clean", token) is True
    assert cache.get("k") == "clean"
    client.close()
    cache.close()


def _race(url: str, me: int, token: Any, barrier: Any, wins: Any) -> None:
    cache = dalcore.open_volatile(url)
    barrier.wait(30)
    if cache.cas("k", me, tuple(token)):
        wins.put(me)
    cache.close()


def test_cas_race_between_processes(server_factory: Factory) -> None:
    server = server_factory()
    cache = open_cache(server)
    cache.set("k", "start")
    _, token = cache.gets("k")
    context = multiprocessing.get_context("spawn")
    workers = 4
    barrier = context.Barrier(workers)
    wins = context.Queue()
    processes = [
        context.Process(target=_race, args=(url_of([server], FAST), me, token, barrier, wins))
        for me in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    winners = []
    while not wins.empty():
        winners.append(wins.get(timeout=5))
    assert len(winners) == 1, winners
    assert cache.get("k") == winners[0]
    cache.close()
