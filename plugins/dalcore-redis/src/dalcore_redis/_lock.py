"""A lease lock on Redis: ``SET key token NX PX ttl``, kept alive by a thread, released by a
compare-and-delete. Expiry is the server's clock, so clients on other machines agree on it."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import redis

from dalcore.api import StoreLock
from dalcore.errors import StoreUnavailableError
from dalcore_redis import _scripts


class RedisLock(StoreLock):
    def __init__(self, client: Any, key: bytes, name: str, ttl: float, endpoint: str) -> None:
        if ttl <= 0:
            raise ValueError(f"lock {name!r}: ttl must be positive, got {ttl!r}")
        self.name = name
        self.ttl = ttl
        self._client = client
        self._key = key
        self._endpoint = endpoint
        self._token = uuid.uuid4().hex.encode()
        self._renew = client.register_script(_scripts.RENEW)
        self._release = client.register_script(_scripts.RELEASE)
        self._held = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while True:
            try:
                taken = self._client.set(self._key, self._token, nx=True, px=self._ms())
            except redis.exceptions.RedisError as exc:
                raise StoreUnavailableError(self._endpoint, exc) from exc
            if taken:
                self._held = True
                self._stop = threading.Event()
                self._renewer = threading.Thread(
                    target=self._keep, args=(self._stop,), name=f"lock {self.name}", daemon=True
                )
                self._renewer.start()
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            wait = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(wait)
            pause = min(pause * 2, 0.1)

    def _ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _keep(self, stop: threading.Event) -> None:
        # Renew at a third of the TTL: two renewals may fail before the lease runs out.
        while not stop.wait(self.ttl / 3):
            try:
                if not self._renew(keys=[self._key], args=[self._token, self._ms()]):
                    return  # lost (expired and taken): release() will not delete theirs
            except redis.exceptions.RedisError:
                continue

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        self._stop.set()
        try:
            self._release(keys=[self._key], args=[self._token])
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(self._endpoint, exc) from exc
