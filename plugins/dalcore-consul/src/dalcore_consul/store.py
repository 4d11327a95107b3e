"""``consul://``: dalcore's persistent store on Consul's KV HTTP API.

Not run against a real agent on the machines dalcore is built on (no Consul can be installed
there); see the plugin README. Commits go through ``/v1/txn`` (checks as ``check-index``,
``check-not-exists`` and ``get`` verbs); watches are blocking queries on the watched subtree;
locks are Consul sessions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from dalcore.api import (
    AssertionFailedError,
    Check,
    Entry,
    KeyNotFoundError,
    Operation,
    PersistentStore,
    StoreLock,
    ValueIs,
    WatchEvent,
    WatchHandle,
)
from dalcore.errors import StoreUnavailableError
from dalcore_consul import _txn
from dalcore_consul._http import ConsulConfig, Http, kv_path, unavailable


class ConsulStore(PersistentStore):
    capabilities = frozenset({"watch", "lock"})

    def __init__(self, config: ConsulConfig) -> None:
        self.config = config
        self.endpoint = config.shown
        self._http = Http(config)
        self._prefix = config.prefix
        self._marker = config.prefix + _txn.MARKER

    # -- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> Entry:
        found = self.get_many([key])[0]
        if found is None:
            raise KeyNotFoundError(key)
        return found

    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        found: dict[str, Entry] = {}
        for start in range(0, len(keys), _txn.MAX_OPS):
            chunk = keys[start : start + _txn.MAX_OPS]
            # get-tree never fails the transaction for a missing key (get would); it also
            # returns keys below the one asked, which are dropped here.
            ops = [{"KV": {"Verb": "get-tree", "Key": self._prefix + key}} for key in chunk]
            status, _, body = self._http.request("PUT", "/v1/txn", body=ops)
            if status != 200:
                raise unavailable(self.config, status, body)
            wanted = {self._prefix + key for key in chunk}
            for result in body.get("Results") or []:
                kv = result["KV"]
                if kv["Key"] in wanted:
                    found[kv["Key"][len(self._prefix) :]] = _txn.entry(self._prefix, kv)
        return [found.get(key) for key in keys]

    def scan_page(
        self, prefix: str, start_after: str | None, limit: int, keys_only: bool = False
    ) -> list[Entry]:
        if limit <= 0:
            return []
        status, _, body = self._http.request("GET", kv_path(self._prefix + prefix), {"recurse": ""})
        if status == 404:
            return []
        if status != 200:
            raise unavailable(self.config, status, body)
        entries = [
            _txn.entry(self._prefix, kv)
            for kv in body
            if kv["Key"] != self._marker and kv["Key"].startswith(self._prefix + prefix)
        ]
        # Consul lists a subtree whole (it has no paging): page it here, in UTF-8 byte order.
        entries.sort(key=lambda entry: entry.key.encode())
        if start_after is not None:
            entries = [e for e in entries if e.key.encode() > start_after.encode()]
        return entries[:limit]

    # -- writes -------------------------------------------------------------------------------

    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        read: dict[str, int] = {}
        compared = [check for check in checks if isinstance(check, ValueIs)]
        if compared:
            # Consul has no value comparison: compare here, then have the txn check the
            # index that value was read at.
            current = self.get_many([check.key for check in compared])
            pairs = list(zip(compared, current, strict=True))
            failed = [c for c, e in pairs if e is None or e.value != c.value]
            if failed:
                raise AssertionFailedError(failed)
            read = {c.key: e.revision for c, e in pairs if e}
        ops, owners = _txn.payload(self._prefix, operations, checks, read)
        status, _, body = self._http.request("PUT", "/v1/txn", body=ops)
        result = _txn.outcome(status, body, owners, checks)
        if isinstance(result, int):
            return result
        if isinstance(result, list):
            raise AssertionFailedError(result)
        raise unavailable(self.config, status, body)

    # -- capabilities -------------------------------------------------------------------------

    def watch(self, prefix: str, callback: Callable[[WatchEvent], None]) -> WatchHandle:
        handle = BlockingWatch(self, prefix, callback)
        handle.start()
        return handle

    def lock(self, name: str, ttl: float) -> StoreLock:
        return SessionLock(self, name, ttl)

    def close(self) -> None:
        self._http.close()

    def read_tree(self, prefix: str, index: int, wait: float) -> tuple[int, Any]:
        """A (blocking, when ``index`` > 0) recursive read: the X-Consul-Index and the body."""
        query = {"recurse": ""}
        if index:
            query.update(index=str(index), wait=f"{max(1, int(wait))}s")
        status, headers, body = self._http.request(
            "GET", kv_path(self._prefix + prefix), query, timeout=wait + self.config.timeout
        )
        if status not in (200, 404):
            raise unavailable(self.config, status, body)
        return int(headers.get("X-Consul-Index", "0")), body if status == 200 else []

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        return self._http.request(method, path, **kwargs)


class BlockingWatch(WatchHandle):
    """Follows a subtree with blocking queries; each answer is diffed against the last."""

    def __init__(
        self, store: ConsulStore, prefix: str, callback: Callable[[WatchEvent], None]
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._full = store.config.prefix
        self._callback = callback
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._index = 0
        self._snapshot: dict[str, tuple[bytes, int]] = {}
        self._thread = threading.Thread(target=self._loop, name="dalcore-consul-watch", daemon=True)

    def start(self) -> None:
        self._index, body = self._store.read_tree(self._prefix, 0, 0)
        self._snapshot = _txn.snapshot(self._full, body)
        self._thread.start()

    def _loop(self) -> None:
        pause = 0.05
        while not self._stop.is_set():
            try:
                index, body = self._store.read_tree(self._prefix, self._index, 5.0)
            except StoreUnavailableError:
                self._stop.wait(pause)
                pause = min(pause * 2, 1.0)
                continue
            pause = 0.05
            if index < self._index:
                index = 0  # Consul says: an index going back means start over from scratch
            after = _txn.snapshot(self._full, body)
            for event in _txn.changes(self._full, self._snapshot, after, index):
                if not self._stop.is_set():
                    self._callback(event)
            self._snapshot = after
            with self._progress:
                self._index = max(index, 1)
                self._progress.notify_all()

    def sync(self, timeout: float) -> None:
        # A consistent read of the subtree gives the index every earlier change is at or under.
        status, headers, body = self._store.request(
            "GET",
            kv_path(self._full + self._prefix),
            query={"recurse": "", "keys": "", "consistent": ""},
        )
        if status not in (200, 404):
            raise unavailable(self._store.config, status, body)
        wanted = int(headers.get("X-Consul-Index", "0"))
        with self._progress:
            if not self._progress.wait_for(lambda: self._index >= wanted, timeout):
                raise StoreUnavailableError(
                    self._store.endpoint, f"the watch did not reach index {wanted} in {timeout:g}s"
                )

    def cancel(self) -> None:
        self._stop.set()


class SessionLock(StoreLock):
    """A Consul session (TTL, deleted with its holder) acquiring a KV key, renewed by a thread."""

    def __init__(self, store: ConsulStore, name: str, ttl: float) -> None:
        self.name = name
        self._store = store
        self._key = kv_path(store.config.prefix + ".locks/" + name)
        self._ttl = max(10, int(ttl))  # Consul's smallest session TTL is 10 s
        self._session: str | None = None
        self._stop = threading.Event()

    def acquire(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        status, _, body = self._store.request(
            "PUT",
            "/v1/session/create",
            body={"TTL": f"{self._ttl}s", "Behavior": "delete", "LockDelay": "0s"},
        )
        if status != 200:
            raise unavailable(self._store.config, status, body)
        session = body["ID"]
        pause = 0.01
        while True:
            status, _, body = self._store.request("PUT", self._key, query={"acquire": session})
            if status == 200 and body is True:
                self._session = session
                self._stop = threading.Event()
                threading.Thread(
                    target=self._renew, args=(session, self._stop), daemon=True
                ).start()
                return True
            if deadline is not None and time.monotonic() >= deadline:
                self._store.request("PUT", f"/v1/session/destroy/{session}")
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _renew(self, session: str, stop: threading.Event) -> None:
        while not stop.wait(self._ttl / 3):
            try:
                self._store.request("PUT", f"/v1/session/renew/{session}")
            except StoreUnavailableError:
                continue

    def release(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        self._stop.set()
        self._store.request("PUT", self._key, query={"release": session})
        self._store.request("PUT", f"/v1/session/destroy/{session}")
