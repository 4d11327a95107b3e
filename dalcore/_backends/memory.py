"""``memory://``: a persistent store kept in this process, for tests and demos.

A commit touches only the keys it names: the original DAL's test store copied the whole database
per transaction, which made saves quadratic in store size. Keys live in a sorted list (O(log n)
insert) so prefix scans are a bisect plus a slice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from sortedcontainers import SortedList

from dalcore._storelock import KeyLock
from dalcore.api import (
    AssertionFailedError,
    BackendURL,
    Check,
    Delete,
    Entry,
    KeyNotFoundError,
    Operation,
    PersistentStore,
    Put,
    StoreLock,
    WatchEvent,
    WatchHandle,
    check_holds,
    first_key_after_prefix,
)
from dalcore.hookspecs import Provided, hookimpl


class _Watch(WatchHandle):
    # Events are delivered by commit() itself, before it returns.
    synchronous = True

    def __init__(self, store: MemoryStore, prefix: str, callback: Callable[[WatchEvent], None]):
        self.store, self.prefix, self.callback = store, prefix, callback

    def sync(self, timeout: float) -> None:
        pass

    def cancel(self) -> None:
        with self.store._lock:
            if self in self.store._watches:
                self.store._watches.remove(self)


class MemoryStore(PersistentStore):
    """Everything in a dict; gone when the process ends."""

    capabilities = frozenset({"watch", "lock"})

    def __init__(self, endpoint: str = "memory://") -> None:
        self.endpoint = endpoint
        self._data: dict[str, tuple[bytes, int]] = {}
        self._keys: SortedList = SortedList()
        self._revision = 0
        self._lock = threading.Lock()
        self._watches: list[_Watch] = []

    def get(self, key: str) -> Entry:
        item = self._data.get(key)
        if item is None:
            raise KeyNotFoundError(key)
        return Entry(key, item[0], item[1])

    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        data = self._data
        result: list[Entry | None] = []
        for key in keys:
            item = data.get(key)
            result.append(None if item is None else Entry(key, item[0], item[1]))
        return result

    def scan_page(
        self, prefix: str, start_after: str | None, limit: int, keys_only: bool = False
    ) -> list[Entry]:
        with self._lock:
            keys = self._keys
            if start_after is None or start_after < prefix:
                start = keys.bisect_left(prefix)
            else:
                start = keys.bisect_right(start_after)
            page: list[Entry] = []
            data = self._data
            # One slice of the sorted list, not one positional lookup per key.
            for key in keys.islice(start, start + limit):
                if not key.startswith(prefix):
                    break
                value, revision = data[key]
                page.append(Entry(key, b"" if keys_only else value, revision))
            return page

    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        with self._lock:
            failed = [check for check in checks if not self._holds(check)]
            if failed:
                raise AssertionFailedError(failed)
            self._revision += 1
            revision = self._revision
            events: list[WatchEvent] = []
            for op in operations:
                if isinstance(op, Put):
                    if op.key not in self._data:
                        self._keys.add(op.key)
                    self._data[op.key] = (bytes(op.value), revision)
                    events.append(WatchEvent(op.key, op.value, revision))
                elif self._data.pop(op.key, None) is not None:
                    self._keys.remove(op.key)
                    events.append(WatchEvent(op.key, None, revision))
            watches = list(self._watches)
        for watch in watches:
            for event in events:
                if event.key.startswith(watch.prefix):
                    watch.callback(event)
        return revision

    def _holds(self, check: Check) -> bool:
        return check_holds(check, self._data.get(check.key))

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            bound = first_key_after_prefix(prefix)
            doomed = list(self._keys.irange(prefix, bound, inclusive=(True, False)))
        if not doomed:
            return 0
        # One commit, so the removal is atomic and watchers see it like any other.
        self.commit([Delete(key) for key in doomed])
        return len(doomed)

    def exists(self, key: str) -> bool:
        return key in self._data

    def watch(self, prefix: str, callback: Callable[[WatchEvent], None]) -> WatchHandle:
        handle = _Watch(self, prefix, callback)
        with self._lock:
            self._watches.append(handle)
        return handle

    def lock(self, name: str, ttl: float) -> StoreLock:
        return KeyLock(self, name, ttl)


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [Provided("persistent", "memory", "in-process store, lost at exit (tests, demos)")]


@hookimpl
def dalcore_persistent_store(url: BackendURL) -> PersistentStore | None:
    if url.scheme != "memory":
        return None
    return MemoryStore(str(url))
