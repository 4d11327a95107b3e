"""The backend contract: the one module a backend author must read.

dalcore keeps objects in two kinds of backend:

* a **persistent store** (:class:`PersistentStore`): ordered keys (``str``) to values (``bytes``),
  each key carrying a *revision*, with atomic guarded transactions. It is the source of truth.
* a **volatile cache** (:class:`VolatileCache`): keys to JSON-compatible values with a TTL. It is
  allowed to lose anything at any moment; dalcore never relies on a cached value being there.

A backend is a class implementing one of these, plus a plugin that hands it out for a URL scheme
through the hooks in :mod:`dalcore.hookspecs`. Every backend must pass the conformance suite in
:mod:`dalcore.testing`; see ``docs/backends.md`` for a worked example.

Revisions
    Every successful write (a ``set``, a ``delete`` or a whole ``commit``) gets a revision number
    greater than that of every earlier write to the same store; each key it puts carries that
    number until it is written again. Revisions are positive ``int`` and only ever compared for
    equality by dalcore, so a backend may use any increasing counter (etcd's ``mod_revision``,
    an SQLite counter row, ...).

Keys
    Any non-empty ``str`` of valid Unicode (no lone surrogates) without NUL characters.
    Scans order keys by their UTF-8 bytes (which for ``str`` is code point order) so that every
    backend agrees on the order.

Errors
    Backends raise only the errors defined in :mod:`dalcore.errors`: :class:`KeyNotFoundError`,
    :class:`AssertionFailedError`, :class:`StoreUnavailableError` (with the endpoint and the
    client's exception as cause) and :class:`CorruptDataError`. A client exception must never leak
    out unwrapped.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final, NamedTuple

from dalcore._url import BackendURL
from dalcore.errors import (
    AssertionFailedError,
    CorruptDataError,
    KeyNotFoundError,
    StoreUnavailableError,
    UnsupportedError,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "NO_VALUE",
    "Absent",
    "AssertionFailedError",
    "BackendURL",
    "Check",
    "CorruptDataError",
    "Delete",
    "Entry",
    "Exists",
    "KeyNotFoundError",
    "NoValue",
    "Operation",
    "PersistentStore",
    "Put",
    "RevisionIs",
    "StoreLock",
    "StoreUnavailableError",
    "UnsupportedError",
    "ValueIs",
    "VolatileCache",
    "WatchEvent",
    "WatchHandle",
    "check_holds",
    "first_key_after_prefix",
]

#: How many entries a scan fetches per round trip unless told otherwise.
DEFAULT_PAGE_SIZE: Final = 500


class NoValue(enum.Enum):
    """Type of :data:`NO_VALUE`: what a cache returns for a miss (``None`` is a real value)."""

    NO_VALUE = "NO_VALUE"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = NoValue.NO_VALUE


class Entry(NamedTuple):
    """One stored key with its value and the revision of the write that put it there."""

    key: str
    value: bytes
    revision: int


# -- transactions -------------------------------------------------------------------------


class Put(NamedTuple):
    """Set ``key`` to ``value`` (creating it if absent)."""

    key: str
    value: bytes


class Delete(NamedTuple):
    """Remove ``key``; removing an absent key is not an error."""

    key: str


class ValueIs(NamedTuple):
    """Holds when ``key`` exists and its value equals ``value``."""

    key: str
    value: bytes


class RevisionIs(NamedTuple):
    """Holds when ``key`` exists and carries ``revision``."""

    key: str
    revision: int


class Exists(NamedTuple):
    """Holds when ``key`` exists."""

    key: str


class Absent(NamedTuple):
    """Holds when ``key`` does not exist."""

    key: str


Operation = Put | Delete
Check = ValueIs | RevisionIs | Exists | Absent


def first_key_after_prefix(prefix: str) -> str | None:
    """The smallest key greater than every key starting with ``prefix`` (None: no bound).

    Range-based stores (SQLite, etcd) scan a prefix as ``prefix <= key < bound``.
    """
    chars = prefix.rstrip("\U0010ffff")
    if not chars:
        return None
    following = ord(chars[-1]) + 1
    if following == 0xD800:  # skip the surrogates: no valid key contains one
        following = 0xE000
    return chars[:-1] + chr(following)


def check_holds(check: Check, stored: tuple[bytes, int] | None) -> bool:
    """Whether ``check`` holds for its key, whose ``(value, revision)`` is ``stored`` (None:
    the key is absent). For backends that evaluate checks themselves."""
    if isinstance(check, ValueIs):
        return stored is not None and stored[0] == check.value
    if isinstance(check, RevisionIs):
        return stored is not None and stored[1] == check.revision
    if isinstance(check, Exists):
        return stored is not None
    return stored is None


# -- optional capabilities ----------------------------------------------------------------


class WatchEvent(NamedTuple):
    """A change seen by a watch: ``value`` is None for a deletion."""

    key: str
    value: bytes | None
    revision: int


class WatchHandle(abc.ABC):
    """Returned by :meth:`PersistentStore.watch`; stops the notifications when cancelled."""

    #: True when every event reaches the callback before the commit that caused it returns
    #: (a store living in one process): :meth:`sync` then has nothing to wait for.
    synchronous: ClassVar[bool] = False

    @abc.abstractmethod
    def cancel(self) -> None: ...

    def sync(self, timeout: float) -> None:
        """Return once every change committed, by any client, before this call began has been
        handed to the callback (or was not under the watched prefix).

        This is the read barrier that keeps a per-process cache correct across processes: dalcore
        calls it before serving a cached object, list or query result, so its cost is paid on
        every cached read (SQLite: one ``PRAGMA data_version``; etcd: one round trip). Raise
        :class:`StoreUnavailableError` when it cannot be confirmed within ``timeout`` seconds.
        A store whose watch cannot do this leaves it unimplemented; dalcore then refuses a
        per-process cache in front of it (a shared cache still works).
        """
        raise UnsupportedError(type(self).__name__, "sync")


class StoreLock(abc.ABC):
    """A mutex held in the persistent store, released by itself when its holder dies.

    The TTL bounds how long a dead holder keeps it; a live holder keeps it as long as it needs
    (backends refresh it, e.g. with an etcd lease keep-alive, or document that they do not).
    """

    name: str
    #: How long ``with lock:`` waits before raising LockTimeoutError (None: until held).
    default_timeout: float | None = None

    @abc.abstractmethod
    def acquire(self, timeout: float | None = None) -> bool:
        """Wait at most ``timeout`` seconds (None: forever); True when the lock is now held."""

    @abc.abstractmethod
    def release(self) -> None:
        """Release the lock; releasing a lock that expired meanwhile is not an error."""

    def __enter__(self) -> StoreLock:
        from dalcore.errors import LockTimeoutError

        timeout = self.default_timeout
        if not self.acquire(timeout):
            raise LockTimeoutError(self.name, timeout or 0.0)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


# -- the persistent store -----------------------------------------------------------------


class PersistentStore(abc.ABC):
    """Ordered keys to bytes with revisions and atomic guarded transactions.

    A backend implements the four abstract methods; the rest have correct defaults built on them,
    which a backend overrides where it can do better (fewer round trips, atomic prefix deletes).
    Instances are used from several threads at once and must be safe for that.
    """

    #: Optional capabilities: ``"watch"`` (:meth:`watch`) and ``"lock"`` (:meth:`lock`).
    capabilities: ClassVar[frozenset[str]] = frozenset()

    #: Where the store lives, for messages (``sqlite:///var/lib/x.db``, ``etcd://h1:2379``).
    endpoint: str = "?"

    # The four methods every backend writes.

    @abc.abstractmethod
    def get(self, key: str) -> Entry:
        """The entry under ``key``; :class:`KeyNotFoundError` when there is none."""

    @abc.abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        """Entries for ``keys`` in the same order, None where a key is missing.

        One round trip where the backend allows; a key asked twice is answered twice.
        """

    @abc.abstractmethod
    def scan_page(
        self, prefix: str, start_after: str | None, limit: int, keys_only: bool = False
    ) -> list[Entry]:
        """Up to ``limit`` entries whose keys start with ``prefix``, in key order.

        Only keys strictly greater than ``start_after`` (when given) are returned. With
        ``keys_only`` the backend may leave ``value`` empty (``b""``) to save the transfer.
        """

    @abc.abstractmethod
    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        """Apply all ``operations`` atomically if every check holds, and return the revision.

        Checks are evaluated against the state before the operations. When one fails nothing is
        written and :class:`AssertionFailedError` is raised listing the failed checks. A key
        both put and deleted in one commit ends as the last operation on it says.
        """

    # Defaults built on the above.

    def scan(self, prefix: str = "", page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Entry]:
        """All entries under ``prefix`` in key order, fetched ``page_size`` at a time.

        Lazy: at most one page is held in memory. Keys written or deleted during the scan may
        or may not be seen; each key is yielded at most once.
        """
        after: str | None = None
        while True:
            page = self.scan_page(prefix, after, page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].key

    def keys(self, prefix: str = "", page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[str]:
        """All keys under ``prefix`` in order, like :meth:`scan` without the values."""
        after: str | None = None
        while True:
            page = self.scan_page(prefix, after, page_size, keys_only=True)
            for entry in page:
                yield entry.key
            if len(page) < page_size:
                return
            after = page[-1].key

    def set(self, key: str, value: bytes) -> int:
        """Store ``value`` under ``key``; returns the new revision."""
        return self.commit([Put(key, value)])

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        try:
            self.commit([Delete(key)], [Exists(key)])
        except AssertionFailedError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key under ``prefix``; returns how many were removed.

        The count is what this call removed as far as it can tell: two calls racing on the same
        prefix may both count a key.

        The default removes page by page (not atomically); backends that can remove a range in
        one transaction override it.
        """
        removed = 0
        while True:
            page = self.scan_page(prefix, None, DEFAULT_PAGE_SIZE, keys_only=True)
            if not page:
                return removed
            self.commit([Delete(entry.key) for entry in page])
            removed += len(page)

    def exists(self, key: str) -> bool:
        """True when ``key`` is stored."""
        return self.get_many([key])[0] is not None

    def watch(self, prefix: str, callback: Callable[[WatchEvent], None]) -> WatchHandle:
        """Call ``callback`` (on a backend thread) for every change under ``prefix``.

        Only for backends declaring the ``"watch"`` capability.
        """
        raise UnsupportedError(type(self).__name__, "watch")

    def lock(self, name: str, ttl: float) -> StoreLock:
        """A persistent mutex named ``name`` that a dead holder keeps at most ``ttl`` seconds.

        Only for backends declaring the ``"lock"`` capability.
        """
        raise UnsupportedError(type(self).__name__, "lock")

    def diagnose(self) -> dict[str, Any]:
        """Facts about the server for ``dalcore doctor`` (``server_version`` and settings that
        matter to dalcore); an empty dict when the backend has none. Never writes."""
        return {}

    def close(self) -> None:
        """Release connections and files; the store is not used afterwards."""

    def __enter__(self) -> PersistentStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint}>"


