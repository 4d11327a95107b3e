"""The poller behind ``SQLiteStore.watch``: one thread per store reading the change log.

Every commit, from any process sharing the file, leaves one row per changed key in the
``changes`` table (written by triggers in the same transaction; see ``sqlite.py``). The poller
reads the rows after its position every ``poll`` seconds and hands each to the watches whose
prefix it falls under, in (revision, key) order, on the poller thread. A watch registered at
revision R sees exactly the changes after R: registration and the poller's read of the log take
the same lock, so no commit can fall between them.

The log is pruned by the writers to the last ``log_keep`` revisions; ``meta.log_floor`` says
up to which revision rows may be gone. A poller whose position is behind the floor (its thread
was stalled, or the process stopped, for more than ``log_keep`` commits) cannot replay the
pruned part. It then delivers, for each watch, in one read snapshot:

* a deletion event for every deletion still in the log under the watch's prefix, and
* an event with the current value for every key under the prefix written since the watch
  started,

ordered by revision, and logs a warning. Every key that now exists and changed is therefore
reported; what cannot be reported is a key that was created and deleted, or deleted, entirely
within the pruned part (there is nothing left to name it by). The warning says so; ``log_keep``
sets how long a stall this takes.

A forked child gets a fresh poller (new locks, new thread) for the watches it inherited,
starting from the parent's position: the parent's thread does not exist in the child, and its
locks may have been held at the moment of the fork.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from dalcore.api import WatchEvent, WatchHandle, first_key_after_prefix
from dalcore.errors import StoreError, StoreUnavailableError

T = TypeVar("T")

_log = logging.getLogger("dalcore.sqlite")

# Rows read per poll: bounds the memory of one poll and how long registration waits for it.
_BATCH = 1000
_MORE, _IDLE, _EXIT = "more", "idle", "exit"

# (revision, key): the last row delivered; key None means the whole revision was.
Position = tuple[int, str | None]


class _Store(Protocol):
    endpoint: str

    def _run(self, work: Callable[[sqlite3.Connection], T], key: str | None = None) -> T: ...

    def _connect(self) -> sqlite3.Connection: ...


def _bound(prefix: str) -> str | None:
    # As in sqlite.py: a bound on a lone surrogate cannot be encoded; U+E000 bounds the same keys.
    bound = first_key_after_prefix(prefix)
    if bound is not None and "\ud800" <= bound[-1] <= "\udfff":
        bound = bound[:-1] + "\ue000"
    return bound


def _range(column: str, prefix: str) -> tuple[str, list[Any]]:
    bound = _bound(prefix)
    if bound is None:
        return f"{column} >= ?", [prefix]
    return f"{column} >= ? AND {column} < ?", [prefix, bound]


def current_revision(conn: sqlite3.Connection) -> int:
    revision: int = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]
    return revision


class _Watch(WatchHandle):
    def __init__(
        self, poller: Poller, prefix: str, callback: Callable[[WatchEvent], None], since: int
    ) -> None:
        self._poller = poller
        self.prefix = prefix
        self.callback = callback
        self.since = since  # changes after this revision are this watch's
        self.active = True
        # Held while the callback runs, so cancel() can wait for a callback in progress.
        # Reentrant: a callback may cancel its own watch.
        self.delivering = threading.RLock()

    def sync(self, timeout: float) -> None:
        self._poller.sync()

    def cancel(self) -> None:
        """Stop the notifications; once this returns, the callback is not called again."""
        self._poller.remove(self)
        with self.delivering:
            self.active = False

    def deliver(self, event: WatchEvent) -> None:
        with self.delivering:
            if not self.active:
                return
            try:
                self.callback(event)
            except Exception:
                # One failing subscriber must not stop the others' events or the thread.
                _log.exception("watch callback for %r failed on %r", self.prefix, event.key)


class Poller:
    """The watches of one store and the thread that feeds them."""

    def __init__(self, store: _Store, interval: float) -> None:
        self._store = store
        self.interval = interval
        self._watches: list[_Watch] = []
        self._position: Position = (0, None)
        self._closed = False
        self._fresh_state()

    def _fresh_state(self) -> None:
        self._lock = threading.Lock()
        # Held for a whole read-and-deliver round, by the thread and by sync() alike, so a
        # round never delivers rows another round is still delivering, nor moves the position
        # back.
        self._round = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # sync(): a connection of its own, as PRAGMA data_version compares calls on one
        # connection; and the version after which the log was last read to its end.
        self._probe: sqlite3.Cursor | None = None
        self._synced: int | None = None

    # -- registration ---------------------------------------------------------------------

    def add(self, prefix: str, callback: Callable[[WatchEvent], None]) -> _Watch:
        with self._lock:
            if self._closed:
                raise StoreUnavailableError(self._store.endpoint, "the store was closed")
            since = self._store._run(current_revision)
            watch = _Watch(self, prefix, callback, since)
            self._watches.append(watch)
            if self._thread is None:
                self._position = (since, None)
                self._start()
        return watch

    def remove(self, watch: _Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    def sync(self) -> None:
        """Deliver, before returning, every change committed before the call.

        ``PRAGMA data_version`` changes when any other connection, in any process, committed
        to the file; it reads the WAL index in shared memory, about 1.5 us. Only when it
        changed is the log read, here, to its end (what the thread would deliver at its next
        poll).
        """
        with self._round:
            if self._closed:
                raise StoreUnavailableError(self._store.endpoint, "the store was closed")
            try:
                probe = self._probe
                if probe is None:
                    probe = self._probe = self._store._connect().cursor()
                probe.execute("PRAGMA data_version")
                version: int = probe.fetchone()[0]
            except sqlite3.Error as exc:
                self._probe = None
                raise StoreUnavailableError(self._store.endpoint, exc) from exc
            if version == self._synced:
                return
            while self._poll_round(self._stop) == _MORE:
                pass
            self._synced = version

    def _start(self) -> None:
        # Daemon: a store nobody closed must not keep the interpreter from exiting.
        self._thread = threading.Thread(
            target=self._loop,
            args=(self._stop,),
            name=f"dalcore-sqlite-watch {self._store.endpoint}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(10.0)  # a callback stuck for longer is left behind (daemon thread)
        with self._round:
            probe, self._probe = self._probe, None
        if probe is not None:
            probe.connection.close()

    def after_fork_in_child(self) -> None:
        """In a forked child (called by the store): new locks and thread, same watches."""
        # The parent's probe connection is dropped unclosed, like the store's pool.
        self._fresh_state()
        for watch in self._watches:
            watch.delivering = threading.RLock()
        if self._watches and not self._closed:
            self._start()

    # -- the thread -----------------------------------------------------------------------

    def _loop(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                state = self._poll_once(stop)
            except StoreError as exc:
                # The file may come back (a lock held too long, a disk hiccup): keep trying,
                # backing off, and say so once rather than every poll.
                failures += 1
                if failures == 1:
                    _log.warning("watching %s: %s; retrying", self._store.endpoint, exc)
                stop.wait(min(1.0, self.interval * 2**failures))
                continue
            if failures:
                _log.warning("watching %s: reading the change log again", self._store.endpoint)
                failures = 0
            if state == _EXIT:
                return
            if state == _IDLE:
                stop.wait(self.interval)

    def _poll_once(self, stop: threading.Event) -> str:
        with self._round:
            return self._poll_round(stop)

    def _poll_round(self, stop: threading.Event) -> str:
        # Caller holds self._round.
        with self._lock:
            if stop.is_set() or not self._watches:
                if self._thread is threading.current_thread():
                    self._thread = None  # the next add() starts a new thread
                return _EXIT
            watches = list(self._watches)
            position = self._position
            deliveries, after, state = self._store._run(lambda conn: _read(conn, position, watches))
        for watch, event in deliveries:
            watch.deliver(event)
        with self._lock:
            self._position = after
        return state


Delivery = list[tuple[_Watch, WatchEvent]]


def _read(
    conn: sqlite3.Connection, position: Position, watches: list[_Watch]
) -> tuple[Delivery, Position, str]:
    """The events after ``position`` for ``watches``, read in one snapshot."""
    conn.execute("BEGIN")  # one snapshot for the floor and the rows
    floor: int = conn.execute("SELECT value FROM meta WHERE name = 'log_floor'").fetchone()[0]
    revision, key = position
    if revision > floor or (revision == floor and key is None):
        rows = conn.execute(
            "SELECT revision, key, value FROM changes WHERE (revision, key) > (?, ?)"
            " ORDER BY revision, key LIMIT ?",
            (revision, key, _BATCH),
        ).fetchall()
        conn.execute("COMMIT")
        deliveries = [
            (watch, WatchEvent(row[1], row[2], row[0]))
            for row in rows
            for watch in watches
            if row[0] > watch.since and row[1].startswith(watch.prefix)
        ]
        if not rows:
            return deliveries, position, _IDLE
        return deliveries, (rows[-1][0], rows[-1][1]), _MORE if len(rows) == _BATCH else _IDLE
    top = current_revision(conn)
    deliveries = []
    for watch in watches:
        # What this poller delivered before its position is not repeated.
        since = max(watch.since, revision)
        deliveries.extend((watch, event) for event in _catch_up(conn, watch, since, floor))
    conn.execute("COMMIT")
    return deliveries, (top, None), _IDLE


def _catch_up(conn: sqlite3.Connection, watch: _Watch, since: int, floor: int) -> list[WatchEvent]:
    where, params = _range("key", watch.prefix)
    if since >= floor:  # this watch started after the pruned part: the log is whole
        rows = conn.execute(
            f"SELECT revision, key, value FROM changes WHERE revision > ? AND {where}"
            " ORDER BY revision, key",
            [since, *params],
        ).fetchall()
        return [WatchEvent(row[1], row[2], row[0]) for row in rows]
    deleted = conn.execute(
        f"SELECT revision, key FROM changes WHERE value IS NULL AND {where}", params
    ).fetchall()
    present = conn.execute(
        f"SELECT revision, key, value FROM kv WHERE revision > ? AND {where}",
        [since, *params],
    ).fetchall()
    events = [WatchEvent(row[1], None, row[0]) for row in deleted]
    events.extend(WatchEvent(row[1], row[2], row[0]) for row in present)
    events.sort(key=lambda event: (event.revision, event.key))
    _log.warning(
        "watch on %r fell more than the change log's length behind (log kept from revision %d):"
        " delivered %d events for the keys changed since revision %d instead; keys deleted"
        " before revision %d cannot be reported (raise log_keep for longer stalls)",
        watch.prefix,
        floor + 1,
        len(events),
        since,
        floor + 1,
    )
    return events
