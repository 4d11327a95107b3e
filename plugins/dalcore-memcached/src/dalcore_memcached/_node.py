"""One memcached server: its connection pool, its health, and what it missed while away.

A server that fails (refused, reset, timed out, or a reply that makes no sense) is marked down.
While down, its keys are misses and writes to them are dropped, without touching the network.
Every key written (set, delete, incr) that did not reach it, or may still land late after a
timeout, is remembered as *dirty*. After ``retry_interval`` one caller tries it again: it first
deletes the dirty keys (or flushes the server, when it restarted meanwhile, when too many keys
piled up, or when a ``clear()`` was missed), and only when that succeeded is the server used
again. So a value that was current when the server went away but was changed meanwhile is
never read back after a network blip. Keys are never moved to another server (see _keys.Ring).
"""

from __future__ import annotations

import logging
import math
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import Any, Final, NamedTuple, TypeVar

from pymemcache.client.base import Client
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
)

from dalcore_memcached._codec import WARN_INTERVAL, JsonSerde
from dalcore_memcached._conn import (
    AuthenticationFailed,
    Connection,
    Credentials,
    Incarnation,
    Pool,
    ServerRestarted,
    authenticate,
    incarnation,
)
from dalcore_memcached._reply import get_command, read_values

log = logging.getLogger("dalcore.memcached")

T = TypeVar("T")

#: Log at most one "server down" warning per server per this many seconds.
DOWN_WARN_INTERVAL: Final = WARN_INTERVAL


class Options(NamedTuple):
    """Connection settings shared by every server of one cache (see docs/memcached.md)."""

    timeout: float = 0.5
    connect_timeout: float = 0.5
    max_pool_size: int | None = None
    pool_idle_timeout: int = 0
    retry_interval: float = 1.0
    max_dirty_keys: int = 10_000
    tls: ssl.SSLContext | None = None
    credentials: Credentials | None = None


class Unavailable(Exception):
    """Internal: the server could not do it; the caller degrades (never leaves this package)."""


def answered(exc: BaseException) -> bool:
    """True when the server itself replied with an error, so the connection is still sound.

    ``MemcacheUnexpectedCloseError`` subclasses ``MemcacheServerError`` but means the connection
    died, hence the first test.
    """
    if isinstance(exc, MemcacheUnexpectedCloseError):
        return False
    return isinstance(exc, MemcacheServerError | MemcacheClientError)


