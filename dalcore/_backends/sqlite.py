"""``sqlite://``: a persistent store in one SQLite file, shared by threads and processes.

URL: ``sqlite:///abs/path.db``, ``sqlite://rel/path.db`` or ``sqlite:rel.db``, with optional
``?timeout=<seconds>`` (how long a writer waits for another one, default 30) and
``?synchronous=full|normal``.

Durability: the file runs in WAL mode (readers never block the writer, and the reverse) with
``synchronous=FULL`` by default, so a commit that returned survives a power cut, not only a crash
of the process. The store is dalcore's source of truth and a commit is one fsync of the WAL;
``synchronous=normal`` trades the last commits before a power cut for speed (the file stays
consistent either way).

Revisions come from one counter row bumped inside each write transaction, so they increase
across every process sharing the file. Writes run in ``BEGIN IMMEDIATE`` transactions: the write
lock is taken before the checks are read, so no other writer can slip in between check and write.

Connections are pooled and each is used by one thread at a time: sqlite3 connections must not be
shared concurrently, and a pool (unlike one connection per thread) does not leak a connection for
every short-lived thread.

Watching (``watch`` capability): triggers on the data table record every change in a ``changes``
table inside the writing transaction, so every process sharing the file sees every commit; one
poller thread per store instance reads it (``?poll=<seconds>``, default 0.05) and
``?log_keep=<revisions>`` (default 10000) bounds the log. See ``_sqlite_watch.py``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any, TypeVar
from urllib.parse import quote

from dalcore._backends._sqlite_watch import Poller
from dalcore._storelock import KeyLock
from dalcore.api import (
    AssertionFailedError,
    BackendURL,
    Check,
    CorruptDataError,
    Entry,
    KeyNotFoundError,
    Operation,
    PersistentStore,
    Put,
    StoreLock,
    StoreUnavailableError,
    WatchEvent,
    WatchHandle,
    check_holds,
    first_key_after_prefix,
)
from dalcore.errors import InvalidURLError, StoreError
from dalcore.hookspecs import Provided, hookimpl

T = TypeVar("T")

SCHEMA_VERSION = 2  # 2: the change log read by watch(); version 1 files are upgraded in place
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kv (
        key TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL,
        revision INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL)
        WITHOUT ROWID""",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0)",
    # The change log: one row per key and revision, holding the key's value after that commit
    # (NULL: deleted). Keyed by revision first, so new rows append to the end of the B-tree, a
    # poll is a range read from the last position and pruning cuts from the front.
    """CREATE TABLE IF NOT EXISTS changes (
        revision INTEGER NOT NULL,
        key TEXT NOT NULL,
        value BLOB,
        PRIMARY KEY (revision, key)
    ) WITHOUT ROWID""",
    # Triggers rather than inserts in commit(): they see exactly the rows a statement changed
    # (a Delete of an absent key logs nothing) and cover delete_prefix too. INSERT OR REPLACE
    # into kv fires only the insert trigger (recursive_triggers is off), and a key touched twice
    # in one commit keeps one row: its state after the commit.
    """CREATE TRIGGER IF NOT EXISTS kv_logs_puts AFTER INSERT ON kv BEGIN
        INSERT OR REPLACE INTO changes (revision, key, value)
        VALUES (NEW.revision, NEW.key, NEW.value);
    END""",
    # Writers bump the counter row before they delete, so it holds this commit's revision.
    """CREATE TRIGGER IF NOT EXISTS kv_logs_deletes AFTER DELETE ON kv BEGIN
        INSERT OR REPLACE INTO changes (revision, key, value)
        VALUES ((SELECT value FROM meta WHERE name = 'revision'), OLD.key, NULL);
    END""",
    # Every revision up to log_floor may be missing from the log (pruned, or from before the
    # log existed when a version 1 file is upgraded); a watcher behind it has a gap.
    """INSERT OR IGNORE INTO meta (name, value)
        SELECT 'log_floor', value FROM meta WHERE name = 'revision'""",
)

# SQLite before 3.32 allows at most 999 bound variables per statement.
_CHUNK = 900
_MAX_IDLE = 16

_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    return None if code is None else int(code) & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    if code is not None:
        return code in _BUSY_CODES
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    if code is not None:
        return code in _CORRUPT_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _upper_bound(prefix: str) -> str | None:
    # first_key_after_prefix can land on a lone surrogate (after U+D7FF), which cannot be encoded
    # as UTF-8 for SQLite; no stored key contains one, so U+E000 bounds the same set of keys.
    bound = first_key_after_prefix(prefix)
    if bound is not None and "\ud800" <= bound[-1] <= "\udfff":
        bound = bound[:-1] + "\ue000"
    return bound


def _path_of(url: BackendURL) -> str:
    location = url.location
    if not location:
        raise InvalidURLError(str(url), "no file name (sqlite:///abs/path.db or sqlite:rel.db)")
    if location.strip(":") == "memory" or location.startswith("file:"):
        raise InvalidURLError(str(url), "only plain file paths are supported; use memory://")
    return os.path.abspath(location)


