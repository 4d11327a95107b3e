"""``memcached://``: a :class:`~dalcore.api.VolatileCache` on one or more memcached servers.

Keys go to servers by rendezvous hashing; a multi-key call costs one round trip per server
involved (``get k1 k2 ...``, or pipelined ``set``/``delete`` commands). Every command waits for
its reply: the engine counts on a ``set`` being visible to the next ``get`` from any thread, and
with a connection pool that next ``get`` may travel on another connection than the ``set``.
"""

from __future__ import annotations

import contextlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Final

from pymemcache.exceptions import MemcacheClientError

from dalcore.api import NO_VALUE, VolatileCache
from dalcore_memcached._codec import JsonSerde, encode, exptime, log
from dalcore_memcached._keys import Ring, memcached_key, namespace
from dalcore_memcached._node import Node, Options, Unavailable

__all__ = ["DEFAULT_PORT", "MemcachedCache"]

DEFAULT_PORT: Final = 11211

#: Routes (memcached key, server) remembered per dalcore key; the table is emptied when full.
MAX_ROUTES: Final = 100_000

#: memcached's default item size limit is 1 MiB including its own header and the key.
DEFAULT_MAX_VALUE_SIZE: Final = 1024 * 1024 - 512


def _unreachable_token() -> int:
    # Negative, so it can never equal a counter memcached keeps (those are unsigned).
    return -1 - secrets.randbits(62)


