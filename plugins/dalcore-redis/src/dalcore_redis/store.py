"""``redis://``: dalcore's persistent store on one Redis server.

Guarded commits run as one Lua script (see :mod:`dalcore_redis._scripts`), so checks and writes
are atomic on the server: one round trip per commit. WATCH/MULTI would need a round trip per
checked key plus a retry loop under contention, and measured slower (docs/redis.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from dalcore.api import (
    Absent,
    AssertionFailedError,
    Check,
    Delete,
    Entry,
    Exists,
    KeyNotFoundError,
    Operation,
    PersistentStore,
    Put,
    RevisionIs,
    StoreLock,
    ValueIs,
    WatchEvent,
    WatchHandle,
)
from dalcore.errors import CorruptDataError, StoreUnavailableError
from dalcore_redis import _scripts
from dalcore_redis._config import RedisConfig
from dalcore_redis._lock import RedisLock
from dalcore_redis._watch import ChangeReader

T = TypeVar("T")

_CHECK_KINDS = {Absent: b"A", Exists: b"E", ValueIs: b"V", RevisionIs: b"R"}


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string above every one starting with ``prefix`` (UTF-8 has no 0xFF)."""
    return prefix[:-1] + bytes((prefix[-1] + 1,)) if prefix else None


class RedisStore(PersistentStore):
    """A :class:`~dalcore.api.PersistentStore` on Redis, with watch (a stream) and locks."""

    capabilities = frozenset({"watch", "lock"})

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.endpoint = config.shown
        self._p = config.prefix.encode()
        self._client = config.client()
        self._commit = self._client.register_script(_scripts.COMMIT)
        self._reader: ChangeReader | None = None
        self._reader_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(self.endpoint, exc) from exc

    def _v(self, key: str) -> bytes:
        return self._p + b"v:" + key.encode()

    def _entry(self, key: str, raw: bytes) -> Entry:
        try:
            return Entry(key, raw[16:], int(raw[:16], 16))
        except ValueError:
            raise CorruptDataError(key, "not a dalcore Redis value (no revision)") from None

    # -- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> Entry:
        found = self.get_many([key])[0]
        if found is None:
            raise KeyNotFoundError(key)
        return found

    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        if not keys:
            return []
        with self._errors():
            if len(keys) == 1:  # GET: measurably cheaper than an MGET of one key
                raws = [self._client.get(self._v(keys[0]))]
            else:
                raws = self._client.mget([self._v(key) for key in keys])
        return [
            None if raw is None else self._entry(key, raw)
            for key, raw in zip(keys, raws, strict=True)
        ]

    def scan_page(
        self, prefix: str, start_after: str | None, limit: int, keys_only: bool = False
    ) -> list[Entry]:
        if limit <= 0:
            return []
        low_key = prefix.encode()
        low = b"[" + low_key
        if start_after is not None and start_after >= prefix:
            low = b"(" + start_after.encode()
        end = _prefix_end(low_key)
        high = b"+" if end is None else b"(" + end
        with self._errors():
            members = self._client.zrangebylex(self._p + b"keys", low, high, 0, limit)
            keys = [member.decode() for member in members]
            if not keys:
                return []
            if keys_only:
                # Only the revision (the first 16 bytes of each value), in one round trip.
                with self._client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.getrange(self._v(key), 0, 15)
                    stamps = pipe.execute()
                pairs = zip(keys, stamps, strict=True)
                return [self._entry(key, stamp) for key, stamp in pairs if stamp]
            raws = self._client.mget([self._v(key) for key in keys])
        # A key deleted between the two reads is simply not listed.
        return [
            self._entry(key, raw) for key, raw in zip(keys, raws, strict=True) if raw is not None
        ]

    # -- writes -------------------------------------------------------------------------------

    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        args: list[Any] = [self._p, self.config.log_keep, len(checks)]
        for check in checks:
            if isinstance(check, ValueIs):
                arg: bytes = bytes(check.value)
            elif isinstance(check, RevisionIs):
                arg = b"%016x" % check.revision
            else:
                arg = b""
            args += [_CHECK_KINDS[type(check)], check.key.encode(), arg]
        args.append(len(operations))
        for op in operations:
            if isinstance(op, Put):
                args += [b"P", op.key.encode(), bytes(op.value)]
            elif isinstance(op, Delete):
                args += [b"D", op.key.encode(), b""]
            else:
                raise TypeError(f"not an operation: {op!r}")
        with self._errors():
            ok, result = self._commit(args=args)
        if not ok:
            raise AssertionFailedError([checks[index - 1] for index in result])
        return int(result)

    # -- capabilities -------------------------------------------------------------------------

    def watch(self, prefix: str, callback: Callable[[WatchEvent], None]) -> WatchHandle:
        with self._reader_lock:
            if self._reader is None:
                self._reader = ChangeReader(self.config, self._p + b"log", self.endpoint)
            reader = self._reader
        return reader.add(prefix, callback)

    def lock(self, name: str, ttl: float) -> StoreLock:
        return RedisLock(self._client, self._p + b"lock:" + name.encode(), name, ttl, self.endpoint)

    def close(self) -> None:
        with self._reader_lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        self._client.close()