class Node:
    """A server and its state. Thread-safe; the fast path (server up) takes no lock."""

    def __init__(self, host: str, port: int, options: Options, serde: JsonSerde) -> None:
        self.name = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        self.options = options
        self._serde = serde
        self.client = Pool(
            (host, port),
            handshake=self._handshake,
            tls_context=options.tls,
            serde=serde,
            connect_timeout=options.connect_timeout,
            timeout=options.timeout,
            no_delay=True,
            max_pool_size=options.max_pool_size,
            pool_idle_timeout=options.pool_idle_timeout,
            # Every command waits for its reply unless it passes noreply itself (none does).
            default_noreply=False,
        )
        #: Read without the lock on every call; only written under it.
        self.up = True
        #: How often the server went down: a cas token from before a fall is refused, since a
        #: restarted server hands out cas uniques from scratch.
        self.falls = 0
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._recovering = False
        self._dirty: set[bytes] = set()
        self._flush = False
        self._down_since = 0.0
        self._last_warning = -math.inf
        self._suppressed = 0
        #: How many times this server was brought back (for tests and monitoring).
        self.recoveries = 0
        #: The server process our connections talk to, from the first handshake on.
        self._incarnation: Incarnation | None = None

    # -- new connections -----------------------------------------------------------------------

    def _handshake(self, conn: Connection) -> Incarnation:
        """Authenticate a new connection and learn which server process it reached.

        A new connection that reaches another process than before means the server restarted,
        maybe without any of our connections failing yet (a new connection opened by another
        thread, or after an idle close). It lost every hold marker the engine set, so it is
        handled like a restart seen at recovery: taken down, flushed before it is used again.
        """
        sock = conn.sock
        if self.options.credentials is not None:
            authenticate(sock, self.options.credentials, self.name)
        found = incarnation(sock, self.name)
        with self._lock:
            known, self._incarnation = self._incarnation, found
            if known is None or known == found:
                return found
            self._flush = True
            self._dirty.clear()
            if self._recovering:
                return found  # the recovery flushes it before marking it up
            if self.up:
                self.up = False
                self._down_since = time.monotonic()
            self._retry_at = time.monotonic() + self.options.retry_interval
        raise ServerRestarted(f"pid/start time {known} -> {found}")

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self, what: str, func: Callable[[], T], dirty: Collection[bytes] = (), strict: bool = False
    ) -> T:
        """Run ``func`` against this server; :class:`Unavailable` if it cannot.

        ``dirty`` are the keys this call writes: if it is skipped (server down) or fails on the
        way (it may still land after a timeout), the recovery deletes them before the server is
        read again. A ``strict`` call (an invalidation) also takes the server down when the
        server answered with an error or the pool was full, so that the recovery redoes it.
        """
        # defer() re-checks under the lock: False means the server came back meanwhile.
        if not self.up and not self._recover() and not (dirty and not self.defer(dirty)):
            raise Unavailable(self.name)
        try:
            return func()
        except Exception as exc:
            self._failed(what, exc, dirty, strict)
            raise Unavailable(self.name) from exc

    def _failed(
        self, what: str, exc: Exception, dirty: Collection[bytes] = (), strict: bool = False
    ) -> None:
        if isinstance(exc, RuntimeError):
            # pymemcache's pool refusing to grow past max_pool_size: nothing reached the server.
            if strict:
                self._went_down(what, exc, dirty)
            else:
                self._warn(f"{what}: connection pool full ({exc})")
        elif isinstance(exc, AuthenticationFailed):
            self._went_down(what, exc, dirty)
        elif answered(exc) and not strict:
            # A refused set is harmless: memcached unlinks the old item when a set fails.
            self._warn(f"{what}: the server refused it: {exc}")
        else:
            self._went_down(what, exc, dirty)

    # -- reads, in two halves ------------------------------------------------------------------

    def send_get(self, keys: list[bytes]) -> Client:
        """Send ``get`` for ``keys`` on a connection of the pool and return that connection,
        for :meth:`read_get`; :class:`Unavailable` if it cannot.

        Split in two so that a multi-key read sends to every server before it waits for any:
        the servers then work at the same time.
        """
        return self.call("get", partial(self._send, get_command(keys)))

    def _send(self, command: bytes) -> Client:
        pool = self.client.client_pool
        conn = pool.get()
        try:
            if conn.sock is None:
                conn._connect()
            conn.sock.sendall(command)
        except BaseException:
            pool.destroy(conn)  # closes it
            raise
        return conn

    def read_get(self, conn: Client) -> dict[bytes, Any]:
        """The values of the ``get`` sent on ``conn``; gives ``conn`` back to the pool (or
        closes it, when the reply went wrong)."""
        pool = self.client.client_pool
        try:
            values = read_values(conn.sock, self._serde.deserialize)
        except BaseException as exc:
            pool.destroy(conn)  # unread data may be left on it
            if not isinstance(exc, Exception):
                raise
            self._failed("get", exc)
            raise Unavailable(self.name) from exc
        pool.release(conn)
        return values

    def defer(self, keys: Iterable[bytes]) -> bool:
        """Remember ``keys`` for the recovery if the server is down; False when it is up."""
        with self._lock:
            if self.up:
                return False
            self._add_dirty(keys)
            return True

    def defer_flush(self) -> bool:
        """Have the recovery flush the server (a ``clear()`` it missed); False when it is up."""
        with self._lock:
            if self.up:
                return False
            self._flush = True
            self._dirty.clear()
            return True

    def _add_dirty(self, keys: Iterable[bytes]) -> None:
        # Caller holds the lock.
        if self._flush:
            return
        self._dirty.update(keys)
        if len(self._dirty) > self.options.max_dirty_keys:
            self._flush = True
            self._dirty.clear()

    def _went_down(self, what: str, exc: BaseException, dirty: Iterable[bytes]) -> None:
        with self._lock:
            self._add_dirty(dirty)
            self.falls += 1
            if self.up:
                self.up = False
                self._down_since = time.monotonic()
            self._retry_at = time.monotonic() + self.options.retry_interval
        self._warn(f"{what} failed ({type(exc).__name__}: {exc}); its keys are misses until back")

    # -- coming back ---------------------------------------------------------------------------

    def _recover(self) -> bool:
        """Try to bring the server back if it is time; True when it is usable now."""
        now = time.monotonic()
        with self._lock:
            if self.up:
                return True
            if self._recovering or now < self._retry_at:
                return False
            self._recovering = True
        try:
            cleaned = self._clean_until_settled()
        except Exception as exc:
            with self._lock:
                self._recovering = False
                self._retry_at = time.monotonic() + self.options.retry_interval
            self._warn(f"still unavailable ({type(exc).__name__}: {exc})")
            return False
        log.warning("memcached %s is back and used again (%s)", self.name, cleaned)
        return True

    def _clean_until_settled(self) -> str:
        """Invalidate what the server missed until nothing more arrives, then mark it up.

        A server that restarted since it went away is flushed: it holds only what was written
        since its restart, which may include a value filled by another client in the moment it
        came back empty (without the markers the engine set before). A server that merely was
        out of reach gets its dirty keys deleted, or a flush if too many piled up or a
        ``clear()`` was missed. Writers that find the server down keep adding dirty keys until
        the very moment it is marked up, under the same lock, so none is lost in between.
        """
        done: list[str] = []
        stats = self.client.stats()
        uptime = stats.get(b"uptime")
        if isinstance(uptime, int) and uptime <= time.monotonic() - self._down_since + 2:
            with self._lock:
                self._flush = True
            done.append(f"restarted {uptime}s ago")
        while True:
            with self._lock:
                flush, keys = self._flush, list(self._dirty)
                if not flush and not keys:
                    self.up = True
                    self._recovering = False
                    self.recoveries += 1
                    return ", ".join(done) or "it missed nothing"
                self._flush = False
                self._dirty.clear()
            try:
                if flush:
                    self.client.flush_all(noreply=False)
                    done.append("flushed")
                else:
                    self.client.delete_many(keys, noreply=False)
                    done.append(f"invalidated {len(keys)} keys")
            except Exception:
                with self._lock:
                    self._flush = self._flush or flush
                    self._add_dirty(keys)
                raise

    # -- logging -------------------------------------------------------------------------------

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_warning < DOWN_WARN_INTERVAL:
                self._suppressed += 1
                return
            self._last_warning = now
            suppressed, self._suppressed = self._suppressed, 0
        more = f" ({suppressed} similar messages suppressed)" if suppressed else ""
        log.warning("memcached %s: %s%s", self.name, message, more)

    def close(self) -> None:
        self.client.close()
