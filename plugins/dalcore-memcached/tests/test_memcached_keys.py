"""Key mapping: every dalcore key becomes a valid memcached key, and no two become the same."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from dalcore_memcached._keys import (
    HASHED_MARK,
    MAX_KEY_BYTES,
    is_valid_memcached_key,
    memcached_key,
    namespace,
)
from hypothesis import assume, example, given
from hypothesis import strategies as st
from memcached_helpers import flush, raw_client, url_of

import dalcore
from dalcore.api import NO_VALUE, VolatileCache
from dalcore.testing import ServerProcess
from dalcore.testing.conformance import ODD_KEYS

PREFIXES = [None, "app", "a" * 64, "my-app.v2_x"]
NAMESPACES = [namespace(prefix) for prefix in PREFIXES]


def hashed_form(key: str) -> str:
    """What a hashed key looks like: the same text a user could also pick as a key."""
    return HASHED_MARK + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def boundary_keys() -> st.SearchStrategy[str]:
    """Keys near the interesting edges: the length limit, the mark, look-alikes of hashes."""
    safe = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
    return st.one_of(
        st.text(min_size=1),
        safe,
        safe.map(lambda key: HASHED_MARK + key),
        st.integers(180, 260).map(lambda n: "k" * n),
        st.text(min_size=1).map(hashed_form),
        st.text(min_size=1).map(lambda key: key + " "),
    )


@given(key=boundary_keys(), ns=st.sampled_from(NAMESPACES))
@example(key="#", ns=b"")
@example(key="x" * 250, ns=b"")
@example(key="x" * 251, ns=b"")
@example(key="x" * 246, ns=b"app:")
@example(key="x" * 247, ns=b"app:")
def test_mapping_is_valid_and_characterised(key: str, ns: bytes) -> None:
    raw = memcached_key(ns, key)
    assert is_valid_memcached_key(raw), raw
    assert raw.startswith(ns)
    rest = raw[len(ns) :].decode("ascii")
    safe = (
        key.isascii()
        and all(0x21 <= ord(char) <= 0x7E for char in key)
        and len(ns) + len(key) <= MAX_KEY_BYTES
        and not key.startswith(HASHED_MARK)
    )
    # The two families: kept as is (never starting with the mark), or mark + digest of the key.
    # Identity is injective, the digest is injective but for SHA-256 collisions, and the two
    # families are told apart by their first character: so distinct keys never meet.
    if safe:
        assert rest == key
    else:
        assert rest == hashed_form(key)


@given(a=boundary_keys(), b=boundary_keys(), ns=st.sampled_from(NAMESPACES))
def test_distinct_keys_never_collide(a: str, b: str, ns: bytes) -> None:
    assume(a != b)
    assert memcached_key(ns, a) != memcached_key(ns, b)


@given(
    a=boundary_keys(),
    b=boundary_keys(),
    pa=st.sampled_from(PREFIXES[1:]),
    pb=st.sampled_from(PREFIXES[1:]),
)
def test_prefixes_never_collide(a: str, b: str, pa: str, pb: str) -> None:
    assume(pa != pb)
    assert memcached_key(namespace(pa), a) != memcached_key(namespace(pb), b)


def test_a_key_spelled_like_a_hash_is_hashed_again() -> None:
    original = "\u00e9t\u00e9"
    lookalike = hashed_form(original)
    assert memcached_key(b"", original).decode() == lookalike
    assert memcached_key(b"", lookalike).decode() == hashed_form(lookalike)


@pytest.mark.parametrize("prefix", ["", "with:colon", "sp ace", "x" * 65, "\u00e9"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    if prefix == "":
        assert namespace(prefix) == b""
        return
    with pytest.raises(ValueError, match="prefix"):
        namespace(prefix)


# -- on a real server ---------------------------------------------------------------------


@pytest.fixture
def caches(shared_servers: list[ServerProcess]) -> Iterator[dict[str | None, VolatileCache]]:
    flush(shared_servers)
    opened: dict[str | None, VolatileCache] = {
        None: dalcore.open_volatile(url_of(shared_servers[:1])),
        "one": dalcore.open_volatile(url_of(shared_servers[:1], "prefix=one")),
        "two": dalcore.open_volatile(url_of(shared_servers[:1], "prefix=two")),
    }
    yield opened
    for cache in opened.values():
        cache.close()


def tricky_keys() -> list[str]:
    keys = [*ODD_KEYS, "x" * 250, "x" * 251, "y" * 300, "ctl\x01", "del\x7f", "#", "#plain"]
    keys += [hashed_form(key) for key in ("\u00e9t\u00e9", "x" * 251, "with space")]
    keys += ["one/plain", "one", "one:"]
    return keys


def test_tricky_keys_live_side_by_side(caches: dict[str | None, VolatileCache]) -> None:
    keys = tricky_keys()
    for name, cache in caches.items():
        cache.set_many({key: [name, index] for index, key in enumerate(keys)})
    for name, cache in caches.items():
        assert cache.get_many(keys) == [[name, index] for index in range(len(keys))]
        for index, key in enumerate(keys):
            assert cache.get(key) == [name, index]


def test_safe_keys_are_stored_readably(
    caches: dict[str | None, VolatileCache], shared_servers: list[ServerProcess]
) -> None:
    caches[None].set("plain/key:1", 1)
    caches["one"].set("plain/key:1", 2)
    client = raw_client(shared_servers[0])
    try:
        assert client.get(b"plain/key:1") == b"1"
        assert client.get(b"one:plain/key:1") == b"2"
    finally:
        client.close()


def test_the_unprefixed_cache_is_the_global_namespace(
    caches: dict[str | None, VolatileCache],
) -> None:
    # Documented: without a prefix, keys are sent bare, so "one:x" there is "x" in prefix "one".
    caches["one"].set("x", "from one")
    assert caches[None].get("one:x") == "from one"
    assert caches["two"].get("x") is NO_VALUE
