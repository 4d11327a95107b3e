"""The store's watch: one thread per store reading the change stream every commit appends to.

The stream is written in the same Lua call as the commit, so every change is in it, in commit
order, and a reader that reconnects goes on from the last entry it read: nothing is skipped or
seen twice. (Keyspace notifications would be neither: they are fire-and-forget pub/sub, lost
while a subscriber reconnects, and they carry no revision.) The stream is trimmed to about
``log_keep`` entries; a reader that falls further behind is told by XINFO's
``max-deleted-entry-id`` and then reports the current value of every key under its prefix
changed since its last event, with a warning (deletions within the gap cannot be reported).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from dalcore.api import WatchEvent, WatchHandle
from dalcore.errors import StoreUnavailableError
from dalcore_redis._config import RedisConfig

log = logging.getLogger("dalcore.redis")

_BATCH = 1000
StreamId = tuple[int, int]


def _id(raw: bytes | str) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class _Watch(WatchHandle):
    def __init__(
        self, reader: ChangeReader, prefix: str, callback: Callable[[WatchEvent], None]
    ) -> None:
        self.reader = reader
        self.prefix = prefix
        self.callback = callback
        self.since: StreamId = (0, 0)  # entries after this one are this watch's
        self.revision = 0  # the revision of the last event delivered
        self.active = True
        self.delivering = threading.RLock()  # held while the callback runs

    def deliver(self, event: WatchEvent) -> None:
        with self.delivering:
            if not self.active:
                return
            try:
                self.callback(event)
            except Exception:
                log.exception("watch callback for %r failed on %r", self.prefix, event.key)
            self.revision = max(self.revision, event.revision)

    def sync(self, timeout: float) -> None:
        self.reader.sync(timeout)

    def cancel(self) -> None:
        self.reader.remove(self)
        with self.delivering:
            self.active = False


class ChangeReader:
    """Reads ``stream`` from its own connection and hands each change to the matching watches."""

    def __init__(self, config: RedisConfig, stream: bytes, endpoint: str) -> None:
        self._config = config
        self._stream = stream
        self._endpoint = endpoint
        self._prefix = config.prefix.encode()
        # Blocking reads need a socket timeout longer than the block.
        self._client = config.client(socket_timeout=config.timeout + 2.0)
        self._watches: list[_Watch] = []
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._position: StreamId = (0, 0)
        self._started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"dalcore-redis-watch {endpoint}", daemon=True
        )

    def _last_id(self, client: Any) -> StreamId:
        newest = client.xrevrange(self._stream, count=1)
        return _id(newest[0][0]) if newest else (0, 0)

    def add(self, prefix: str, callback: Callable[[WatchEvent], None]) -> _Watch:
        watch = _Watch(self, prefix, callback)
        try:
            last = self._last_id(self._client)
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(self._endpoint, exc) from exc
        with self._lock:
            watch.since = last
            self._watches.append(watch)
            if not self._started:
                self._position = last
                self._started = True
                self._thread.start()
        return watch

    def remove(self, watch: _Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    def sync(self, timeout: float) -> None:
        """Return once every entry in the stream when called has been delivered."""
        try:
            wanted = self._last_id(self._client)
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(self._endpoint, exc) from exc
        with self._progress:
            if not self._progress.wait_for(lambda: self._position >= wanted, timeout):
                raise StoreUnavailableError(
                    self._endpoint, f"the watch did not reach the stream's end within {timeout:g}s"
                )

    def close(self) -> None:
        self._stop.set()
        if self._started and self._thread is not threading.current_thread():
            self._thread.join(self._config.timeout + 5.0)
        self._client.close()

    # -- the thread -----------------------------------------------------------------------

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._read_once()
                if failures:
                    log.warning("watching %s: reading the change stream again", self._endpoint)
                failures = 0
            except redis.exceptions.RedisError as exc:
                failures += 1
                if failures == 1:
                    log.warning("watching %s: %s; retrying", self._endpoint, exc)
                self._stop.wait(min(1.0, 0.05 * 2**failures))

    def _read_once(self) -> None:
        position = self._position
        start = f"{position[0]}-{position[1]}"
        replies = self._client.xread({self._stream: start}, count=_BATCH, block=1000)
        entries: list[Any] = replies[0][1] if replies else []
        if len(entries) == _BATCH or (entries and position == (0, 0)):
            self._check_gap(position)
        with self._lock:
            watches = list(self._watches)
        for raw_id, fields in entries:
            entry_id = _id(raw_id)
            key = fields[b"k"].decode()
            event = WatchEvent(key, fields.get(b"v"), int(fields[b"r"]))
            for watch in watches:
                if entry_id > watch.since and key.startswith(watch.prefix):
                    watch.deliver(event)
            with self._progress:
                self._position = entry_id
                self._progress.notify_all()

    def _check_gap(self, position: StreamId) -> None:
        info = self._client.xinfo_stream(self._stream)
        deleted = info.get("max-deleted-entry-id") or info.get(b"max-deleted-entry-id")
        if deleted is None or _id(deleted) <= position:
            return
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            events = self._current_since(watch.prefix, watch.revision)
            log.warning(
                "watch on %r fell behind the change stream (trimmed to log_keep=%d entries):"
                " delivered %d events for the keys changed since revision %d instead; keys"
                " deleted meanwhile cannot be reported",
                watch.prefix,
                self._config.log_keep,
                len(events),
                watch.revision,
            )
            for event in events:
                watch.deliver(event)
        newest = self._last_id(self._client)
        with self._progress:
            self._position = max(self._position, newest)
            self._progress.notify_all()

    def _current_since(self, prefix: str, revision: int) -> list[WatchEvent]:
        low = b"[" + prefix.encode()
        events: list[WatchEvent] = []
        while True:
            keys = self._client.zrangebylex(self._prefix + b"keys", low, b"+", 0, _BATCH)
            keys = [k for k in keys if k.decode().startswith(prefix)]
            if not keys:
                return sorted(events, key=lambda event: event.revision)
            raws = self._client.mget([self._prefix + b"v:" + k for k in keys])
            for key, raw in zip(keys, raws, strict=True):
                if raw is not None and int(raw[:16], 16) > revision:
                    events.append(WatchEvent(key.decode(), raw[16:], int(raw[:16], 16)))
            low = b"(" + keys[-1]
