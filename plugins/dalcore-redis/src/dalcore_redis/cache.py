"""``redis://`` as a volatile cache: JSON values (orjson, never pickle) under a key prefix.

Shared by every process, like memcached. A server that does not answer is an empty cache:
misses, dropped writes, ``add``/``cas`` answering False; a warning at most every 10 s.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import redis

from dalcore.api import NO_VALUE, VolatileCache
from dalcore_redis import _scripts
from dalcore_redis._config import RedisConfig

log = logging.getLogger("dalcore.redis")

_WARN_EVERY = 10.0


def _px(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, math.ceil(ttl * 1000))


class RedisCache(VolatileCache):
    """JSON values on one Redis server, every key under ``prefix``."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.endpoint = config.shown
        self._p = config.prefix.encode()
        self._client = config.client()
        self._cas = self._client.register_script(_scripts.CAS)
        self._warned = -math.inf
        self._warn_lock = threading.Lock()

    def _k(self, key: str) -> bytes:
        return self._p + key.encode()

    def _down(self, what: str, exc: Exception) -> None:
        with self._warn_lock:
            now = time.monotonic()
            if now - self._warned < _WARN_EVERY:
                return
            self._warned = now
        log.warning(
            "redis cache %s: %s failed (%s); acting as an empty cache", self.endpoint, what, exc
        )

    def _decode(self, raw: bytes | None) -> Any:
        if raw is None:
            return NO_VALUE
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return NO_VALUE  # not ours (another writer): a miss, which the engine handles

    # -- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        try:
            return self._decode(self._client.get(self._k(key)))
        except redis.exceptions.RedisError as exc:
            self._down("get", exc)
            return NO_VALUE

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        if not keys:
            return []
        try:
            raws = self._client.mget([self._k(key) for key in keys])
        except redis.exceptions.RedisError as exc:
            self._down("get_many", exc)
            return [NO_VALUE] * len(keys)
        return [self._decode(raw) for raw in raws]

    def gets(self, key: str) -> tuple[Any, Any]:
        # The token is the raw value itself: cas compares it byte for byte on the server.
        try:
            raw = self._client.get(self._k(key))
        except redis.exceptions.RedisError as exc:
            self._down("gets", exc)
            return NO_VALUE, None
        return self._decode(raw), raw

    # -- writes -------------------------------------------------------------------------------

    def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        encoded = {self._k(key): orjson.dumps(value) for key, value in items.items()}
        px = _px(ttl)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key, data in encoded.items():
                    pipe.set(key, data, px=px)
                pipe.execute()
        except redis.exceptions.RedisError as exc:
            self._down("set", exc)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        data = orjson.dumps(value)
        try:
            return bool(self._client.set(self._k(key), data, nx=True, px=_px(ttl)))
        except redis.exceptions.RedisError as exc:
            self._down("add", exc)
            return False

    def cas(self, key: str, value: Any, token: Any, ttl: float | None = None) -> bool:
        if token is None:
            return self.add(key, value, ttl)
        px = _px(ttl)
        try:
            return bool(
                self._cas(
                    keys=[self._k(key)],
                    args=[token, orjson.dumps(value), b"" if px is None else px],
                )
            )
        except redis.exceptions.RedisError as exc:
            self._down("cas", exc)
            return False

    def delete_many(self, keys: Iterable[str]) -> None:
        raw = [self._k(key) for key in keys]
        if not raw:
            return
        try:
            self._client.delete(*raw)
        except redis.exceptions.RedisError as exc:
            self._down("delete", exc)

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        k = self._k(key)
        try:
            try:
                value = int(self._client.incrby(k, delta))
            except redis.exceptions.ResponseError:
                # Not an integer: start over, as the in-process cache does.
                self._client.set(k, orjson.dumps(delta), px=_px(ttl))
                return delta
            if value == delta and ttl is not None:
                self._client.pexpire(k, _px(ttl) or 1, nx=True)  # it was just created
            return value
        except redis.exceptions.RedisError as exc:
            self._down("incr", exc)
            return -1 - int.from_bytes(time.time_ns().to_bytes(8, "little")[:6], "little")

    def clear(self) -> None:
        """Delete every key under this cache's prefix (not the rest of the database)."""
        try:
            batch: list[bytes] = []
            for key in self._client.scan_iter(
                match=self._p.replace(b"*", b"\\*") + b"*", count=1000
            ):
                batch.append(key)
                if len(batch) >= 1000:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)
        except redis.exceptions.RedisError as exc:
            self._down("clear", exc)

    def close(self) -> None:
        self._client.close()
