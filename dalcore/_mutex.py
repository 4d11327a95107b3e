"""A mutex on the volatile cache: ``add`` of a key is atomic across every client of the cache."""

from __future__ import annotations

import time
import uuid

from dalcore.api import NO_VALUE, VolatileCache
from dalcore.errors import LockTimeoutError


class VolatileMutex:
    """Held while the key ``name`` holds this mutex's token; expires after ``ttl`` seconds.

    The TTL is what frees a lock whose holder died, so it must exceed the longest time the lock
    is legitimately held. Usable as a context manager (waiting at most ``wait`` seconds).
    """

    def __init__(self, cache: VolatileCache, name: str, ttl: float = 30.0, wait: float = 30.0):
        self.cache = cache
        self.name = name
        self.key = f"mutex:{name}"
        self.ttl = ttl
        self.wait = wait
        self._token: str | None = None

    @property
    def held(self) -> bool:
        return self._token is not None

    def try_acquire(self) -> bool:
        token = uuid.uuid4().hex
        if self.cache.add(self.key, token, self.ttl):
            self._token = token
            return True
        return False

    def holder_present(self) -> bool:
        """True when the key is really there: ``add`` failing without it means a broken cache."""
        return self.cache.get(self.key) is not NO_VALUE

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait at most ``timeout`` seconds (default: ``wait``); True when now held.

        Acquiring a mutex this object already holds returns True at once (as the original
        DAL's); one ``release`` frees it."""
        if self._token is not None and self.cache.get(self.key) == self._token:
            return True
        deadline = time.monotonic() + (self.wait if timeout is None else timeout)
        pause = 0.001
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.05)
        _barrier()
        return True

    def release(self) -> None:
        # get-then-delete is not atomic: if our TTL ran out and another process took the lock in
        # between, we would remove theirs. The TTL is sized to make that a holder bug, not a race.
        token, self._token = self._token, None
        if token is not None and self.cache.get(self.key) == token:
            self.cache.delete(self.key)

    def __enter__(self) -> VolatileMutex:
        if not self.acquire():
            raise LockTimeoutError(self.name, self.wait)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class PersistentMutex:
    """A mutex held in the persistent store: survives cache loss, freed when the holder dies.

    Backed by the store's ``lock`` capability (etcd leases; a renewed TTL record on SQLite and
    memory), so its ``ttl`` bounds how long a dead holder blocks others, not how long a live
    one may hold it.
    """

    def __init__(self, name: str, ttl: float = 30.0, wait: float = 30.0) -> None:
        from dalcore._layout import internal_prefix
        from dalcore._runtime import runtime

        rt = runtime()
        self.name = name
        self.wait = wait
        self._lock = rt.store.lock(internal_prefix(rt, ".locks") + name, ttl)

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait at most ``timeout`` seconds (default: ``wait``); True when now held."""
        if not self._lock.acquire(self.wait if timeout is None else timeout):
            return False
        _barrier()
        return True

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> PersistentMutex:
        if not self.acquire():
            raise LockTimeoutError(self.name, self.wait)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _barrier() -> None:
    """Make every commit that finished before the mutex was acquired visible to this process's
    loads (a per-process cache may not have heard of it yet), so a read-modify-write under the
    mutex starts from the latest version."""
    from dalcore._runtime import runtime

    sync = runtime().sync
    if sync is not None:
        sync()