# -- the volatile cache -------------------------------------------------------------------

_CANNOT_COMPARE: Final = object()


class VolatileCache(abc.ABC):
    """Keys to JSON-compatible values with a time to live; may forget anything at any time.

    Values are what :func:`json.dumps` accepts (dict, list, str, int, float, bool, None). A cache
    that keeps values in process may hand back the very object it was given: callers never
    mutate a value after passing it to ``set`` or after getting it back. TTLs are seconds; None
    means no expiry (the entry may still be evicted). Backends may round a TTL up to their
    granularity (memcached: whole seconds). A cache that cannot reach its server behaves as if
    empty: misses on reads, dropped writes, ``add`` answering False — it never raises for that.
    """

    endpoint: str = "?"

    #: True when entries live in this process only, so other processes can neither see nor
    #: invalidate them. dalcore then keeps such a cache correct by subscribing to the
    #: persistent store's changes (its ``watch`` capability), where the store offers one.
    process_local: ClassVar[bool] = False

    @abc.abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[Any]:
        """Values for ``keys`` in the same order, :data:`NO_VALUE` where missing."""

    @abc.abstractmethod
    def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store every item with the same TTL."""

    @abc.abstractmethod
    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent, atomically across all clients.

        True when this call stored it. This is the primitive the volatile mutex rests on.
        """

    @abc.abstractmethod
    def delete_many(self, keys: Iterable[str]) -> None:
        """Forget ``keys``; absent keys are ignored. Must be acknowledged, not fire-and-forget."""

    @abc.abstractmethod
    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        """Add ``delta`` to the integer under ``key`` atomically and return the result.

        A missing key starts from 0 (and gets ``ttl``). When the cache is unreachable the
        answer is meaningless but an ``int``; callers only use it as a changing token.
        """

    @abc.abstractmethod
    def clear(self) -> None:
        """Forget everything this cache holds (for memcached: everything on its servers)."""

    def get(self, key: str) -> Any:
        """The value under ``key`` or :data:`NO_VALUE`."""
        return self.get_many([key])[0]

    def gets(self, key: str) -> tuple[Any, Any]:
        """The value under ``key`` (or :data:`NO_VALUE`) and a token for :meth:`cas`.

        The token is None when the key is absent; otherwise it is opaque to callers.
        """
        value = self.get(key)
        return value, (None if value is NO_VALUE else _CANNOT_COMPARE)

    def cas(self, key: str, value: Any, token: Any, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` still holds what :meth:`gets` saw when it gave
        ``token`` (token None: only if ``key`` is still absent, as :meth:`add`). Atomic across
        all clients; True when this call stored it.

        The engine replaces a hold marker with a freshly read object this way, so a save that
        holds the key again in between always wins. The default cannot compare and never
        replaces an existing entry: correct, but every read until the hold expires goes to the
        store. Backends override both methods (memcached ``gets``/``cas``, a version counter).
        """
        if token is None:
            return self.add(key, value, ttl)
        return False

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``."""
        self.set_many({key: value}, ttl)

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self.delete_many([key])

    def diagnose(self) -> dict[str, Any]:
        """Facts about the servers for ``dalcore doctor``: ``servers`` maps each server to a
        dict with ``up`` and, where it can tell, ``version`` and ``evictions``; an empty dict
        for an in-process cache."""
        return {}

    def close(self) -> None:
        """Release connections; the cache is not used afterwards."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint}>"
