"""From dalcore keys (any non-empty ``str``) to memcached keys, and from those to a server.

memcached's text protocol takes keys of at most 250 bytes without spaces or control characters.
A dalcore key that already is such a key (printable ASCII, short enough) is sent as it is, so
keys stay readable in ``stats cachedump`` and shared with other clients. Every other key is sent
as ``#`` followed by the SHA-256 hex digest of its UTF-8 bytes. Keys sent as they are never start
with ``#`` (a dalcore key starting with ``#`` is hashed too), so the two families cannot meet;
within the hashed family a collision is a SHA-256 collision.

A namespace prefix ``p`` turns every key into ``p:`` + the above. Prefixes may not contain
``:``, so the first ``:`` ends the prefix and two caches with different prefixes never share a
key. A cache without prefix uses the bare keys: it is the global namespace.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

#: memcached's limit on a key, in bytes.
MAX_KEY_BYTES: Final = 250

#: Marks a hashed key (after the namespace prefix); never the first character of a key sent as is.
HASHED_MARK: Final = "#"

#: What a namespace prefix may contain: no ``:`` (it ends the prefix), nothing memcached refuses.
PREFIX_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def namespace(prefix: str | None) -> bytes:
    """The bytes put in front of every key for ``prefix`` (empty for no prefix)."""
    if prefix is None or prefix == "":
        return b""
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(
            f"prefix {prefix!r} must be 1-64 characters from A-Z a-z 0-9 _ . - (no ':')"
        )
    return prefix.encode("ascii") + b":"


def memcached_key(ns: bytes, key: str) -> bytes:
    """The memcached key for ``key`` in namespace ``ns`` (from :func:`namespace`)."""
    if (
        key
        and len(key) <= MAX_KEY_BYTES - len(ns)
        and key.isascii()
        # On ASCII, isprintable() is exactly 0x20-0x7e; the space is the only one left to exclude.
        and key.isprintable()
        and " " not in key
        and key[0] != HASHED_MARK
    ):
        return ns + key.encode("ascii")
    # surrogatepass keeps the mapping total (lone surrogates are legal in str) and injective.
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return ns + (HASHED_MARK + digest).encode("ascii")


def is_valid_memcached_key(raw: bytes) -> bool:
    """True when memcached's text protocol accepts ``raw`` as a key."""
    return 0 < len(raw) <= MAX_KEY_BYTES and all(0x21 <= byte <= 0x7E for byte in raw)


class Ring:
    """Rendezvous (highest random weight) hashing of memcached keys onto ``size`` servers.

    Each server's score for a key is a keyed BLAKE2b of the key, the key being the server's
    name: adding or removing a server moves only the keys that it wins or held. pymemcache's
    own RendezvousHash does the same with a pure-Python murmur3 that costs ~17 us per key for
    three servers; this costs ~2 us, and the router caches the answer per key anyway.

    Servers are never taken out of the ring when they fail: a key always lives on the same
    server, so a value can never be left behind on a fallback server (see docs/memcached.md).
    """

    def __init__(self, names: list[str]) -> None:
        if not names:
            raise ValueError("a ring needs at least one server")
        self._salts = [hashlib.sha256(name.encode("utf-8")).digest()[:16] for name in names]

    def __len__(self) -> int:
        return len(self._salts)

    def server_of(self, raw_key: bytes) -> int:
        """Index of the server that holds ``raw_key``."""
        if len(self._salts) == 1:
            return 0
        best, best_score = 0, b""
        for index, salt in enumerate(self._salts):
            score = hashlib.blake2b(raw_key, digest_size=8, key=salt).digest()
            if score > best_score:
                best, best_score = index, score
        return best
