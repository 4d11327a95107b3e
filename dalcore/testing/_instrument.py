"""Pass-through wrappers around a REAL store and cache that count calls and open race windows.

They add no behaviour of their own: every call goes to the wrapped backend. What they add is
observation (how many round trips the engine made) and timing control (run a function right
after a read returned or right before a commit), which is how the suite places a concurrent
save exactly inside a load. ``close()`` does nothing: the fixture that made the backend owns it,
while :func:`dalcore.configure` closes whatever the previous configuration used.
"""

from __future__ import annotations

import collections
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from dalcore.api import (
    Check,
    Entry,
    Operation,
    PersistentStore,
    StoreLock,
    VolatileCache,
    WatchEvent,
    WatchHandle,
)

#: ``after_read(method, keys_or_prefix)``: called in the reading thread after the backend answered.
ReadHook = Callable[[str, Any], None]
#: ``before_commit(operations, checks)``: called before the commit reaches the backend.
CommitHook = Callable[[Sequence[Operation], Sequence[Check]], None]


class InstrumentedStore(PersistentStore):
    """Counts ``get``/``get_many``/``scan_page``/``commit`` and runs optional hooks around them."""

    def __init__(self, inner: PersistentStore) -> None:
        self.inner = inner
        self.endpoint = inner.endpoint
        self.capabilities = inner.capabilities  # type: ignore[misc]
        self.calls: Counter[str] = Counter()
        self.keys_read: list[str] = []
        self.after_read: ReadHook | None = None
        self.before_commit: CommitHook | None = None
        self._lock = threading.Lock()

    def _count(self, method: str, keys: Iterable[str] = ()) -> None:
        with self._lock:
            self.calls[method] += 1
            self.keys_read.extend(keys)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.keys_read.clear()

    @property
    def reads(self) -> int:
        """Store round trips that read (get, get_many, scan_page)."""
        return self.calls["get"] + self.calls["get_many"] + self.calls["scan_page"]

    def get(self, key: str) -> Entry:
        self._count("get", [key])
        entry = self.inner.get(key)
        if self.after_read is not None:
            self.after_read("get", [key])
        return entry

    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        self._count("get_many", keys)
        entries = self.inner.get_many(keys)
        if self.after_read is not None:
            self.after_read("get_many", list(keys))
        return entries

    def scan_page(
        self, prefix: str, start_after: str | None, limit: int, keys_only: bool = False
    ) -> list[Entry]:
        self._count("scan_page")
        page = self.inner.scan_page(prefix, start_after, limit, keys_only)
        if self.after_read is not None:
            self.after_read("scan_page", prefix)
        return page

    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        self._count("commit")
        if self.before_commit is not None:
            self.before_commit(operations, checks)
        return self.inner.commit(operations, checks)

    # keys()/scan()/set()/delete() keep the ABC defaults, so they are counted as the primitive
    # calls they make; the optional capabilities go straight through.

    def watch(self, prefix: str, callback: Callable[[WatchEvent], None]) -> WatchHandle:
        return self.inner.watch(prefix, callback)

    def lock(self, name: str, ttl: float) -> StoreLock:
        return self.inner.lock(name, ttl)

    def close(self) -> None:
        pass


class InstrumentedCache(VolatileCache):
    """Counts cache calls; otherwise the wrapped cache, unchanged."""

    def __init__(self, inner: VolatileCache) -> None:
        self.inner = inner
        self.endpoint = inner.endpoint
        # A wrapped process-local cache must still get the engine's watch feed.
        self.process_local = inner.process_local  # type: ignore[misc]
        self.calls: Counter[str] = Counter()
        #: The last keys written with set/set_many, newest last (for tests that find a key).
        self.written: collections.deque[str] = collections.deque(maxlen=256)
        self._lock = threading.Lock()

    def _count(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        self._count("get_many")
        return self.inner.get_many(keys)

    def get(self, key: str) -> Any:
        self._count("get")
        return self.inner.get(key)

    def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        self._count("set_many")
        self.written.extend(items)
        self.inner.set_many(items, ttl)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._count("set")
        self.written.append(key)
        self.inner.set(key, value, ttl)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        self._count("add")
        return self.inner.add(key, value, ttl)

    def delete_many(self, keys: Iterable[str]) -> None:
        self._count("delete_many")
        self.inner.delete_many(keys)

    def delete(self, key: str) -> None:
        self._count("delete")
        self.inner.delete(key)

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        self._count("incr")
        return self.inner.incr(key, delta, ttl)

    @property
    def epoch(self) -> Any:
        return getattr(self.inner, "epoch", None)

    def gets(self, key: str) -> tuple[Any, Any]:
        self._count("gets")
        return self.inner.gets(key)

    def cas(self, key: str, value: Any, token: Any, ttl: float | None = None) -> bool:
        self._count("cas")
        return self.inner.cas(key, value, token, ttl)

    def clear(self) -> None:
        self.inner.clear()

    def close(self) -> None:
        pass
