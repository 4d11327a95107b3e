"""Three servers: keys spread over all, one round trip per server, no key ever moves."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest
from dalcore_memcached import MemcachedCache
from memcached_helpers import flush, raw_client, url_of
from pymemcache.client.base import Client

import dalcore
from dalcore.api import NO_VALUE
from dalcore.testing import ServerProcess

KEYS = [f"hybrid/{index:04d}" for index in range(100)]


def holders(servers: list[ServerProcess], keys: list[str]) -> list[list[str]]:
    """Which of ``keys`` each server really holds (asked with a plain client)."""
    found = []
    for server in servers:
        client = raw_client(server)
        try:
            held = client.get_many([key.encode() for key in keys])
        finally:
            client.close()
        found.append([key for key in keys if key.encode() in held])
    return found


def stats(server: ServerProcess) -> dict[bytes, Any]:
    client = raw_client(server)
    try:
        return dict(client.stats())
    finally:
        client.close()


@pytest.fixture
def cache(shared_servers: list[ServerProcess]) -> Iterator[MemcachedCache]:
    flush(shared_servers)
    cache = dalcore.open_volatile(url_of(shared_servers))
    assert isinstance(cache, MemcachedCache)
    yield cache
    cache.close()


@pytest.fixture
def round_trips(cache: MemcachedCache) -> collections.Counter[str]:
    """Requests sent per server: every request goes out in one ``sendall`` (pymemcache's
    commands and the plugin's own multi-key reads alike) and gets one reply.

    The plugin's pools build their connections from this subclass of the real client, whose
    socket counts what really went over the wire to the real servers.
    """
    counts: collections.Counter[str] = collections.Counter()

    class CountingSocket:
        def __init__(self, sock: Any, server: str) -> None:
            self._sock, self._server = sock, server

        def sendall(self, data: bytes) -> None:
            counts[self._server] += 1
            self._sock.sendall(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._sock, name)

    class Counting(Client):  # type: ignore[misc]
        def _connect(self) -> None:
            super()._connect()
            self.sock = CountingSocket(self.sock, f"{self.server[1]}")

    for node in cache.nodes:
        node.client.client_class = Counting
        node.client.close()  # drop any connection made before the switch
    return counts


def test_keys_spread_over_all_servers(
    cache: MemcachedCache, shared_servers: list[ServerProcess]
) -> None:
    cache.set_many({key: {"key": key} for key in KEYS})
    held = holders(shared_servers, KEYS)
    assert sorted(key for keys in held for key in keys) == KEYS  # each key on exactly one
    assert all(len(keys) >= 15 for keys in held), [len(keys) for keys in held]
    assert cache.get_many(KEYS) == [{"key": key} for key in KEYS]


def test_get_many_costs_one_request_per_server(
    cache: MemcachedCache, shared_servers: list[ServerProcess]
) -> None:
    cache.set_many({key: index for index, key in enumerate(KEYS)})
    held = holders(shared_servers, KEYS)
    before = [stats(server) for server in shared_servers]
    assert cache.get_many(KEYS) == list(range(100))
    after = [stats(server) for server in shared_servers]
    for keys, old, new in zip(held, before, after, strict=True):
        # Each key asked once, and the bytes the server read are exactly one "get k1 k2 ..."
        # line plus our own "stats\r\n": the 100 keys went out as one request per server.
        assert new[b"cmd_get"] - old[b"cmd_get"] == len(keys)
        one_request = len(b"get " + b" ".join(key.encode() for key in keys) + b"\r\n")
        assert new[b"bytes_read"] - old[b"bytes_read"] == one_request + len(b"stats\r\n")


def test_batches_cost_one_round_trip_per_server(
    cache: MemcachedCache, round_trips: collections.Counter[str]
) -> None:
    cache.set_many({key: index for index, key in enumerate(KEYS)})
    assert sorted(round_trips.values()) == [1, 1, 1]
    round_trips.clear()
    assert cache.get_many(KEYS) == list(range(100))
    assert sorted(round_trips.values()) == [1, 1, 1]
    round_trips.clear()
    cache.delete_many(KEYS)
    assert sorted(round_trips.values()) == [1, 1, 1]
    assert cache.get_many(KEYS) == [NO_VALUE] * 100


def test_a_key_lives_on_one_server_even_while_it_is_down(
    server_factory: Any,
) -> None:
    servers = [server_factory() for _ in range(3)]
    cache = dalcore.open_volatile(url_of(servers, "retry_interval=60"))
    try:
        cache.set_many({key: "before" for key in KEYS})
        before = holders(servers, KEYS)
        servers[1].kill()
        cache.set_many({key: "during" for key in KEYS})
        assert cache.get_many(KEYS) == [NO_VALUE if key in before[1] else "during" for key in KEYS]
        # The survivors took none of the dead server's keys (pymemcache's HashClient would
        # have moved them, and served them stale once the server came back and left again).
        assert holders([servers[0], servers[2]], KEYS) == [before[0], before[2]]
    finally:
        cache.close()
