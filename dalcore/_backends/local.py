"""``memory://`` as a volatile cache: in this process, bounded (LRU), TTL honoured, thread-safe.

Values are kept as the very objects handed in, so a hit costs a dict lookup; the engine never
mutates a value it has cached (see :class:`dalcore.api.VolatileCache`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dalcore.api import NO_VALUE, BackendURL, VolatileCache
from dalcore.hookspecs import Provided, hookimpl

_FOREVER = float("inf")


class LocalCache(VolatileCache):
    """At most ``max_entries`` values; the least recently used go first."""

    process_local = True

    def __init__(self, max_entries: int = 100_000, endpoint: str = "memory://") -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.endpoint = endpoint
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()
        #: Counts deletions and clears. Copies of values kept outside the cache (the engine
        #: keeps a dynamic's value on its object) are good only while it has not changed.
        self.epoch = 0

    def _store(self, key: str, value: Any, ttl: float | None) -> None:
        # Caller holds the lock.
        expires = _FOREVER if ttl is None else time.monotonic() + ttl
        data = self._data
        data[key] = (value, expires)
        data.move_to_end(key)
        if len(data) > self.max_entries:
            data.popitem(last=False)

    def _live(self, key: str, now: float) -> Any:
        # Caller holds the lock.
        item = self._data.get(key)
        if item is None:
            return NO_VALUE
        if item[1] <= now:
            del self._data[key]
            return NO_VALUE
        self._data.move_to_end(key)
        return item[0]

    def get(self, key: str) -> Any:
        # _live inlined: this is the hottest call of every cached read.
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return NO_VALUE
            if item[1] <= time.monotonic():
                del self._data[key]
                return NO_VALUE
            self._data.move_to_end(key)
            return item[0]

    def gets(self, key: str) -> tuple[Any, Any]:
        # The token is the stored (value, expiry) tuple itself: every write makes a new one.
        with self._lock:
            value = self._live(key, time.monotonic())
            return value, (None if value is NO_VALUE else self._data[key])

    def cas(self, key: str, value: Any, token: Any, ttl: float | None = None) -> bool:
        with self._lock:
            if token is None:
                if self._live(key, time.monotonic()) is not NO_VALUE:
                    return False
            elif self._data.get(key) is not token:
                return False
            self._store(key, value, ttl)
            return True

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        now = time.monotonic()
        with self._lock:
            return [self._live(key, now) for key in keys]

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        with self._lock:
            self._store(key, value, ttl)

    def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        with self._lock:
            for key, value in items.items():
                self._store(key, value, ttl)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        with self._lock:
            if self._live(key, time.monotonic()) is not NO_VALUE:
                return False
            self._store(key, value, ttl)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self.epoch += 1
            self._data.pop(key, None)

    def delete_many(self, keys: Iterable[str]) -> None:
        with self._lock:
            self.epoch += 1
            for key in keys:
                self._data.pop(key, None)

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        with self._lock:
            now = time.monotonic()
            current = self._live(key, now)
            if current is NO_VALUE or not isinstance(current, int):
                value = delta
                self._store(key, value, ttl)
            else:
                value = current + delta
                self._data[key] = (value, self._data[key][1])  # an increment keeps the expiry
            return value

    def clear(self) -> None:
        with self._lock:
            self.epoch += 1
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [Provided("volatile", "memory", "in-process LRU cache with TTL (per process)")]


@hookimpl
def dalcore_volatile_cache(url: BackendURL) -> LocalCache | None:
    if url.scheme != "memory":
        return None
    return LocalCache(url.int_param("max_entries", 100_000), str(url))