class SQLiteStore(PersistentStore):
    """Keys in one ``WITHOUT ROWID`` table, so a prefix scan walks the primary key in order."""

    capabilities = frozenset({"lock", "watch"})

    def __init__(
        self,
        path: str,
        timeout: float = 30.0,
        synchronous: str = "full",
        poll: float = 0.05,
        log_keep: int = 10_000,
    ) -> None:
        if synchronous.lower() not in ("full", "normal"):
            raise InvalidURLError(path, f"synchronous={synchronous!r}: expected full or normal")
        if not poll > 0:
            raise InvalidURLError(path, f"poll={poll!r}: expected a positive number of seconds")
        if log_keep < 1:
            raise InvalidURLError(path, f"log_keep={log_keep!r}: expected at least 1 revision")
        self.path = path
        self.endpoint = "sqlite://" + quote(path)  # a URL that opens this same file
        self.timeout = timeout
        self._synchronous = synchronous.upper()
        self._log_keep = log_keep
        # Pruning every commit would add a delete to each; every few revisions amortises it
        # while keeping the log within about 1.125 x log_keep revisions.
        self._prune_every = max(1, min(256, log_keep // 8))
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._run(self._create_schema)
        self._poller = Poller(self, poll)
        _STORES.add(self)

    # -- connections ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # pooled: one thread at a time, not always the same
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise StoreUnavailableError(self.endpoint, exc) from exc
        try:
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            # Must be set per connection; journal_mode is stored in the file but cheap to repeat.
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc, None) from exc
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreUnavailableError(self.endpoint, f"cannot use WAL mode (got {mode!r})")
        return conn

    def _after_fork_in_child(self) -> None:
        # A forked child must not touch its parent's connections (SQLite forbids it); they are
        # dropped without closing, as closing could disturb the parent's file locks. The
        # parent's poller thread does not exist here: the child runs its own for the watches
        # it inherited, so its copy of a process-local cache stays correct too.
        self._pool, self._pool_lock, self._pid = [], threading.Lock(), os.getpid()
        self._poller.after_fork_in_child()

    def _checkout(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked without the fork hook (os.fork is always hooked)
            self._pool, self._pool_lock, self._pid = [], threading.Lock(), os.getpid()
        with self._pool_lock:
            if self._closed:
                raise StoreUnavailableError(self.endpoint, "the store was closed")
            if self._pool:
                return self._pool.pop()
        return self._connect()

    def _checkin(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                conn.close()
                return
        with self._pool_lock:
            if not self._closed and len(self._pool) < _MAX_IDLE:
                self._pool.append(conn)
                return
        conn.close()

    def _run(self, work: Callable[[sqlite3.Connection], T], key: str | None = None) -> T:
        """Run ``work`` on a pooled connection, retrying while the file is busy."""
        started = time.monotonic()
        pause = 0.001
        while True:
            conn = self._checkout()
            try:
                return work(conn)
            except sqlite3.Error as exc:
                # SQLite's busy handler already waits out ordinary lock contention, so a busy
                # error after the timeout is final. Some busy errors skip the handler (a WAL
                # being recovered, a read snapshot gone stale): those are retried here.
                if not _is_busy(exc) or time.monotonic() - started >= self.timeout:
                    raise self._error(exc, key) from exc
            finally:
                self._checkin(conn)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _error(self, exc: sqlite3.Error, key: str | None) -> StoreError:
        if _is_corrupt(exc):
            return CorruptDataError(key or self.path, f"SQLite file {self.path} is damaged: {exc}")
        return StoreUnavailableError(self.endpoint, exc)

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, 1, SCHEMA_VERSION):
            raise StoreUnavailableError(
                self.endpoint, f"schema version {version} is not {SCHEMA_VERSION}: newer dalcore?"
            )
        if version != SCHEMA_VERSION:
            # New file or version 1 (no change log): every statement is idempotent, and the
            # write lock keeps two processes from upgrading at once.
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")

    def diagnose(self) -> dict[str, Any]:
        def work(conn: sqlite3.Connection) -> tuple[str, int]:
            # Both read without an "=": nothing is changed.
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            level = conn.execute("PRAGMA synchronous").fetchone()[0]
            return str(mode), int(level)

        mode, level = self._run(work)
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return {
            "server_version": f"SQLite {sqlite3.sqlite_version}",
            "journal_mode": mode.upper(),
            "synchronous": names.get(level, str(level)),
        }

    def close(self) -> None:
        self._poller.close()  # before the pool: the poller reads through it
        _STORES.discard(self)
        with self._pool_lock:
            self._closed = True
            idle, self._pool = self._pool, []
        for conn in idle:
            conn.close()

    def watch(self, prefix: str, callback: Callable[[WatchEvent], None]) -> WatchHandle:
        """Call ``callback`` on this store's poller thread for every commit under ``prefix``.

        Changes from every process sharing the file arrive, this one's included, in revision
        order, one event per key and commit (the key's state after it), within about ``poll``
        seconds. A watcher that falls more than ``log_keep`` revisions behind gets, instead of
        the pruned part, one event for every key under its prefix changed since it started.
        """
        return self._poller.add(prefix, callback)

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> Entry:
        def work(conn: sqlite3.Connection) -> tuple[bytes, int] | None:
            row: tuple[bytes, int] | None = conn.execute(
                "SELECT value, revision FROM kv WHERE key = ?", (key,)
            ).fetchone()
            return row

        row = self._run(work, key)
        if row is None:
            raise KeyNotFoundError(key)
        return Entry(key, row[0], row[1])

    def exists(self, key: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone() is not None

        return self._run(work, key)

    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        if not keys:
            return []
        unique = list(dict.fromkeys(keys))

        def work(conn: sqlite3.Connection) -> dict[str, Entry]:
            found: dict[str, Entry] = {}
            several = len(unique) > _CHUNK
            if several:
                conn.execute("BEGIN")  # one snapshot across the chunks
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT key, value, revision FROM kv WHERE key IN ({marks})", chunk
                ):
                    found[row[0]] = Entry._make(row)
            if several:
                conn.execute("COMMIT")
            return found

        found = self._run(work, unique[0] if len(unique) == 1 else None)
        return [found.get(key) for key in keys]

    def scan_page(
        self, prefix: str, start_after: str | None, limit: int, keys_only: bool = False
    ) -> list[Entry]:
        columns = "key, revision" if keys_only else "key, value, revision"
        if start_after is not None and start_after >= prefix:
            where, params = "key > ?", [start_after]
        else:
            where, params = "key >= ?", [prefix]
        bound = _upper_bound(prefix)
        if bound is not None:
            where += " AND key < ?"
            params.append(bound)
        sql = f"SELECT {columns} FROM kv WHERE {where} ORDER BY key LIMIT ?"
        params.append(limit)  # type: ignore[arg-type]

        def work(conn: sqlite3.Connection) -> list[Any]:
            rows: list[Any] = conn.execute(sql, params).fetchall()
            return rows

        rows = self._run(work)
        if keys_only:
            return [Entry(row[0], b"", row[1]) for row in rows]
        return list(map(Entry._make, rows))

    # -- writes --------------------------------------------------------------------------

    def _next_revision(self, conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
        revision: int = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]
        if revision % self._prune_every == 0 and revision > self._log_keep:
            horizon = revision - self._log_keep
            conn.execute("DELETE FROM changes WHERE revision <= ?", (horizon,))
            conn.execute(
                "UPDATE meta SET value = max(value, ?) WHERE name = 'log_floor'", (horizon,)
            )
        return revision

    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            if checks:
                failed = _failed_checks(conn, checks)
                if failed:
                    raise AssertionFailedError(failed)  # _checkin rolls back
            revision = self._next_revision(conn)
            # Runs of the same kind go in one executemany; order between runs is kept, so a key
            # put then deleted ends deleted.
            for kind, run in groupby(operations, type):
                if kind is Put:
                    conn.executemany(
                        "INSERT OR REPLACE INTO kv (key, value, revision) VALUES (?, ?, ?)",
                        [(op.key, op.value, revision) for op in run if isinstance(op, Put)],
                    )
                else:
                    conn.executemany("DELETE FROM kv WHERE key = ?", [(op.key,) for op in run])
            conn.execute("COMMIT")
            return revision

        only = operations[0].key if len(operations) == 1 else None
        return self._run(work, only)

    def delete_prefix(self, prefix: str) -> int:
        bound = _upper_bound(prefix)

        def work(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            self._next_revision(conn)  # first: the delete trigger logs under this revision
            if bound is None:
                removed = conn.execute("DELETE FROM kv WHERE key >= ?", (prefix,)).rowcount
            else:
                removed = conn.execute(
                    "DELETE FROM kv WHERE key >= ? AND key < ?", (prefix, bound)
                ).rowcount
            # Nothing removed: roll back (in _checkin) so that no revision is spent.
            if removed:
                conn.execute("COMMIT")
            return int(removed)

        return self._run(work)

    def lock(self, name: str, ttl: float) -> StoreLock:
        return KeyLock(self, name, ttl)


# Every open store, so that one fork handler renews them all in the child before any other
# code of the child runs.
_STORES: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()


def _renew_in_child() -> None:
    for store in list(_STORES):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_in_child)


def _failed_checks(conn: sqlite3.Connection, checks: Sequence[Check]) -> list[Check]:
    wanted = list(dict.fromkeys(check.key for check in checks))
    stored: dict[str, tuple[bytes, int]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for key, value, revision in conn.execute(
            f"SELECT key, value, revision FROM kv WHERE key IN ({marks})", chunk
        ):
            stored[key] = (value, revision)
    return [check for check in checks if not check_holds(check, stored.get(check.key))]


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [Provided("persistent", "sqlite", "one SQLite file (WAL), shared by local processes")]


@hookimpl
def dalcore_persistent_store(url: BackendURL) -> PersistentStore | None:
    if url.scheme != "sqlite":
        return None
    synchronous = url.param("synchronous", "full") or "full"
    return SQLiteStore(
        _path_of(url),
        url.float_param("timeout", 30.0),
        synchronous,
        poll=url.float_param("poll", 0.05),
        log_keep=url.int_param("log_keep", 10_000),
    )
