"""Values: JSON only, never unpickled; TTLs in memcached's terms; incr and size limits."""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dalcore_memcached import MemcachedCache
from dalcore_memcached._codec import JSON_FLAG, MAX_RELATIVE_EXPTIME, encode, exptime
from memcached_helpers import flush, raw_client, url_of

import dalcore
from dalcore.api import NO_VALUE
from dalcore.testing import ServerProcess


class Exploit:
    """Unpickling this runs a command that leaves a file behind: the proof that it ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def server(shared_servers: list[ServerProcess]) -> ServerProcess:
    flush(shared_servers[:1])
    return shared_servers[0]


@pytest.fixture
def cache(server: ServerProcess) -> Iterator[MemcachedCache]:
    cache = dalcore.open_volatile(url_of([server], "max_value_size=2000"))
    assert isinstance(cache, MemcachedCache)
    yield cache
    cache.close()


def payloads(marker: Path) -> dict[str, tuple[bytes, int]]:
    evil = pickle.dumps(Exploit(marker))
    return {
        "garbage with our flag": (b"\x80\x04\xffnot json{", JSON_FLAG),
        "pickle with our flag": (evil, JSON_FLAG),
        "pickle with pymemcache's pickle flag": (evil, 1),
        "json text with a foreign flag": (b'{"a": 1}', 0),
    }


@pytest.mark.parametrize("case", list(payloads(Path("x"))))
def test_undecodable_values_are_logged_misses(
    case: str,
    cache: MemcachedCache,
    server: ServerProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    marker = tmp_path / "pwned"
    data, flags = payloads(marker)[case]
    client = raw_client(server)
    try:
        client.set(b"victim", data, flags=flags, noreply=False)
    finally:
        client.close()
    cache.set("neighbour", {"fine": True})
    with caplog.at_level(logging.WARNING, logger="dalcore.memcached"):
        assert cache.get("victim") is NO_VALUE
        assert cache.get_many(["neighbour", "victim", "neighbour"]) == [
            {"fine": True},
            NO_VALUE,
            {"fine": True},
        ]
    assert not marker.exists(), "a cached pickle was executed"
    records = [r for r in caplog.records if r.name == "dalcore.memcached"]
    assert records and "victim" in records[0].getMessage()
    # The next fill replaces it as usual.
    cache.set("victim", [1, 2])
    assert cache.get("victim") == [1, 2]


def test_undecodable_reports_are_rate_limited(
    cache: MemcachedCache, server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    client = raw_client(server)
    try:
        client.set_many({f"bad/{i}".encode(): b"{" for i in range(20)}, flags=JSON_FLAG)
    finally:
        client.close()
    with caplog.at_level(logging.WARNING, logger="dalcore.memcached"):
        for _ in range(5):
            assert cache.get_many([f"bad/{i}" for i in range(20)]) == [NO_VALUE] * 20
    assert len([r for r in caplog.records if r.name == "dalcore.memcached"]) == 1


def test_values_are_json_on_the_wire(cache: MemcachedCache, server: ServerProcess) -> None:
    value = {"name": "pm1", "ports": [1, 2], "up": True, "load": 0.5, "none": None}
    cache.set("doc", value)
    client = raw_client(server)
    try:
        raw = client.get(b"doc")
    finally:
        client.close()
    assert raw == b'{"name":"pm1","ports":[1,2],"up":true,"load":0.5,"none":null}'


def test_non_json_values_are_refused_before_anything_is_sent(cache: MemcachedCache) -> None:
    with pytest.raises(TypeError, match="JSON"):
        cache.set_many({"fine": 1, "bad": {1, 2}})
    assert cache.get("fine") is NO_VALUE
    with pytest.raises(TypeError):
        cache.add("bad", object())


def test_json_dumps_compatible_keys(cache: MemcachedCache) -> None:
    cache.set("int keys", {1: "a", 2: "b"})
    assert cache.get("int keys") == {"1": "a", "2": "b"}


def test_exptime_rules() -> None:
    assert exptime(None) == 0
    assert exptime(0) == -1
    assert exptime(-3) == -1
    assert exptime(0.2) == 2  # ceil, plus one for memcached's clock tick
    assert exptime(1) == 2
    assert exptime(59.5) == 61
    assert exptime(MAX_RELATIVE_EXPTIME - 1) == MAX_RELATIVE_EXPTIME
    now = 1_800_000_000.7
    assert exptime(MAX_RELATIVE_EXPTIME, now) == 1_800_000_000 + MAX_RELATIVE_EXPTIME + 1
    assert exptime(90 * 24 * 3600, now) == 1_800_000_000 + 90 * 24 * 3600 + 1


def test_long_and_short_ttls_on_a_real_server(cache: MemcachedCache) -> None:
    # A 60-day TTL sent as relative seconds would be read as a 1970 timestamp: gone at once.
    cache.set("long", "l", ttl=60 * 24 * 3600)
    cache.set("short", "s", ttl=0.05)
    assert cache.add("lock", 1, ttl=45 * 24 * 3600)
    assert cache.incr("counter", 1, ttl=31 * 24 * 3600) == 1
    assert cache.get_many(["long", "short", "lock", "counter"]) == ["l", "s", 1, 1]
    cache.set("gone", "g", ttl=0)
    assert cache.get("gone") is NO_VALUE


@pytest.mark.slow
def test_sub_second_ttl_still_expires(cache: MemcachedCache) -> None:
    cache.set("short", "s", ttl=0.3)
    time.sleep(2.2)
    assert cache.get("short") is NO_VALUE


def test_incr_details(cache: MemcachedCache) -> None:
    cache.set("text", "not a number")
    assert cache.incr("text", 3) == 3  # like the in-process cache: start over
    assert cache.incr("text") == 4
    assert cache.incr("down", -5) == 0  # memcached counters are unsigned
    assert cache.incr("n", 10) == 10
    assert cache.incr("n", -4) == 6
    assert cache.incr("n", -100) == 0
    assert cache.get("n") == 0


def test_too_large_values_are_not_cached_and_do_not_leave_an_old_one(
    cache: MemcachedCache, caplog: pytest.LogCaptureFixture
) -> None:
    cache.set("doc", "small")
    with caplog.at_level(logging.WARNING, logger="dalcore.memcached"):
        cache.set("doc", "x" * 5000)
    assert cache.get("doc") is NO_VALUE
    assert "max_value_size" in caplog.text
    assert cache.add("doc", "y" * 5000) is False
    assert len(encode("x" * 1990)) <= 2000
    cache.set("doc", "x" * 1990)
    assert cache.get("doc") == "x" * 1990
