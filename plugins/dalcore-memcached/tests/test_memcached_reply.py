"""The plugin's own reader of ``get`` replies (the read hot path), on a real server and, for
the ways a reply can be cut into pieces by the network, on a socket pair fed by the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from dalcore_memcached import MemcachedCache
from dalcore_memcached._codec import JSON_FLAG
from dalcore_memcached._reply import RECV_SIZE, read_values
from hypothesis import given, settings
from hypothesis import strategies as st
from pymemcache.exceptions import (
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownError,
)

import dalcore
from dalcore.api import NO_VALUE


@pytest.fixture
def cache(fresh_cache_url: str) -> Iterator[MemcachedCache]:
    """The three shared servers (a multi-key read spans them), values up to 4 MB."""
    cache = dalcore.open_volatile(fresh_cache_url + "&max_value_size=4000000")
    assert isinstance(cache, MemcachedCache)
    yield cache
    cache.close()


def test_values_that_look_like_the_protocol(cache: MemcachedCache) -> None:
    tricky = {
        "end": "x\r\nEND\r\n",
        "value line": "\r\nVALUE k 0 3\r\nabc\r\nEND",
        "empty string": "",
        "crlf only": "\r\n",
    }
    cache.set_many(tricky)
    assert cache.get_many(list(tricky)) == list(tricky.values())
    assert [cache.get(key) for key in tricky] == list(tricky.values())


def test_values_larger_than_one_read(cache: MemcachedCache) -> None:
    big = {f"big-{n}": "v" * (RECV_SIZE + 7 * n) for n in range(3)}
    small = {f"small-{n}": n for n in range(50)}
    cache.set_many({**big, **small})
    keys = [key for pair in zip(big, small, strict=False) for key in pair] + list(small)[3:]
    assert cache.get_many(keys) == [big.get(key, small.get(key)) for key in keys]


def test_connections_are_reused_after_good_replies(cache: MemcachedCache) -> None:
    cache.set("k", 1)
    for _ in range(20):
        assert cache.get("k") == 1
        assert cache.get_many(["k", "absent"]) == [1, NO_VALUE]
    _, node = cache._route("k")
    assert all(len(each.client.client_pool.used) == 0 for each in cache.nodes)
    assert len(node.client.client_pool.free) == 1


def test_a_foreign_value_in_a_batch_is_a_miss_and_the_rest_are_read(
    cache: MemcachedCache,
) -> None:
    cache.set_many({"a": 1, "c": 3})
    raw_key, node = cache._route("b")
    node.client.set(raw_key, b"\x80\x04pickled", flags=1, noreply=False)  # pickle's flags
    assert cache.get_many(["a", "b", "c"]) == [1, NO_VALUE, 3]


# -- replies cut anywhere ----------------------------------------------------------------------


def reply_of(values: dict[bytes, bytes]) -> bytes:
    parts = [b"VALUE %s %d %d\r\n%s\r\n" % (k, JSON_FLAG, len(v), v) for k, v in values.items()]
    return b"".join(parts) + b"END\r\n"


def decode(key: bytes, data: bytearray, flags: int) -> Any:
    assert flags == JSON_FLAG
    return orjson.loads(data)


def feed(reply: bytes, cuts: list[int]) -> Any:
    """read_values over a socket that receives ``reply`` in pieces ending at ``cuts``."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)

    def send() -> None:
        start = 0
        for end in [*sorted(set(cuts)), len(reply)]:
            if start < end <= len(reply):
                theirs.sendall(reply[start:end])
                start = end
        theirs.close()  # after the reply: anything read past it shows up as a short read

    writer = threading.Thread(target=send)
    writer.start()
    try:
        return read_values(ours, decode)
    finally:
        writer.join()
        ours.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.from_regex(rb"[a-z0-9/._-]{1,20}", fullmatch=True), json_values),
    st.lists(st.integers(min_value=1, max_value=2000), max_size=8),
)
def test_any_reply_is_read_whole_however_it_arrives(
    values: dict[bytes, Any], cuts: list[int]
) -> None:
    encoded = {key: orjson.dumps(value) for key, value in values.items()}
    assert feed(reply_of(encoded), cuts) == values


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"VALUE k %d 2\r\n12\r\nEN" % JSON_FLAG, MemcacheUnexpectedCloseError),  # cut off
        (b"SERVER_ERROR out of memory\r\n", MemcacheServerError),
        (b"VALUE k %d 2\r\n12\r\nEND\r\nEND\r\n" % JSON_FLAG, MemcacheUnknownError),  # out of step
        (b"STORED\r\n", MemcacheUnknownError),
        (b"VALUE k %d\r\n" % JSON_FLAG, ValueError),  # no length
    ],
)
def test_broken_replies_raise(reply: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        feed(reply, [])
