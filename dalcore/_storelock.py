"""A persistent mutex built from a store's own guarded transactions.

Any store with atomic ``commit`` can hold a lock as one key whose value names the holder and an
expiry time. The holder renews the expiry from a daemon thread; when the holder's process dies the
renewals stop and the lock is free again at most ``ttl`` seconds later. Stores with native
leases (etcd) implement :class:`~dalcore.api.StoreLock` themselves instead.

Expiry is wall-clock time, so every process sharing the store must have roughly the same clock;
for the stores that use this (memory, SQLite) they share one machine.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import orjson

from dalcore.api import Absent, Delete, PersistentStore, Put, RevisionIs, StoreLock, ValueIs
from dalcore.errors import AssertionFailedError, CorruptDataError, DalcoreError


class KeyLock(StoreLock):
    """A TTL lock held as the key ``name`` of ``store``."""

    def __init__(self, store: PersistentStore, name: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"lock {name!r}: ttl must be positive, got {ttl!r}")
        self.store = store
        self.name = name
        self.ttl = ttl
        self._owner = uuid.uuid4().hex
        self._held: bytes | None = None  # the value we last wrote, while we hold the lock
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def _value(self) -> bytes:
        return orjson.dumps({"owner": self._owner, "expires": time.time() + self.ttl})

    def _try(self) -> bool:
        value = self._value()
        try:
            self.store.commit([Put(self.name, value)], [Absent(self.name)])
        except AssertionFailedError:
            pass
        else:
            self._held = value
            return True
        # Held by someone: take it over only if that holder stopped renewing.
        entry = self.store.get_many([self.name])[0]
        if entry is None:
            return False  # released meanwhile: the caller's next attempt will take it
        try:
            expires = float(orjson.loads(entry.value)["expires"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError(self.name, f"unreadable lock record: {exc}") from None
        if expires > time.time():
            return False
        try:
            self.store.commit([Put(self.name, value)], [RevisionIs(self.name, entry.revision)])
        except AssertionFailedError:
            return False
        self._held = value
        return True

    def acquire(self, timeout: float | None = None) -> bool:
        if self._held is not None:
            raise DalcoreError(f"lock {self.name!r} is already held by this object")
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while not self._try():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            wait = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(wait)
            pause = min(pause * 2, 0.1)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name=f"lock:{self.name}", daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._guard:
                current = self._held
                if current is None:
                    return
                fresh = self._value()
                try:
                    self.store.commit([Put(self.name, fresh)], [ValueIs(self.name, current)])
                except AssertionFailedError:
                    self._held = None  # expired and taken over: we no longer hold it
                    return
                except DalcoreError:
                    continue  # store briefly unreachable: try again next period
                self._held = fresh

    def release(self) -> None:
        self._stop.set()
        with self._guard:
            current, self._held = self._held, None
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        if current is None:
            return
        # If it expired and another holder took it, there is nothing of ours to remove.
        with contextlib.suppress(AssertionFailedError):
            self.store.commit([Delete(self.name)], [ValueIs(self.name, current)])