class MemcachedCache(VolatileCache):
    """JSON values on memcached servers; degrades to an empty cache when they are away."""

    def __init__(
        self,
        servers: Sequence[tuple[str, int]],
        *,
        prefix: str | None = None,
        options: Options | None = None,
        max_value_size: int = DEFAULT_MAX_VALUE_SIZE,
        endpoint: str | None = None,
    ) -> None:
        if not servers:
            raise ValueError("at least one memcached server is needed")
        options = options or Options()
        self._ns = namespace(prefix)
        self._serde = JsonSerde()
        self.nodes = [Node(host, port, options, self._serde) for host, port in servers]
        self._ring = Ring([node.name for node in self.nodes])
        self._routes: dict[str, tuple[bytes, Node]] = {}
        self.max_value_size = max_value_size
        self.endpoint = endpoint or "memcached://" + ",".join(node.name for node in self.nodes)

    def _route(self, key: str) -> tuple[bytes, Node]:
        route = self._routes.get(key)
        if route is None:
            raw = memcached_key(self._ns, key)
            route = (raw, self.nodes[self._ring.server_of(raw)])
            if len(self._routes) >= MAX_ROUTES:
                self._routes.clear()
            self._routes[key] = route
        return route

    def _by_node(self, keys: Iterable[str]) -> dict[Node, list[bytes]]:
        batches: dict[Node, list[bytes]] = defaultdict(list)
        for key in dict.fromkeys(keys):
            raw, node = self._route(key)
            batches[node].append(raw)
        return batches

    # -- reads ---------------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        raw, node = self._route(key)
        try:
            return node.read_get(node.send_get([raw])).get(raw, NO_VALUE)
        except Unavailable:
            return NO_VALUE

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        routes = [self._route(key) for key in keys]
        batches: dict[Node, dict[bytes, None]] = defaultdict(dict)
        for raw, node in routes:
            batches[node][raw] = None
        # Every server gets its request before any reply is read, so they answer in parallel.
        sent = []
        for node, raws in batches.items():
            with contextlib.suppress(Unavailable):
                sent.append((node, node.send_get(list(raws))))
        found: dict[bytes, Any] = {}
        for node, conn in sent:
            with contextlib.suppress(Unavailable):
                found.update(node.read_get(conn))
        return [found.get(raw, NO_VALUE) for raw, _ in routes]

    # -- writes --------------------------------------------------------------------------------

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.set_many({key: value}, ttl)

    def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        expire = exptime(ttl)
        batches: dict[Node, dict[bytes, bytes]] = defaultdict(dict)
        too_big: list[str] = []
        # Everything is encoded before anything is sent: a value that is not JSON fails the whole
        # call without half of it applied.
        for key, value in items.items():
            data = encode(value)
            if len(data) > self.max_value_size:
                too_big.append(key)
                continue
            raw, node = self._route(key)
            batches[node][raw] = data
        for node, values in batches.items():
            with contextlib.suppress(Unavailable):
                node.call(
                    "set",
                    partial(node.client.set_many, values, expire=expire, noreply=False),
                    # Not applied (server away) or maybe applied late (timeout): either way the
                    # recovery deletes these keys, since a set is how the engine invalidates.
                    dirty=values.keys(),
                )
        if too_big:
            # Not cached, and an older value must not stay behind in its place.
            log.warning(
                "%d value(s) larger than max_value_size=%d not cached (first key %r)",
                len(too_big),
                self.max_value_size,
                too_big[0],
            )
            self.delete_many(too_big)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        data = encode(value)
        if len(data) > self.max_value_size:
            return False
        raw, node = self._route(key)
        expire = exptime(ttl)
        try:
            # Not marked dirty on failure: if this add landed after a timeout the key holds a
            # lock nobody owns until its TTL; deleting it at recovery could instead remove a
            # lock another process won, and break mutual exclusion.
            return bool(
                node.call("add", lambda: node.client.add(raw, data, expire=expire, noreply=False))
            )
        except Unavailable:
            return False

    def gets(self, key: str) -> tuple[Any, Any]:
        raw, node = self._route(key)
        falls = node.falls
        try:
            value, unique = node.call("gets", lambda: node.client.gets(raw))
        except Unavailable:
            return NO_VALUE, None
        if unique is None:
            return NO_VALUE, None
        # An undecodable value still gets a token, so that it can be replaced.
        return value, (falls, unique)

    def cas(self, key: str, value: Any, token: Any, ttl: float | None = None) -> bool:
        if token is None:
            return self.add(key, value, ttl)
        data = encode(value)
        if len(data) > self.max_value_size:
            return False
        raw, node = self._route(key)
        falls, unique = token
        if falls != node.falls:
            return False
        expire = exptime(ttl)
        try:
            # Not marked dirty: a cas that may have landed replaced exactly what its gets saw.
            stored = node.call(
                "cas", lambda: node.client.cas(raw, data, unique, expire=expire, noreply=False)
            )
        except Unavailable:
            return False
        return stored is True

    def delete(self, key: str) -> None:
        self.delete_many([key])

    def delete_many(self, keys: Iterable[str]) -> None:
        for node, raws in self._by_node(keys).items():
            # On failure the node remembers the keys and deletes them before it serves a read.
            with contextlib.suppress(Unavailable):
                node.call(
                    "delete",
                    partial(node.client.delete_many, raws, noreply=False),
                    dirty=raws,
                    strict=True,
                )

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        raw, node = self._route(key)
        expire = exptime(ttl)
        client = node.client
        start = max(delta, 0)  # memcached counters are unsigned

        def run() -> int:
            for _ in range(3):
                try:
                    if delta >= 0:
                        value = client.incr(raw, delta, noreply=False)
                    else:
                        value = client.decr(raw, -delta, noreply=False)
                except MemcacheClientError:
                    # The value is not a decimal number: like the in-process cache, start over.
                    client.set(raw, encode(delta), expire=expire, noreply=False)
                    return delta
                if value is not None:
                    return int(value)
                # Missing: create it; if another client created it first, increment theirs.
                if client.add(raw, encode(start), expire=expire, noreply=False):
                    return start
            # Deleted under our feet three times in a row: any changing token will do.
            return _unreachable_token()

        try:
            return node.call("incr", run, dirty=(raw,), strict=True)
        except Unavailable:
            return _unreachable_token()

    def clear(self) -> None:
        """flush_all on every server: everything on them goes, not only this prefix's keys."""
        for node in self.nodes:
            for _ in range(3):
                if node.defer_flush():
                    break  # down: flushed before it is used again
                try:
                    node.call(
                        "flush_all", partial(node.client.flush_all, noreply=False), strict=True
                    )
                    break
                except Unavailable:
                    continue  # went down just now: the next round records the flush

    def diagnose(self) -> dict[str, Any]:
        servers: dict[str, Any] = {}
        for node in self.nodes:
            try:
                stats = node.call("stats", node.client.stats)
            except Unavailable as exc:
                cause = exc.__cause__
                servers[node.name] = {"up": False, "error": str(cause or exc)}
                continue
            found = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in stats.items()}
            version = found.get("version")
            servers[node.name] = {
                "up": True,
                "version": version.decode() if isinstance(version, bytes) else version,
                "evictions": int(found.get("evictions", 0)),
                "items": int(found.get("curr_items", 0)),
                "limit_maxbytes": int(found.get("limit_maxbytes", 0)),
            }
        return {"servers": servers}

    def close(self) -> None:
        for node in self.nodes:
            node.close()
